//! Source items that broke the contract: kept raw with the reason, once each, and counted.

use crate::schema::rejects;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::ids::{AccountId, RunId};
use migrator_core::source::Reject;
use migrator_core::text::exact;

/// Records rejects once each; returns how many are new.
pub async fn record(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    run_id: RunId,
    list: &[Reject],
) -> CoreResult<i32> {
    if list.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = list
        .iter()
        .map(|r| {
            (
                rejects::account_id.eq(account_id),
                rejects::run_id.eq(Some(run_id)),
                rejects::source_table.eq(r.source_table.clone()),
                rejects::source_key.eq(exact(Some(&r.source_key)).unwrap_or_default()),
                rejects::reason.eq(exact(Some(&r.reason)).unwrap_or_default()),
                rejects::raw.eq(r.raw.clone()),
            )
        })
        .collect();
    let n = diesel::insert_into(rejects::table)
        .values(&rows)
        .on_conflict((
            rejects::account_id,
            rejects::source_table,
            rejects::source_key,
        ))
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(n as i32)
}
