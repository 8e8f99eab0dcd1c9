//! Attachment rows: written with their messages (pending, or failed when the source entry is
//! unusable), then settled by the download (stored, or failed with a reason).

use crate::queries::page::{self, Key, Page, Start, Total};
use crate::schema::attachments;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::ids::{AccountId, AttachmentId, MessageId, RunId};
use migrator_core::source::SourceMessage;
use migrator_core::status::{MigrationStatus, ALL_STATUSES};
use migrator_core::text::{exact, ExactText};

/// Writes the attachment rows of freshly inserted messages; returns the downloads to start and
/// how many entries failed on arrival (malformed in the source).
pub async fn insert_for(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    run_id: RunId,
    messages: &[(MessageId, &SourceMessage)],
) -> CoreResult<(Vec<Due>, i32)> {
    let (mut pending, mut failed) = (Vec::new(), 0);
    let mut rows = Vec::new();
    for (message_id, m) in messages {
        for (pos, a) in m.attachments.iter().enumerate() {
            let id = AttachmentId::new();
            let status = match (&a.defect, &a.media_url) {
                (None, Some(url)) => {
                    pending.push(Due {
                        id,
                        account_id,
                        run_id: Some(run_id),
                        media_url: url.as_str().into(),
                        attempts: 0,
                        refusals: 0,
                        size_bytes: a.size_bytes,
                    });
                    "pending"
                }
                _ => {
                    failed += 1;
                    "failed"
                }
            };
            rows.push((
                attachments::id.eq(id),
                attachments::account_id.eq(account_id),
                attachments::run_id.eq(Some(run_id)),
                attachments::message_id.eq(*message_id),
                attachments::position.eq(pos as i32),
                attachments::media_url.eq(exact(a.media_url.as_deref())),
                attachments::file_name.eq(exact(a.file_name.as_deref())),
                attachments::content_type.eq(exact(a.content_type.as_deref())),
                attachments::size_bytes.eq(a.size_bytes),
                attachments::status.eq(status),
                attachments::failure_reason.eq(a.defect.clone()),
                attachments::failure.eq(a.defect.as_ref().map(|_| "malformed")),
            ));
        }
    }
    // 12 parameters a row: chunks stay far below Postgres's 65,535 bind parameters
    for chunk in rows.chunks(2000) {
        diesel::insert_into(attachments::table)
            .values(chunk)
            .on_conflict((attachments::message_id, attachments::position))
            .do_nothing()
            .execute(conn)
            .await?;
    }
    Ok((pending, failed))
}

/// A pending attachment whose download is due.
#[derive(Debug, Clone, Queryable)]
pub struct Due {
    /// The attachment.
    pub id: AttachmentId,
    /// Its account.
    pub account_id: AccountId,
    /// The run that wrote it (figures).
    pub run_id: Option<RunId>,
    /// Where to fetch it.
    pub media_url: ExactText,
    /// Downloads tried so far.
    pub attempts: i32,
    /// Refusals of our cert JWT counted against it so far (systemic ones are not counted).
    pub refusals: i32,
    /// The size the source declared (a larger one is refused before any byte is fetched).
    pub size_bytes: Option<i64>,
}

/// Pending attachments of the account whose download is due now (never tried, or past their
/// next-attempt time), up to `limit`.
pub async fn due_of_account(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    limit: i64,
) -> CoreResult<Vec<Due>> {
    Ok(due_query()
        .filter(attachments::account_id.eq(account_id))
        .limit(limit)
        .load(conn)
        .await?)
}

/// Pending attachments, of accounts whose migration is over, whose download is due now: what
/// the sweeper retries. Oldest due first, up to `limit`: walked along `attachments_retry` with
/// each one's account looked up, never a scan of the accounts.
pub async fn due_after_migration(conn: &mut AsyncPgConnection, limit: i64) -> CoreResult<Vec<Due>> {
    use crate::schema::accounts;
    let over: Vec<MigrationStatus> = ALL_STATUSES
        .into_iter()
        .filter(|s| !s.is_in_progress() && *s != MigrationStatus::NotStarted)
        .collect();
    let account_over = accounts::table
        .filter(accounts::id.eq(attachments::account_id))
        .filter(accounts::migration_status.eq_any(over));
    Ok(due_query()
        .filter(diesel::dsl::exists(account_over))
        .order(attachments::next_attempt_at.asc().nulls_first())
        .limit(limit)
        .load(conn)
        .await?)
}

#[diesel::dsl::auto_type(no_type_alias)]
fn due_query() -> _ {
    let due: diesel::dsl::Or<
        diesel::dsl::IsNull<attachments::next_attempt_at>,
        diesel::dsl::LtEq<attachments::next_attempt_at, diesel::dsl::now>,
    > = attachments::next_attempt_at
        .is_null()
        .or(attachments::next_attempt_at.le(diesel::dsl::now));
    attachments::table
        .filter(attachments::status.eq("pending"))
        .filter(attachments::media_url.is_not_null())
        .filter(due)
        .select((
            attachments::id,
            attachments::account_id,
            attachments::run_id,
            attachments::media_url.assume_not_null(),
            attachments::attempts,
            attachments::refusals,
            attachments::size_bytes,
        ))
}

/// How a download ended.
#[derive(Debug, Clone, Copy)]
pub enum DownloadOutcome<'a> {
    /// The bytes are stored.
    Stored {
        /// Blob store key.
        blob_key: &'a str,
        /// Bytes stored.
        size: i64,
        /// `Content-Type` as served (kept only where the source named none).
        content_type: Option<&'a str>,
    },
    /// Final: retrying cannot help (401/403/404, too large, a forbidden origin), or the
    /// attempts are used up.
    Failed {
        /// Short code the app sees.
        code: &'a str,
        /// The full error (operators).
        reason: &'a str,
    },
    /// Transient: stays pending and is tried again at `at`.
    Retry {
        /// The last error.
        reason: &'a str,
        /// Next try.
        at: DateTime<Utc>,
    },
    /// The media service refused our cert JWT: stays pending and is tried again at `at`.
    /// `counted`: the refusal counts against the attachment (one refused while refusals are
    /// systemic — our credentials or clocks — is not).
    Refused {
        /// Why, for operators (says whether it was systemic).
        reason: &'a str,
        /// Next try.
        at: DateTime<Utc>,
        /// Adds one to the attachment's refusals.
        counted: bool,
    },
}

/// Records a download's outcome after `attempts` tries in all; returns true when a pending row
/// was settled by this call (stored or failed: count it once).
pub async fn record_download(
    conn: &mut AsyncPgConnection,
    id: AttachmentId,
    attempts: i32,
    outcome: DownloadOutcome<'_>,
) -> CoreResult<bool> {
    let q = attachments::table
        .find(id)
        .filter(attachments::status.eq("pending"));
    let n = match outcome {
        DownloadOutcome::Stored {
            blob_key,
            size,
            content_type,
        } => {
            let n = diesel::update(q)
                .set((
                    attachments::status.eq("stored"),
                    attachments::attempts.eq(attempts),
                    attachments::blob_key.eq(Some(blob_key)),
                    attachments::size_bytes.eq(Some(size)),
                    attachments::failure_reason.eq(None::<String>),
                    attachments::failure.eq(None::<String>),
                    attachments::next_attempt_at.eq(None::<DateTime<Utc>>),
                ))
                .execute(conn)
                .await?;
            if let (1, Some(ct)) = (n, content_type) {
                diesel::update(
                    attachments::table
                        .find(id)
                        .filter(attachments::content_type.is_null()),
                )
                .set(attachments::content_type.eq(Some(ct)))
                .execute(conn)
                .await?;
            }
            n
        }
        DownloadOutcome::Failed { code, reason } => {
            diesel::update(q)
                .set((
                    attachments::status.eq("failed"),
                    attachments::attempts.eq(attempts),
                    attachments::failure.eq(Some(code)),
                    attachments::failure_reason.eq(Some(reason)),
                    attachments::next_attempt_at.eq(None::<DateTime<Utc>>),
                ))
                .execute(conn)
                .await?
        }
        DownloadOutcome::Retry { reason, at } => {
            diesel::update(q)
                .set((
                    attachments::attempts.eq(attempts),
                    attachments::failure_reason.eq(Some(reason)),
                    attachments::next_attempt_at.eq(Some(at)),
                ))
                .execute(conn)
                .await?;
            0
        }
        DownloadOutcome::Refused {
            reason,
            at,
            counted,
        } => {
            diesel::update(q)
                .set((
                    attachments::attempts.eq(attempts),
                    attachments::refusals.eq(attachments::refusals + i32::from(counted)),
                    attachments::failure_reason.eq(Some(reason)),
                    attachments::next_attempt_at.eq(Some(at)),
                ))
                .execute(conn)
                .await?;
            0
        }
    };
    Ok(n == 1)
}

/// The order name of this list's cursors.
pub const ORDER: &str = "attachments";

/// The account's attachments in `status` (`failed`, `pending`, `stored`), with their full
/// failure reasons (operators only), by id, `per_page` from `start`, with the next page's
/// cursor and the total counted up to [`page::COUNT_CAP`] (along `attachments_by_status`).
pub async fn list_by_status(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    status: &str,
    start: &Start,
    per_page: i64,
) -> CoreResult<Page<crate::models::Attachment>> {
    use crate::models::Attachment;
    let of = || {
        attachments::table
            .filter(attachments::account_id.eq(account_id))
            .filter(attachments::status.eq(status.to_string()))
            .into_boxed()
    };
    let mut q = of();
    if let Start::After(k) = start {
        let id = k.id.parse::<uuid::Uuid>().unwrap_or_default();
        q = q.filter(attachments::id.gt(AttachmentId(id)));
    }
    let rows = q
        .order(attachments::id)
        .offset(start.offset())
        .limit(per_page + 1)
        .select(Attachment::as_select())
        .load(conn)
        .await?;
    let counted: Vec<AttachmentId> = of()
        .select(attachments::id)
        .limit(page::COUNT_CAP + 1)
        .load(conn)
        .await?;
    let total = Total::capped(counted.len() as i64);
    Ok(Page::of(rows, per_page, total, |a| {
        Key::new(ORDER, 0, a.id)
    }))
}
