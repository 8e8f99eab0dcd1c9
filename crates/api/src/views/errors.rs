//! The error body and the sets of error answers the handlers declare in the OpenAPI document
//! (`responses(..., Errors)`): every error is `{"error", "message"}` ([`crate::error`] builds
//! them).

use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// Every error: `{"error": "<machine_code>", "message": "<human text>"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code (`unauthorized`, `not_found`, `invalid_json`, …).
    pub error: String,
    /// Human text.
    pub message: String,
}

/// Errors every authenticated endpoint may answer.
#[derive(IntoResponses)]
pub enum Errors {
    /// Bad input: malformed ids, query or body.
    #[response(status = 400, description = "bad input")]
    BadRequest(ErrorBody),
    /// The token is missing, malformed, badly signed or expired.
    #[response(status = 401, description = "the bearer token was refused")]
    Unauthorized(ErrorBody),
    /// An app token on an operator endpoint.
    #[response(status = 403, description = "an operator token is needed")]
    Forbidden(ErrorBody),
    /// Not found (or another account's).
    #[response(status = 404, description = "not found")]
    NotFound(ErrorBody),
    /// A C1 over its request budget (app endpoints: `api.app_requests_per_sec`,
    /// `api.app_writes_per_min`).
    #[response(status = 429, description = "too many requests for this account",
        headers(("Retry-After" = u64, description = "seconds to wait")))]
    TooMany(ErrorBody),
    /// The database is unavailable.
    #[response(status = 503, description = "retry shortly")]
    Unavailable(ErrorBody),
}

/// Errors of endpoints that take a JSON body.
#[derive(IntoResponses)]
pub enum BodyErrors {
    /// The body is larger than `api.max_body_bytes`.
    #[response(status = 413, description = "body too large")]
    TooLarge(ErrorBody),
    /// The body is not `application/json`.
    #[response(status = 415, description = "not JSON")]
    NotJson(ErrorBody),
}

/// Conflicts with the state in force.
#[derive(IntoResponses)]
pub enum Conflict {
    /// The state in force does not allow it (already exists, nothing to retry, moved on).
    #[response(status = 409, description = "conflicts with the state in force")]
    Conflict(ErrorBody),
}
