//! `POST /admin/accounts/batch`: the web chat initiative's accounts in bulk. The body is read as
//! it arrives (NDJSON: memory bounded by one batch, whatever the request's size), checked line
//! by line (a bad line is a counted reject, nothing else changes), written
//! [`BATCH`] accounts a statement, each batch with its audit record in one transaction.

use super::admin::valid_name;
use crate::audit::audited;
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::views::errors::{BodyErrors, Errors};
use crate::views::import::{ImportBody, ImportLine, ImportReject, ImportRequest};
use actix_web::{web, HttpRequest};
use futures::StreamExt;
use migrator_core::ids::ShopperId;
use migrator_store::queries::destination::account_import::{
    import_batch, ImportCounts, NewAccountRow,
};
use scoped_futures::ScopedFutureExt;
use serde_json::json;

/// Accounts written per statement (and per audit record).
pub const BATCH: usize = 5_000;
/// The longest NDJSON line read (an account is ~100 bytes).
const MAX_LINE: usize = 4_096;
/// Rejects listed in the answer (all are counted).
const MAX_LISTED: usize = 100;

/// What one request has done so far.
struct Import {
    received: u64,
    counts: ImportCounts,
    rejected: u64,
    rejects: Vec<ImportReject>,
    batch: Vec<NewAccountRow>,
    batches: u64,
}

impl Import {
    fn new() -> Self {
        Self {
            received: 0,
            counts: ImportCounts::default(),
            rejected: 0,
            rejects: Vec::new(),
            batch: Vec::with_capacity(BATCH),
            batches: 0,
        }
    }

    fn reject(&mut self, line: u64, error: &str, message: String) {
        self.rejected += 1;
        if self.rejects.len() < MAX_LISTED {
            self.rejects.push(ImportReject {
                line,
                error: error.into(),
                message,
            });
        }
    }

    /// One line (item): checked, then queued for the next batch.
    fn take(&mut self, value: Result<serde_json::Value, String>) {
        self.received += 1;
        let line = self.received;
        let parsed =
            value.and_then(|v| serde_json::from_value::<ImportLine>(v).map_err(|e| e.to_string()));
        let l = match parsed {
            Ok(l) => l,
            Err(e) => return self.reject(line, "invalid_json", e),
        };
        let shopper_id = match ShopperId::parse(&l.shopper_id) {
            Ok(s) => s,
            Err(e) => return self.reject(line, "invalid_shopper_id", e.to_string()),
        };
        if !valid_name(&l.name) {
            return self.reject(line, "invalid_name", "name must be 1-256 characters".into());
        }
        self.batch.push(NewAccountRow {
            shopper_id,
            name: l.name,
        });
    }

    /// Writes the queued accounts (and their audit record), if any.
    async fn flush(&mut self, st: &AppState, who: &AdminUser) -> ApiResult<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.batch);
        self.batches += 1;
        let (first, last) = (
            rows[0].shopper_id.to_string(),
            rows[rows.len() - 1].shopper_id.to_string(),
        );
        let batch = self.batches;
        let counts = audited(
            st,
            who,
            "import_accounts",
            "accounts",
            |c| async move { import_batch(c, &rows).await }.scope_boxed(),
            |n| {
                json!({"batch": batch, "created": n.created, "existing": n.existing,
                       "first": first, "last": last})
            },
        )
        .await?;
        self.counts += counts;
        self.batch = Vec::with_capacity(BATCH);
        Ok(())
    }

    fn body(self) -> ImportBody {
        ImportBody {
            received: self.received,
            created: self.counts.created,
            existing: self.counts.existing,
            rejected: self.rejected,
            rejects: self.rejects,
        }
    }
}

fn too_many(max: usize) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_accounts",
        format!("an import takes at most {max} accounts a request (api.import_max_accounts): send the rest in another"),
    )
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("an import body is at most {max} bytes (api.import_max_bytes)"),
    )
}

/// Creates accounts in bulk, idempotent on `shopper_id`: each account that does not exist is
/// created with its default brand and web chat channel (what `POST /admin/accounts` makes);
/// one that exists is counted and left alone. `application/x-ndjson`: one `{"shopper_id",
/// "name"}` a line, read as it arrives; `application/json`: `{"accounts": [...]}`. A bad line
/// is refused alone (counted, the first 100 listed); at most `api.import_max_accounts` lines
/// and `api.import_max_bytes` bytes a request (413 past either: what came before is
/// written). Written 5,000 a transaction, each with its audit record.
#[utoipa::path(post, path = "/admin/accounts/batch", tag = "admin", security(("bearer" = [])),
    request_body(content(
        (ImportRequest = "application/json"),
        (ImportLine = "application/x-ndjson")
    )),
    responses((status = 200, description = "what the import did", body = ImportBody), Errors,
        BodyErrors))]
pub async fn import_accounts(
    st: web::Data<AppState>,
    who: AdminUser,
    req: HttpRequest,
    mut payload: web::Payload,
) -> ApiResult<web::Json<ImportBody>> {
    let (max_accounts, max_bytes) = (
        st.settings.api.import_max_accounts,
        st.settings.api.import_max_bytes,
    );
    let kind = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let ndjson = match kind.as_str() {
        "application/x-ndjson" | "application/jsonl" | "application/json-seq" => true,
        "application/json" => false,
        _ => {
            return Err(ApiError::new(
                actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send application/x-ndjson (one account a line) or application/json",
            ))
        }
    };
    let mut import = Import::new();
    let mut read = 0usize;
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        read += chunk.len();
        if read > max_bytes {
            import.flush(&st, &who).await?;
            return Err(too_large(max_bytes));
        }
        pending.extend_from_slice(&chunk);
        if !ndjson {
            continue;
        }
        drain_lines(&mut import, &mut pending, max_accounts, &st, &who).await?;
        if pending.len() > MAX_LINE {
            import.received += 1;
            let line = import.received;
            import.reject(
                line,
                "line_too_long",
                format!("a line is at most {MAX_LINE} bytes"),
            );
            // the rest of the over-long line is skipped up to its end
            pending.clear();
            skip_to_newline(&mut payload, &mut pending, &mut read, max_bytes).await?;
            drain_lines(&mut import, &mut pending, max_accounts, &st, &who).await?;
        }
    }
    if ndjson {
        if !pending.is_empty() {
            take_line(&mut import, &pending, max_accounts, &st, &who).await?;
        }
    } else {
        let body: ImportRequest = serde_json::from_slice(&pending)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
        if body.accounts.len() > max_accounts {
            return Err(too_many(max_accounts));
        }
        for item in body.accounts {
            import.take(Ok(item));
            if import.batch.len() >= BATCH {
                import.flush(&st, &who).await?;
            }
        }
    }
    import.flush(&st, &who).await?;
    if import.received == 0 {
        return Err(ApiError::bad_request(
            "no_accounts",
            "the body holds no account",
        ));
    }
    Ok(web::Json(import.body()))
}

/// Takes every complete line of `pending`, leaving what follows the last newline.
async fn drain_lines(
    import: &mut Import,
    pending: &mut Vec<u8>,
    max_accounts: usize,
    st: &AppState,
    who: &AdminUser,
) -> ApiResult<()> {
    let Some(last) = pending.iter().rposition(|b| *b == b'\n') else {
        return Ok(());
    };
    let complete: Vec<u8> = pending.drain(..=last).collect();
    for line in complete.split(|b| *b == b'\n') {
        take_line(import, line, max_accounts, st, who).await?;
    }
    Ok(())
}

/// One NDJSON line (blank lines are skipped, not counted).
async fn take_line(
    import: &mut Import,
    line: &[u8],
    max_accounts: usize,
    st: &AppState,
    who: &AdminUser,
) -> ApiResult<()> {
    let text = line.trim_ascii();
    if text.is_empty() {
        return Ok(());
    }
    if import.received as usize >= max_accounts {
        import.flush(st, who).await?;
        return Err(too_many(max_accounts));
    }
    if line.len() > MAX_LINE {
        import.received += 1;
        let n = import.received;
        import.reject(
            n,
            "line_too_long",
            format!("a line is at most {MAX_LINE} bytes"),
        );
        return Ok(());
    }
    import.take(serde_json::from_slice(text).map_err(|e| e.to_string()));
    if import.batch.len() >= BATCH {
        import.flush(st, who).await?;
    }
    Ok(())
}

/// Reads and drops the rest of an over-long line; keeps what follows its newline.
async fn skip_to_newline(
    payload: &mut web::Payload,
    pending: &mut Vec<u8>,
    read: &mut usize,
    max_bytes: usize,
) -> ApiResult<()> {
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        *read += chunk.len();
        if *read > max_bytes {
            return Err(too_large(max_bytes));
        }
        if let Some(end) = chunk.iter().position(|b| *b == b'\n') {
            pending.extend_from_slice(&chunk[end + 1..]);
            return Ok(());
        }
    }
    Ok(())
}
