//! W3C trace context across hops: the `traceparent` of the span that records a hop travels
//! with it (in the hop and as an AMQP header), and the worker's span for that hop continues the
//! same trace — so a C1's trace runs from `POST /migrate` through every hop. Only while spans
//! are exported (`telemetry.otlp_endpoint`); otherwise there is no context and nothing travels.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header's name.
pub const HEADER: &str = "traceparent";

/// The current span's `traceparent`, when it has a valid context.
pub fn current() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove(HEADER).filter(|v| valid(v))
}

/// Whether `v` is a version-00 `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`, lowercase
/// (anything else that came from a queue is ignored).
pub fn valid(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
}

/// Makes `span` continue the trace of `traceparent` (a valid one; others are ignored).
pub fn follow(span: &tracing::Span, traceparent: &str) {
    if !valid(traceparent) {
        return;
    }
    let carrier = HashMap::from([(HEADER.to_string(), traceparent.to_string())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(cx);
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn only_version_00_contexts_are_read() {
        assert!(valid(PARENT));
        for bad in [
            "",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        ] {
            assert!(!valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_hop_that_follows_its_parent_records_the_next_in_the_same_trace() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let subscriber = tracing_subscriber::Registry::default().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let hop = tracing::info_span!("hop");
            follow(&hop, PARENT);
            let next = hop
                .in_scope(current)
                .expect("a context while spans are recorded");
            assert!(
                next.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
                "{next}"
            );
            assert!(
                !next.contains("b7ad6b7169203331"),
                "its own span id: {next}"
            );
            // a hop that came with garbage starts a trace of its own
            let other = tracing::info_span!("hop");
            follow(&other, "00-zz");
            let own = other.in_scope(current).unwrap();
            assert!(!own.contains("0af7651916cd43dd8448eb211c80319c"));
        });
        // without a tracing layer there is no context, and nothing travels
        assert_eq!(current(), None);
    }
}
