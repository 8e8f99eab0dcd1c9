//! Hops that were given up, kept where operators see them (the dead-letter queue holds a
//! bounded copy): listed, replayed, pruned after their retention.

use crate::models::DeadLetter;
use crate::schema::dead_letters;
use chrono::{Duration, Utc};
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

/// Dead letters, newest first, a page at a time; returns the page and the total.
pub async fn list(
    conn: &mut AsyncPgConnection,
    page: i64,
    per_page: i64,
) -> CoreResult<(Vec<DeadLetter>, i64)> {
    let total: i64 = dead_letters::table.count().get_result(conn).await?;
    let rows = dead_letters::table
        .order(dead_letters::id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select(DeadLetter::as_select())
        .load(conn)
        .await?;
    Ok((rows, total))
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

/// Deletes dead letters older than `days`; returns how many.
pub async fn prune(conn: &mut AsyncPgConnection, days: i64) -> CoreResult<usize> {
    let cutoff = Utc::now() - Duration::days(days);
    Ok(
        diesel::delete(dead_letters::table.filter(dead_letters::created_at.lt(cutoff)))
            .execute(conn)
            .await?,
    )
}
