//! The JSON bodies of the API, typed: what the handlers answer and what the OpenAPI document
//! says they answer are the same structs. Built from core's rows here and nowhere else.

pub mod admin;
pub mod app;
pub mod campaigns;
pub mod errors;
pub mod fleet;
pub mod history;
pub mod history_series;
pub mod import;
pub mod verify;

use chrono::{DateTime, SecondsFormat, Utc};
use migrator_store::queries::page::Page;
use serde::Serialize;
use utoipa::ToSchema;

pub use errors::ErrorBody;

/// RFC 3339 UTC with milliseconds.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A page of a list: where it is, how many there are in all, and where the next page starts.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageInfo {
    /// The 1-based page asked for (0 when the page was asked for by `after` alone).
    pub page: i64,
    /// Items per page.
    pub per_page: i64,
    /// Items in all: exact when `total_exact`, else a lower bound (counting stops at 1,000).
    pub total_count: i64,
    /// Whether `total_count` is exact.
    pub total_exact: bool,
    /// The cursor of the next page, to send back as `after` (null after the last page). Any
    /// page reached by cursor costs what the first does.
    pub next: Option<String>,
}

impl PageInfo {
    /// The paging of `page`, asked for as `asked`.
    pub fn of<T>(asked: &crate::routes::shared::Paging, page: &Page<T>) -> Self {
        Self {
            page: asked.page,
            per_page: asked.per_page,
            total_count: page.total.n,
            total_exact: page.total.exact,
            next: page.next.clone(),
        }
    }
}
