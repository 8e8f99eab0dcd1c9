//! HTTP metrics, recorded through the `metrics` facade (names in core's `metrics`): requests by
//! route template, method and status, and their latency. Labels are bounded: the route is the
//! template (`/conversations/{id}/messages`, `unmatched` for any other path), the method one of
//! the standard ones or `OTHER`.

use actix_web::dev::ServiceResponse;
use migrator_core::metrics::{HTTP_DURATION, HTTP_REQUESTS};
use std::time::Instant;

const KNOWN: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The labels of an answered request, bounded.
pub fn labels_of<B>(res: &ServiceResponse<B>) -> (String, &'static str) {
    let req = res.request();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str();
    let method = KNOWN
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("OTHER");
    (route, method)
}

/// Records one answered request.
pub fn record<B>(route: String, method: &'static str, started: Instant, res: &ServiceResponse<B>) {
    let status = res.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
}
