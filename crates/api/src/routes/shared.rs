//! What the handlers share: a pooled connection, and the parameters of a request checked
//! (pagination, shopper ids, path ids), each refused with its own 400.

use crate::error::ApiError;
use crate::state::AppState;
use migrator_store::queries::page::{self, Start};
use migrator_store::{self as db, DbConn};

/// A pooled connection or a 503.
pub async fn conn(st: &AppState) -> Result<DbConn, ApiError> {
    Ok(db::conn(&st.pool).await?)
}

/// A page asked for: the page number echoed back, its size, and where it starts.
#[derive(Debug, Clone)]
pub struct Paging {
    /// The 1-based page asked for, 0 when asked by cursor alone.
    pub page: i64,
    /// Items per page.
    pub per_page: i64,
    /// Where the page starts.
    pub start: Start,
}

/// How deep `page` may reach (past it, the list's `next` cursor, `after`): an operator's list
/// [`page::MAX_OFFSET`] rows, the app's inbox [`APP_MAX_OFFSET`] (one token with a large
/// account cannot walk deep offsets at the per-C1 rate on every replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// At most [`page::MAX_OFFSET`] rows.
    Bounded,
    /// At most [`APP_MAX_OFFSET`] rows: the app's inbox (200 pages of 50).
    App,
}

/// The deepest row the app's `page` reaches; past it, `after`.
pub const APP_MAX_OFFSET: i64 = 10_000;

/// Pagination from the query string, checked, for a list walked in `order`: `page` is 1 to
/// 1,000,000 (and within `depth`; past it, `after`); `per_page` 1 to `max`; `after` a cursor
/// this list gave (a cursor wins over `page`). Each refusal is its own 400: `invalid_page`,
/// `invalid_per_page`, `invalid_cursor`.
pub fn paging(
    page: Option<i64>,
    per_page: Option<i64>,
    after: Option<&str>,
    (default, max, depth): (i64, i64, Depth),
    order: &str,
) -> Result<Paging, ApiError> {
    let per_page = per_page.unwrap_or(default);
    if page.is_some_and(|p| !(1..=1_000_000).contains(&p)) {
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
    let max_offset = match depth {
        Depth::Bounded => page::MAX_OFFSET,
        Depth::App => APP_MAX_OFFSET,
    };
    let start = Start::of(page, after, per_page, order, max_offset).map_err(|e| {
        let code = if after.is_some() {
            "invalid_cursor"
        } else {
            "invalid_page"
        };
        ApiError::bad_request(code, e.to_string())
    })?;
    let echoed = page.unwrap_or(if after.is_some() { 0 } else { 1 });
    Ok(Paging {
        page: echoed,
        per_page,
        start,
    })
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
