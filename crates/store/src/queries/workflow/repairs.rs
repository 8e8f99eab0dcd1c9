//! Repairs of a completed run's copy (`docs/operations.md`, Settling): a verification's
//! differing threads queued for a catch-up that copies them again, how many a run has had, and
//! the parking of a run whose copy does not converge.

use super::runs;
use super::settling::Plan;
use crate::schema::{accounts, migration_runs, run_settling};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::ids::{AccountId, RunId};

/// A verification found these threads different: a repair is due now (the catch-up that
/// copies them again). A run completed before settling was recorded gets its row here.
pub async fn request_repair(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    account_id: AccountId,
    threads: &[String],
) -> CoreResult<()> {
    let (threads_before, messages_before) = runs::migrated(conn, run_id).await?;
    let plan = serde_json::to_value(Plan::Repair {
        threads: threads.to_vec(),
        threads_before,
        messages_before,
    })
    .expect("a plan");
    let now = Utc::now();
    diesel::insert_into(run_settling::table)
        .values((
            run_settling::run_id.eq(run_id),
            run_settling::account_id.eq(account_id),
            run_settling::catch_up_at.eq(Some(now)),
            run_settling::catch_up_final.eq(true),
            run_settling::plan.eq(Some(plan.clone())),
        ))
        .on_conflict(run_settling::run_id)
        .do_update()
        .set((
            run_settling::catch_up_at.eq(Some(now)),
            run_settling::plan.eq(Some(plan)),
            run_settling::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether `run` is still the account's run in force (a verification of a superseded run
/// repairs nothing).
pub async fn is_current(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    run_id: RunId,
) -> CoreResult<bool> {
    let current: Option<Option<RunId>> = accounts::table
        .find(account_id)
        .select(accounts::current_run_id)
        .first(conn)
        .await
        .optional()?;
    Ok(current.flatten() == Some(run_id))
}

/// How many repairs a run has had (a verification's differences copied again).
pub async fn repairs(conn: &mut AsyncPgConnection, run_id: RunId) -> CoreResult<i32> {
    Ok(run_settling::table
        .find(run_id)
        .select(run_settling::repairs)
        .first(conn)
        .await
        .optional()?
        .unwrap_or(0))
}

/// A completed run whose copy keeps differing from its source after its repairs: parked with
/// `why` (operators find it in the parked list with its last verification).
pub async fn park(conn: &mut AsyncPgConnection, run_id: RunId, why: &str) -> CoreResult<()> {
    diesel::update(migration_runs::table.find(run_id))
        .filter(migration_runs::parked_at.is_null())
        .set((
            migration_runs::parked_at.eq(Some(Utc::now())),
            migration_runs::last_error.eq(Some(why)),
            migration_runs::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
