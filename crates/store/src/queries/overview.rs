//! What the app and operators read about migrations: the status view (one indexed read), the
//! operators' view of a run, lists by status with filters, parked runs, counts.

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
    let account = super::accounts::find_by_shopper(conn, shopper).await?;
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

/// Filters of a list of migrations.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this status (the real one).
    pub status: Option<MigrationStatus>,
    /// Only runs without progress (no change of account or run) for this long: stuck ones.
    pub stuck_for_secs: Option<i64>,
    /// Only runs whose last error holds this text (case-insensitive).
    pub error: Option<String>,
    /// Only runs whose latest verification gave this result (`match`, `diff`).
    pub verification: Option<String>,
}

/// Accounts matching `f` with their runs in force, oldest change first, a page at a time;
/// returns the page and the total.
pub async fn list(
    conn: &mut AsyncPgConnection,
    f: &ListFilter,
    page: i64,
    per_page: i64,
) -> CoreResult<(Vec<(Account, Option<MigrationRun>)>, i64)> {
    let query = || {
        let mut q = accounts::table
            .left_join(
                migration_runs::table
                    .on(migration_runs::id.nullable().eq(accounts::current_run_id)),
            )
            .into_boxed();
        if let Some(st) = f.status {
            q = q.filter(accounts::migration_status.eq(st));
        }
        if let Some(secs) = f.stuck_for_secs {
            let cutoff = Utc::now() - chrono::Duration::seconds(secs);
            q = q.filter(accounts::updated_at.lt(cutoff)).filter(
                migration_runs::updated_at
                    .lt(cutoff)
                    .or(migration_runs::updated_at.is_null()),
            );
        }
        if let Some(text) = &f.error {
            // the operator's text is matched literally
            let escaped = text
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            q = q.filter(migration_runs::last_error.ilike(format!("%{escaped}%")));
        }
        if let Some(result) = &f.verification {
            q = q.filter(migration_runs::verification.eq(result.clone()));
        }
        q
    };
    let total: i64 = query().count().get_result(conn).await?;
    let rows = query()
        .order((accounts::updated_at, accounts::id))
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select((Account::as_select(), Option::<MigrationRun>::as_select()))
        .load(conn)
        .await?;
    Ok((rows, total))
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

/// The fleet's counts.
pub async fn counts(conn: &mut AsyncPgConnection) -> CoreResult<Counts> {
    use crate::schema::dead_letters;
    let found = super::accounts::count_by_status(conn).await?;
    let by_status = migrator_core::status::ALL_STATUSES
        .into_iter()
        .map(|st| {
            (
                st,
                found.iter().find(|(s, _)| *s == st).map_or(0, |(_, n)| *n),
            )
        })
        .collect();
    let dead: i64 = dead_letters::table
        .filter(dead_letters::replayed_at.is_null())
        .count()
        .get_result(conn)
        .await?;
    Ok(Counts {
        by_status,
        parked: count_parked(conn).await?,
        dead_letters: dead,
        outbox_backlog: super::outbox::backlog(conn).await?,
    })
}

/// How many runs are parked.
pub async fn count_parked(conn: &mut AsyncPgConnection) -> CoreResult<i64> {
    Ok(migration_runs::table
        .filter(migration_runs::parked_at.is_not_null())
        .count()
        .get_result(conn)
        .await?)
}

/// Parked runs (newest first) with their accounts, a page at a time; and the total.
pub async fn list_parked(
    conn: &mut AsyncPgConnection,
    page: i64,
    per_page: i64,
) -> CoreResult<(Vec<(Account, MigrationRun)>, i64)> {
    let q = accounts::table
        .inner_join(
            migration_runs::table.on(migration_runs::id.nullable().eq(accounts::current_run_id)),
        )
        .filter(migration_runs::parked_at.is_not_null());
    let total: i64 = q.count().get_result(conn).await?;
    let rows = q
        .order((migration_runs::parked_at.desc(), accounts::id))
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select((Account::as_select(), MigrationRun::as_select()))
        .load(conn)
        .await?;
    Ok((rows, total))
}
