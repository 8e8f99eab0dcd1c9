//! One tracing subscriber per process: `RUST_LOG` filters; JSON lines on stderr when it is not
//! a terminal (a container, a log shipper), human text on a terminal; `LOG_FORMAT=json|text`
//! decides otherwise. With `telemetry.otlp_endpoint` set, spans are also exported over OTLP
//! (HTTP/protobuf) to a collector, those `telemetry.otlp_filter` keeps, sampled at
//! `telemetry.otlp_sample_ratio`; off by default.

use crate::settings::TelemetrySettings;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use std::io::IsTerminal;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The process's telemetry; [`Telemetry::shutdown`] flushes spans not yet exported.
#[derive(Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is buffered (bounded by the exporter's timeout) and stops exporting.
    pub fn shutdown(self) {
        if let Some(p) = self.provider {
            if let Err(e) = p.shutdown() {
                tracing::warn!(error = %e, "trace export did not flush");
            }
        }
    }
}

/// Logs only (tests, tools); a second call is a no-op.
pub fn init(default_filter: &str) {
    let _ = Registry::default()
        .with(log_layer().with_filter(filter(default_filter)))
        .try_init();
}

/// Logs, and spans to the OTLP collector when one is configured. `service` names the process
/// (`migrator-api`, `migrator-worker`) in the traces.
pub fn init_with(
    default_filter: &str,
    service: &'static str,
    t: &TelemetrySettings,
) -> migrator_core::CoreResult<Telemetry> {
    let endpoint = t.otlp_endpoint.trim();
    if endpoint.is_empty() {
        init(default_filter);
        return Ok(Telemetry::default());
    }
    // reqwest's blocking client owns a runtime: it is built (and, in the SDK's batch thread,
    // dropped) outside the async runtime, never inside it
    let (url, timeout) = (
        endpoint.to_string(),
        Duration::from_millis(t.otlp_timeout_ms),
    );
    let exporter = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| invalid(&e))?;
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_endpoint(url)
            .with_timeout(timeout)
            .build()
            .map_err(|e| invalid(&e))
    })
    .join()
    .map_err(|_| invalid(&"the exporter could not be built"))??;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            t.otlp_sample_ratio.clamp(0.0, 1.0),
        ))))
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service)
                .build(),
        )
        .build();
    let tracer = provider.tracer(service);
    // spans are filtered on their own (`telemetry.otlp_filter`), whatever `RUST_LOG` keeps
    let spans = EnvFilter::try_new(&t.otlp_filter).map_err(|e| invalid(&e))?;
    let _ = Registry::default()
        .with(log_layer().with_filter(filter(default_filter)))
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(spans),
        )
        .try_init();
    tracing::info!(endpoint, "exporting traces over OTLP");
    Ok(Telemetry {
        provider: Some(provider),
    })
}

fn invalid(e: &dyn std::fmt::Display) -> migrator_core::CoreError {
    migrator_core::CoreError::Invalid(format!("telemetry.otlp_endpoint: {e}"))
}

fn filter(default_filter: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter))
}

fn log_layer<S>() -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let json = match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    if json {
        fmt.json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed()
    } else {
        fmt.boxed()
    }
}
