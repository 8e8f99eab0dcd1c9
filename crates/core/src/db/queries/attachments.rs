//! Attachment rows: written with their messages (pending, or failed when the source entry is
//! unusable), then settled by the download (stored, or failed with a reason).

use crate::db::schema::attachments;
use crate::error::CoreResult;
use crate::ids::{AccountId, AttachmentId, MessageId};
use crate::source::{pg_text, SourceMessage};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Writes the attachment rows of freshly inserted messages; returns the downloads to start
/// (id, media url) and how many entries failed on arrival (malformed in the source).
pub async fn insert_for(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    messages: &[(MessageId, &SourceMessage)],
) -> CoreResult<(Vec<(AttachmentId, String)>, i32)> {
    let (mut pending, mut failed) = (Vec::new(), 0);
    let mut rows = Vec::new();
    for (message_id, m) in messages {
        for (pos, a) in m.attachments.iter().enumerate() {
            let id = AttachmentId::new();
            let status = match (&a.defect, &a.media_url) {
                (None, Some(url)) => {
                    pending.push((id, url.clone()));
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
                attachments::message_id.eq(*message_id),
                attachments::position.eq(pos as i32),
                attachments::media_url.eq(pg_text(a.media_url.as_deref())),
                attachments::file_name.eq(pg_text(a.file_name.as_deref())),
                attachments::content_type.eq(pg_text(a.content_type.as_deref())),
                attachments::size_bytes.eq(a.size_bytes),
                attachments::status.eq(status),
                attachments::failure_reason.eq(a.defect.clone()),
            ));
        }
    }
    // 10 parameters a row: chunks stay far below Postgres's 65,535 bind parameters
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

/// Attachments of the account still waiting for download (left by an interrupted hop).
pub async fn pending(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    limit: i64,
) -> CoreResult<Vec<(AttachmentId, String)>> {
    Ok(attachments::table
        .filter(attachments::account_id.eq(account_id))
        .filter(attachments::status.eq("pending"))
        .filter(attachments::media_url.is_not_null())
        .select((attachments::id, attachments::media_url.assume_not_null()))
        .limit(limit)
        .load(conn)
        .await?)
}

/// A finished download: where the bytes are, how many, and the type the media service gave.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    /// Blob store key.
    pub blob_key: &'a str,
    /// Bytes stored.
    pub size: i64,
    /// `Content-Type` as served (kept only where the source named none).
    pub content_type: Option<&'a str>,
}

/// Records a download's outcome; returns true when the row was still pending (count it once).
pub async fn settle(
    conn: &mut AsyncPgConnection,
    id: AttachmentId,
    attempts: i32,
    outcome: Result<Stored<'_>, &str>,
) -> CoreResult<bool> {
    let q = attachments::table
        .find(id)
        .filter(attachments::status.eq("pending"));
    let n = match outcome {
        Ok(s) => {
            let n = diesel::update(q)
                .set((
                    attachments::status.eq("stored"),
                    attachments::attempts.eq(attempts),
                    attachments::blob_key.eq(Some(s.blob_key)),
                    attachments::size_bytes.eq(Some(s.size)),
                    attachments::failure_reason.eq(None::<String>),
                ))
                .execute(conn)
                .await?;
            if let (1, Some(ct)) = (n, s.content_type) {
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
        Err(reason) => {
            diesel::update(q)
                .set((
                    attachments::status.eq("failed"),
                    attachments::attempts.eq(attempts),
                    attachments::failure_reason.eq(Some(reason)),
                ))
                .execute(conn)
                .await?
        }
    };
    Ok(n == 1)
}
