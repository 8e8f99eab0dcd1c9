//! The audit log of operators' writes: who, what, when, on what. Written in the transaction of
//! the write itself, listed for operators, pruned after its retention.

use crate::models::AuditEntry;
use crate::queries::page::{self, Key, Page, Start, Total};
use crate::schema::audit_log;
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

/// The order name of this list's cursors.
pub const ORDER: &str = "audit";

/// Newest first, `per_page` from `start` (a cursor's id, or a bounded offset), with the next
/// page's cursor and the total counted up to [`page::COUNT_CAP`].
pub async fn list(
    conn: &mut AsyncPgConnection,
    start: &Start,
    per_page: i64,
) -> CoreResult<Page<AuditEntry>> {
    let mut q = audit_log::table.into_boxed();
    if let Start::After(k) = start {
        q = q.filter(audit_log::id.lt(k.n));
    }
    // the shape of dead_letters::list (newest first by id, a capped total): a function generic over
    // Diesel's typed tables would be longer than the two
    let rows = q
        .order(audit_log::id.desc())
        .offset(start.offset())
        .limit(per_page + 1)
        .select(AuditEntry::as_select())
        .load(conn)
        .await?;
    let counted: Vec<i64> = audit_log::table
        .select(audit_log::id)
        .limit(page::COUNT_CAP + 1)
        .load(conn)
        .await?;
    let total = Total::capped(counted.len() as i64);
    Ok(Page::of(rows, per_page, total, |r| {
        Key::new(ORDER, r.id, "")
    }))
}
