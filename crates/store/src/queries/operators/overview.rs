//! What the app and operators read about migrations: the status view (one indexed read), the
//! operators' view of a run, the fleet's counts. (The operators' lists: `listing`.)

use crate::models::{Account, MigrationRun};
use crate::schema::{accounts, migration_runs};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::ids::ShopperId;
pub use migrator_core::progress::StatusView;
use migrator_core::status::MigrationStatus;

/// Status and progress of a shopper's migration: one indexed read, a prepared statement.
pub async fn status_view(
    conn: &mut AsyncPgConnection,
    shopper: &ShopperId,
) -> CoreResult<StatusView> {
    type Row = (
        MigrationStatus,
        DateTime<Utc>,
        Option<(
            i32,
            i32,
            i64,
            i32,
            i32,
            Option<DateTime<Utc>>,
            DateTime<Utc>,
        )>,
    );
    let row: Row = accounts::table
        .left_join(
            migration_runs::table.on(migration_runs::id.nullable().eq(accounts::current_run_id)),
        )
        .filter(accounts::shopper_id.eq(shopper))
        .select((
            accounts::migration_status,
            accounts::updated_at,
            (
                migration_runs::threads_total,
                migration_runs::threads_migrated,
                migration_runs::messages_migrated,
                migration_runs::attachments_failed,
                migration_runs::attachments_pending,
                migration_runs::channels_at,
                migration_runs::updated_at,
            )
                .nullable(),
        ))
        .first(conn)
        .await
        .optional()?
        .ok_or(CoreError::NotFound("account"))?;
    let (migration_status, account_updated, run) = row;
    let (threads, threads_migrated, messages, failed, pending, channels_at, run_updated) =
        run.unwrap_or((0, 0, 0, 0, 0, None, account_updated));
    Ok(StatusView {
        migration_status,
        threads_total: threads,
        threads_migrated,
        messages_migrated: messages,
        attachments_failed: failed,
        attachments_pending: pending,
        channels_at,
        updated_at: account_updated.max(run_updated),
    })
}

/// The operator's view of an account's migration.
#[derive(Debug, Clone)]
pub struct AdminView {
    /// The account.
    pub account: Account,
    /// Its run in force.
    pub run: Option<MigrationRun>,
}

/// Real status, phase, attempts, timings, last error and figures.
pub async fn admin_view(
    conn: &mut AsyncPgConnection,
    shopper: &ShopperId,
) -> CoreResult<AdminView> {
    let account = crate::queries::destination::accounts::find_by_shopper(conn, shopper).await?;
    let run = match account.current_run_id {
        Some(id) => migration_runs::table
            .find(id)
            .select(MigrationRun::as_select())
            .first(conn)
            .await
            .optional()?,
        None => None,
    };
    Ok(AdminView { account, run })
}

/// How many accounts are in each status, how many runs are parked, how many dead letters wait
/// for an operator, and the outbox backlog.
#[derive(Debug, Clone)]
pub struct Counts {
    /// Accounts by real status (every status listed, zeros included).
    pub by_status: Vec<(MigrationStatus, i64)>,
    /// Parked runs.
    pub parked: i64,
    /// Dead letters not replayed.
    pub dead_letters: i64,
    /// Outbox rows not yet published.
    pub outbox_backlog: i64,
}

/// The fleet's counts: every figure read from a summary kept by triggers in the transactions
/// that change it (`account_counts`, `fleet_counts`) or along a partial index of what is
/// waiting (the outbox backlog): O(statuses), whatever the population.
pub async fn counts(conn: &mut AsyncPgConnection) -> CoreResult<Counts> {
    let found = crate::queries::destination::accounts::count_by_status(conn).await?;
    let by_status = migrator_core::status::ALL_STATUSES
        .into_iter()
        .map(|st| {
            (
                st,
                found.iter().find(|(s, _)| *s == st).map_or(0, |(_, n)| *n),
            )
        })
        .collect();
    Ok(Counts {
        by_status,
        parked: count_parked(conn).await?,
        dead_letters: fleet_count(conn, "dead_letters").await?,
        outbox_backlog: crate::queries::workflow::outbox::backlog(conn).await?,
    })
}

/// How many runs are parked (`fleet_counts`).
pub async fn count_parked(conn: &mut AsyncPgConnection) -> CoreResult<i64> {
    fleet_count(conn, "parked").await
}

/// A figure of `fleet_counts` (`parked`, `dead_letters`: not replayed).
async fn fleet_count(conn: &mut AsyncPgConnection, what: &str) -> CoreResult<i64> {
    use crate::schema::fleet_counts;
    Ok(fleet_counts::table
        .find(what)
        .select(fleet_counts::n)
        .first(conn)
        .await
        .optional()?
        .unwrap_or(0))
}
