//! The JSON bodies of the API, typed: what the handlers answer and what the OpenAPI document
//! says they answer are the same structs. Built from core's rows here and nowhere else.

pub mod admin;
pub mod app;
pub mod errors;
pub mod fleet;
pub mod verify;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub use errors::ErrorBody;

/// RFC 3339 UTC with milliseconds.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A page of a list: where it is and how many there are in all.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageInfo {
    /// 1-based page.
    pub page: i64,
    /// Items per page.
    pub per_page: i64,
    /// Items in all.
    pub total_count: i64,
}

impl PageInfo {
    /// Page `page` of `per_page` items, of `total_count` in all.
    pub fn new(page: i64, per_page: i64, total_count: i64) -> Self {
        Self {
            page,
            per_page,
            total_count,
        }
    }
}
