//! The audit log of operators' writes: who, what, when, on what. Written in the transaction of
//! the write itself, listed for operators, pruned after its retention.

use crate::models::AuditEntry;
use crate::schema::audit_log;
use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;

/// Records an operator's write (call it inside the write's transaction).
pub async fn record(
    conn: &mut AsyncPgConnection,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> CoreResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor.eq(actor),
            audit_log::action.eq(action),
            audit_log::target.eq(target),
            audit_log::detail.eq(detail),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Entries, newest first, a page at a time; and the total.
pub async fn list(
    conn: &mut AsyncPgConnection,
    page: i64,
    per_page: i64,
) -> CoreResult<(Vec<AuditEntry>, i64)> {
    let total: i64 = audit_log::table.count().get_result(conn).await?;
    let rows = audit_log::table
        .order(audit_log::id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select(AuditEntry::as_select())
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Deletes entries older than `days`; returns how many.
pub async fn prune(conn: &mut AsyncPgConnection, days: i64) -> CoreResult<usize> {
    let cutoff = Utc::now() - Duration::days(days);
    Ok(
        diesel::delete(audit_log::table.filter(audit_log::created_at.lt(cutoff)))
            .execute(conn)
            .await?,
    )
}
