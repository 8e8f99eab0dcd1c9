//! Hops that were given up, kept where operators see them (the dead-letter queue holds a
//! bounded copy): listed, replayed, pruned after their retention.

use crate::models::DeadLetter;
use crate::queries::page::{self, Key, Page, Start, Total};
use crate::schema::dead_letters;
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::hop::MigrationHop;

/// Records a given-up hop with its error.
pub async fn record(
    conn: &mut AsyncPgConnection,
    hop: &MigrationHop,
    error: &str,
) -> CoreResult<i64> {
    Ok(diesel::insert_into(dead_letters::table)
        .values((
            dead_letters::account_id.eq(Some(hop.account_id)),
            dead_letters::run_id.eq(Some(hop.run_id)),
            dead_letters::phase.eq(hop.phase.as_str()),
            dead_letters::hop.eq(serde_json::to_value(hop).expect("hop serialises")),
            dead_letters::error.eq(error),
        ))
        .returning(dead_letters::id)
        .get_result(conn)
        .await?)
}

/// Records a message that could not be read as a hop.
pub async fn record_unreadable(
    conn: &mut AsyncPgConnection,
    body: &[u8],
    error: &str,
) -> CoreResult<i64> {
    let raw = String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned();
    Ok(diesel::insert_into(dead_letters::table)
        .values((
            dead_letters::phase.eq("unknown"),
            dead_letters::hop.eq(serde_json::Value::String(raw)),
            dead_letters::error.eq(error),
        ))
        .returning(dead_letters::id)
        .get_result(conn)
        .await?)
}

/// The order name of this list's cursors.
pub const ORDER: &str = "dead_letters";

/// Newest first, `per_page` from `start` (a cursor's id, or a bounded offset), with the next
/// page's cursor and the total counted up to [`page::COUNT_CAP`].
pub async fn list(
    conn: &mut AsyncPgConnection,
    start: &Start,
    per_page: i64,
) -> CoreResult<Page<DeadLetter>> {
    let mut q = dead_letters::table.into_boxed();
    if let Start::After(k) = start {
        q = q.filter(dead_letters::id.lt(k.n));
    }
    // the shape of audit::list (newest first by id, a capped total): a function generic over
    // Diesel's typed tables would be longer than the two
    let rows = q
        .order(dead_letters::id.desc())
        .offset(start.offset())
        .limit(per_page + 1)
        .select(DeadLetter::as_select())
        .load(conn)
        .await?;
    let counted: Vec<i64> = dead_letters::table
        .select(dead_letters::id)
        .limit(page::COUNT_CAP + 1)
        .load(conn)
        .await?;
    let total = Total::capped(counted.len() as i64);
    Ok(Page::of(rows, per_page, total, |r| {
        Key::new(ORDER, r.id, "")
    }))
}

/// One dead letter, locked for the caller's transaction.
pub async fn lock(conn: &mut AsyncPgConnection, id: i64) -> CoreResult<DeadLetter> {
    dead_letters::table
        .find(id)
        .select(DeadLetter::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(CoreError::NotFound("dead letter"))
}

/// Marks a dead letter replayed.
pub async fn mark_replayed(conn: &mut AsyncPgConnection, id: i64) -> CoreResult<()> {
    diesel::update(dead_letters::table.find(id))
        .set(dead_letters::replayed_at.eq(Some(Utc::now())))
        .execute(conn)
        .await?;
    Ok(())
}
