//! What the handlers share: a pooled connection, and the parameters of a request checked
//! (pagination, shopper ids, path ids), each refused with its own 400.

use crate::error::ApiError;
use crate::state::AppState;
use migrator_store::{self as db, DbConn};

/// A pooled connection or a 503.
pub async fn conn(st: &AppState) -> Result<DbConn, ApiError> {
    Ok(db::conn(&st.pool).await?)
}

/// Pagination from the query string, checked: page >= 1, 1 <= per_page <= max.
pub fn paging(
    page: Option<i64>,
    per_page: Option<i64>,
    default: i64,
    max: i64,
) -> Result<(i64, i64), ApiError> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(default);
    if !(1..=1_000_000).contains(&page) {
        return Err(ApiError::bad_request(
            "invalid_page",
            "page must be between 1 and 1000000",
        ));
    }
    if !(1..=max).contains(&per_page) {
        return Err(ApiError::bad_request(
            "invalid_per_page",
            format!("per_page must be between 1 and {max}"),
        ));
    }
    Ok((page, per_page))
}

/// Parses a shopper id from a path, or 400.
pub fn shopper(path: &str) -> Result<migrator_core::ids::ShopperId, ApiError> {
    migrator_core::ids::ShopperId::parse(path)
        .map_err(|e| ApiError::bad_request("invalid_shopper_id", e.to_string()))
}

/// Parses a path id of the type the route names, or 400.
pub fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request("invalid_id", "the id is not a valid identifier"))
}
