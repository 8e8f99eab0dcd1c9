//! Request ids: an incoming `X-Request-Id` that a caller or a proxy set is kept (1 to 64
//! characters of `A-Z a-z 0-9 . _ : -`, anything else is ignored and replaced), so one id
//! follows a request from the edge through our logs and back; otherwise the id
//! tracing-actix-web generates. Either is the span's `request_id` and the answer's
//! `X-Request-Id`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

/// The longest id kept.
pub const MAX_LEN: usize = 64;

/// Whether `id` is kept as it came.
pub fn valid(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b))
}

/// The request's id: the caller's when valid, else the generated one.
pub fn of(req: &ServiceRequest) -> Option<String> {
    let incoming = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid(v));
    match incoming {
        Some(id) => Some(id.to_string()),
        None => req.extensions().get::<RequestId>().map(|r| r.to_string()),
    }
}

/// tracing-actix-web's spans, with the request id of [`of`].
pub struct Spans;

impl RootSpanBuilder for Spans {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let span = tracing_actix_web::root_span!(request);
        if let Some(id) = of(request) {
            span.record("request_id", id.as_str());
        }
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(valid("req-42"));
        assert!(valid("0af7651916cd43dd8448eb211c80319c"));
        assert!(valid(&"a".repeat(64)));
        for bad in ["", " ", "a b", "x\r\ny", "<script>", &"a".repeat(65), "é"] {
            assert!(!valid(bad), "{bad:?}");
        }
    }
}
