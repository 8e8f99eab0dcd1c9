//! The transactional outbox of hops: recorded with the state change that causes them, claimed
//! by a relay for a while (never locked across the broker), marked when published, pruned.

use crate::schema::outbox;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::hop::MigrationHop;

/// A hop recorded in the outbox: what to publish after the transaction commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The outbox row (marked published once the broker confirms).
    pub id: i64,
    /// The hop.
    pub hop: MigrationHop,
    /// How long it waits before it runs (a retry's backoff; 0: at once), in ms.
    pub delay_ms: u64,
}

/// Records `hop`, to run after `delay_ms`, in the caller's transaction.
pub async fn push(
    conn: &mut AsyncPgConnection,
    hop: MigrationHop,
    delay_ms: u64,
) -> CoreResult<Recorded> {
    let mut hop = hop;
    // the span recording it (a request's, or the hop's before it): its trace goes on
    if let Some(tp) = migrator_runtime::trace_context::current() {
        hop.traceparent = Some(tp);
    }
    let payload = serde_json::to_value(&hop).expect("hop serialises");
    let id = diesel::insert_into(outbox::table)
        .values((
            outbox::payload.eq(payload),
            outbox::delay_ms.eq(delay_ms.min(i64::MAX as u64) as i64),
        ))
        .returning(outbox::id)
        .get_result(conn)
        .await?;
    Ok(Recorded { id, hop, delay_ms })
}

/// Marks relayed rows.
pub async fn mark_published(conn: &mut AsyncPgConnection, ids: &[i64]) -> CoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
        .set(outbox::published_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives claimed rows back (a relay could not send them): the next relay pass may claim them.
pub async fn release(conn: &mut AsyncPgConnection, ids: &[i64]) -> CoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
        .set(outbox::claimed_until.eq(None::<chrono::DateTime<chrono::Utc>>))
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims up to `limit` unpublished rows older than `min_age_ms` (the immediate publish after
/// commit usually wins) for `claim_secs`, in one statement: several relays never send the same
/// row at the same time, and none holds a lock while it talks to the broker. A relay that dies
/// after publishing leaves its rows to be sent again when the claim lapses (hops are
/// idempotent: a duplicate is dropped by the lease).
pub async fn claim_unpublished(
    conn: &mut AsyncPgConnection,
    min_age_ms: i64,
    claim_secs: i64,
    limit: i64,
) -> CoreResult<Vec<Recorded>> {
    use diesel::sql_types::BigInt;
    #[derive(QueryableByName)]
    struct Claimed {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Json)]
        payload: serde_json::Value,
        #[diesel(sql_type = BigInt)]
        delay_ms: i64,
    }
    let rows: Vec<Claimed> = diesel::sql_query(
        "UPDATE outbox SET claimed_until = now() + make_interval(secs => $2) \
         WHERE id IN (SELECT id FROM outbox \
                      WHERE published_at IS NULL \
                        AND created_at < now() - make_interval(secs => $1::float8 / 1000.0) \
                        AND (claimed_until IS NULL OR claimed_until < now()) \
                      ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING id, payload, delay_ms",
    )
    .bind::<BigInt, _>(min_age_ms)
    .bind::<BigInt, _>(claim_secs)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    let mut out: Vec<Recorded> = rows
        .into_iter()
        .filter_map(|r| {
            let hop = serde_json::from_value(r.payload).ok()?;
            Some(Recorded {
                id: r.id,
                hop,
                delay_ms: r.delay_ms.max(0) as u64,
            })
        })
        .collect();
    out.sort_by_key(|r| r.id);
    Ok(out)
}

/// Unpublished rows (the relay's backlog).
pub async fn backlog(conn: &mut AsyncPgConnection) -> CoreResult<i64> {
    Ok(outbox::table
        .filter(outbox::published_at.is_null())
        .count()
        .get_result(conn)
        .await?)
}

/// When the oldest row not yet published was written (along `outbox_unpublished`: the lowest
/// id waiting), `None` when nothing waits.
pub async fn oldest_unpublished(
    conn: &mut AsyncPgConnection,
) -> CoreResult<Option<chrono::DateTime<chrono::Utc>>> {
    Ok(outbox::table
        .filter(outbox::published_at.is_null())
        .order(outbox::id)
        .select(outbox::created_at)
        .first(conn)
        .await
        .optional()?)
}
