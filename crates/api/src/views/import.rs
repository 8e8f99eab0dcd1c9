//! `POST /admin/accounts/batch`: accounts in bulk (the web chat initiative's two million), one
//! per line of NDJSON (`application/x-ndjson`, streamed) or as `{"accounts": [...]}`
//! (`application/json`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One account of an import: what `POST /admin/accounts` takes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportLine {
    /// The C1's shopper id (1–64 of `A-Za-z0-9_-`).
    pub shopper_id: String,
    /// 1 to 256 characters, not only spaces, no NUL.
    #[schema(min_length = 1, max_length = 256)]
    pub name: String,
}

/// The JSON form of an import (the NDJSON form sends one [`ImportLine`] a line).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// 1 to `api.import_max_accounts` (100,000) accounts, each an [`ImportLine`].
    #[schema(min_items = 1, max_items = 100000)]
    pub accounts: Vec<serde_json::Value>,
}

/// A line (or array item) refused: nothing of it was written.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReject {
    /// 1-based line (NDJSON) or item (JSON) number.
    pub line: u64,
    /// `invalid_json`, `invalid_shopper_id`, `invalid_name`, `line_too_long`.
    pub error: String,
    pub message: String,
}

/// What an import did. Accounts that existed are counted, never changed: the same file sent
/// twice creates nothing the second time.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportBody {
    /// Lines (items) read.
    pub received: u64,
    /// Accounts created, each with its default brand and web chat channel.
    pub created: u64,
    /// Accounts that existed already (by shopper id), left as they are.
    pub existing: u64,
    /// Lines refused (the first 100 are listed in `rejects`).
    pub rejected: u64,
    pub rejects: Vec<ImportReject>,
}
