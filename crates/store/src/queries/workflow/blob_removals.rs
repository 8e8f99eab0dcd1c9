//! Stored files to remove: queued in the transaction that drops what they belonged to, removed
//! by the sweeper (a worker: the process that may write the store), retried with backoff, given
//! up after [`MAX_ATTEMPTS`] (kept and counted for an operator; pruned after a retention).

use crate::schema::blob_removals;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::ids::{AccountId, RunId};

/// Tries of one removal before it is given up.
pub const MAX_ATTEMPTS: i32 = 20;
/// The longest wait between two tries.
const MAX_WAIT: Duration = Duration::hours(1);

/// The prefix of every file of a run (the worker stores an attachment under
/// `<account>/<run>/<attachment>`).
pub fn run_prefix(account: AccountId, run: RunId) -> String {
    format!("{account}/{run}")
}

/// Queues the removal of `prefixes` (in the caller's transaction), for `reason`.
pub async fn queue(
    conn: &mut AsyncPgConnection,
    prefixes: &[String],
    reason: &str,
) -> CoreResult<usize> {
    if prefixes.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = prefixes
        .iter()
        .map(|p| {
            (
                blob_removals::prefix.eq(p.as_str()),
                blob_removals::reason.eq(reason),
            )
        })
        .collect();
    Ok(diesel::insert_into(blob_removals::table)
        .values(&rows)
        .execute(conn)
        .await?)
}

/// A removal due.
#[derive(Debug, Clone, Queryable)]
pub struct Due {
    pub id: i64,
    pub prefix: String,
    pub attempts: i32,
}

/// Up to `limit` removals due, oldest first (along `blob_removals_due`).
pub async fn due(conn: &mut AsyncPgConnection, limit: i64) -> CoreResult<Vec<Due>> {
    Ok(blob_removals::table
        .filter(blob_removals::next_at.le(Utc::now()))
        .order(blob_removals::next_at.asc())
        .limit(limit)
        .select((
            blob_removals::id,
            blob_removals::prefix,
            blob_removals::attempts,
        ))
        .load(conn)
        .await?)
}

/// A removal done: forgotten.
pub async fn done(conn: &mut AsyncPgConnection, id: i64) -> CoreResult<()> {
    diesel::delete(blob_removals::table.find(id))
        .execute(conn)
        .await?;
    Ok(())
}

/// A removal failed with `error`: tried again after a wait doubling from 30 s (at most an
/// hour), or given up after [`MAX_ATTEMPTS`] tries. Returns whether it was given up.
pub async fn failed(conn: &mut AsyncPgConnection, d: &Due, error: &str) -> CoreResult<bool> {
    let attempts = d.attempts + 1;
    let given_up = attempts >= MAX_ATTEMPTS;
    let wait = (Duration::seconds(30) * 2i32.saturating_pow((attempts - 1).clamp(0, 16) as u32))
        .min(MAX_WAIT);
    let next: Option<DateTime<Utc>> = (!given_up).then(|| Utc::now() + wait);
    diesel::update(blob_removals::table.find(d.id))
        .set((
            blob_removals::attempts.eq(attempts),
            blob_removals::next_at.eq(next),
            blob_removals::last_error.eq(Some(error)),
        ))
        .execute(conn)
        .await?;
    Ok(given_up)
}

/// Removals given up, waiting for an operator (counted along `blob_removals_given_up`).
pub async fn given_up(conn: &mut AsyncPgConnection) -> CoreResult<i64> {
    Ok(blob_removals::table
        .filter(blob_removals::next_at.is_null())
        .count()
        .get_result(conn)
        .await?)
}
