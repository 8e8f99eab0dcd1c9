//! The transactional outbox of hops.

use crate::db::schema::outbox;
use crate::error::CoreResult;
use crate::queue::MigrationHop;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Records `hop` in the caller's transaction; returns the outbox id.
pub async fn push(conn: &mut AsyncPgConnection, hop: &MigrationHop) -> CoreResult<i64> {
    let payload = serde_json::to_value(hop).expect("hop serialises");
    Ok(diesel::insert_into(outbox::table)
        .values(outbox::payload.eq(payload))
        .returning(outbox::id)
        .get_result(conn)
        .await?)
}

/// Marks relayed rows.
pub async fn mark_published(conn: &mut AsyncPgConnection, ids: &[i64]) -> CoreResult<()> {
    diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
        .set(outbox::published_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Unpublished rows older than `min_age_ms` (the immediate publish after commit usually wins),
/// locked so that several relays never send the same row at the same time.
pub async fn claim_unpublished(
    conn: &mut AsyncPgConnection,
    min_age_ms: i64,
    limit: i64,
) -> CoreResult<Vec<(i64, MigrationHop)>> {
    let rows: Vec<(i64, serde_json::Value)> = outbox::table
        .filter(outbox::published_at.is_null())
        .filter(
            outbox::created_at.lt(chrono::Utc::now() - chrono::Duration::milliseconds(min_age_ms)),
        )
        .order(outbox::id)
        .limit(limit)
        .select((outbox::id, outbox::payload))
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, v)| serde_json::from_value(v).ok().map(|h| (id, h)))
        .collect())
}
