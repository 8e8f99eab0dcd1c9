//! The api side of a migration: start/resume, forced re-migration, retries, replays. Every
//! state change is a step of the state machine applied through [`transitions::apply`], which
//! records its hop in the outbox in the same transaction. (Reads are in `overview`.)

use crate::models::Account;
use crate::queries::workflow::dead_letters;
use crate::queries::workflow::locks::{lock_account, lock_run};
use crate::queries::workflow::transitions::{self, Effects, Recorded};
use crate::schema::{
    accounts, brands, channel_sources, channels, contacts, conversations, migration_runs, rejects,
};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::ids::{AccountId, RunId};
use migrator_core::status::{Event, MigrationStatus, Restart, PHASES};

/// What `POST /migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    /// A migration was started or resumed (202); the hop is in the outbox.
    Started {
        /// Status now in force (the real one; app endpoints show its app-facing form).
        status: MigrationStatus,
        /// The hop recorded, to relay.
        hop: Recorded,
    },
    /// Nothing to start: running or finished (200); the real status.
    Current(MigrationStatus),
    /// A campaign's run in progress moved to the app lane (200, as `Current`): its phase's
    /// hop recorded again there, to relay.
    Promoted {
        /// Status in force.
        status: MigrationStatus,
        /// The hop recorded on the app lane.
        hop: Recorded,
    },
}

/// Applies `event` to the locked account (with `effects`) and says what it started.
async fn start_with(
    conn: &mut AsyncPgConnection,
    account: &Account,
    event: Event,
    effects: Effects<'_>,
) -> CoreResult<StartOutcome> {
    let applied = transitions::apply(conn, account, event, effects).await?;
    Ok(match (applied.step, applied.hop) {
        (Some(step), Some(hop)) => StartOutcome::Started {
            status: step.to,
            hop,
        },
        (step, _) => StartOutcome::Current(step.map_or(account.migration_status, |s| s.to)),
    })
}

/// `POST /migrate`: start, restart after `channel-failure`, resume after
/// `recent-messages-failure`, or report the status in force — moving a campaign's run in
/// progress to the app lane, so the C1 gets their inbox at once and still one run. Concurrent
/// calls serialise on the account row, so any number of them start at most one migration.
pub async fn start(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
) -> CoreResult<StartOutcome> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        let account = lock_account(c, account_id).await?;
        match start_with(c, &account, Event::Migrate, Effects::AppStart).await? {
            StartOutcome::Current(status) => Ok(match transitions::promote(c, &account).await? {
                Some(hop) => StartOutcome::Promoted { status, hop },
                None => StartOutcome::Current(status),
            }),
            started => Ok(started),
        }
    })
    .await
}

/// Forced re-migration: supersedes the run in force (a worker holding it is fenced out at its
/// next write), deletes everything the migration created (native rows stay) and starts a new
/// run. The superseded runs' stored files are queued for removal (`blob_removals`: the sweeper
/// removes them; the new run's files are keyed by its own id). Returns the outcome and every
/// superseded run of the account.
pub async fn remigrate(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
) -> CoreResult<(StartOutcome, Vec<(AccountId, RunId)>)> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        let account = lock_account(c, account_id).await?;
        if let Some(old) = account.current_run_id {
            // waits for a worker's page transaction holding this run, then fences it out
            lock_run(c, old).await?;
        }
        let runs: Vec<RunId> = migration_runs::table
            .filter(migration_runs::account_id.eq(account_id))
            .select(migration_runs::id)
            .load(c)
            .await?;
        delete_migrated(c, account_id).await?;
        // the superseded runs' files, removed by the sweeper (a process that may write them)
        let prefixes: Vec<String> = runs
            .iter()
            .map(|r| crate::queries::workflow::blob_removals::run_prefix(account_id, *r))
            .collect();
        crate::queries::workflow::blob_removals::queue(c, &prefixes, "remigrate").await?;
        let outcome = start_with(c, &account, Event::Remigrate, Effects::default()).await?;
        Ok((outcome, runs.into_iter().map(|r| (account_id, r)).collect()))
    })
    .await
}

/// Re-runs the failed phase of the account without wiping anything (an operator's retry, an
/// un-park, a dead letter's replay): the run is un-parked with its attempts counted afresh,
/// then the failure's restart rule applies (a repair, a resume, or a new run). With
/// `only_parked`, a run that is not parked is a conflict.
pub async fn retry_failed(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    only_parked: bool,
) -> CoreResult<StartOutcome> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        let account = lock_account(c, account_id).await?;
        retry_failed_locked(c, &account, only_parked).await
    })
    .await
}

async fn retry_failed_locked(
    c: &mut AsyncPgConnection,
    account: &Account,
    only_parked: bool,
) -> CoreResult<StartOutcome> {
    let Some(failed) = PHASES
        .iter()
        .find(|p| p.failure == account.migration_status)
    else {
        return Err(CoreError::Conflict(format!(
            "the migration is {}, not a failure: nothing to retry",
            account.migration_status
        )));
    };
    if let Some(run_id) = account.current_run_id {
        let run = lock_run(c, run_id).await?;
        if only_parked && run.parked_at.is_none() {
            return Err(CoreError::Conflict("the migration is not parked".into()));
        }
    }
    let event = match failed.restart {
        Restart::Repair => Event::Repair,
        Restart::NewRun | Restart::Resume => Event::Migrate,
    };
    // un-parked, its attempts counted afresh
    start_with(c, account, event, Effects::OperatorRestart).await
}

/// Replays a dead letter: its migration's failed phase runs again, as [`retry_failed`] does,
/// when the run it names is still the account's; the dead letter is marked replayed.
pub async fn replay_dead_letter(conn: &mut AsyncPgConnection, id: i64) -> CoreResult<StartOutcome> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        let dl = dead_letters::lock(c, id).await?;
        if dl.replayed_at.is_some() {
            return Err(CoreError::Conflict("already replayed".into()));
        }
        let account_id = dl.account_id.ok_or_else(|| {
            CoreError::Conflict("an unreadable message names no migration".into())
        })?;
        let account = lock_account(c, account_id).await?;
        if account.current_run_id != dl.run_id {
            return Err(CoreError::Conflict(
                "the migration moved on since (its run was superseded)".into(),
            ));
        }
        let outcome = retry_failed_locked(c, &account, false).await?;
        dead_letters::mark_replayed(c, id).await?;
        Ok(outcome)
    })
    .await
}

/// An operator stops a running migration: its phase in force fails with "cancelled by an
/// operator" (nothing is deleted) and the run is parked, so the fleet leaves it alone; a worker
/// holding it is fenced out at its next write. A retry (the app's, or an operator's retry or
/// un-park) starts it again as the phase's restart rule says. Returns the status now.
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
) -> CoreResult<MigrationStatus> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        let account = lock_account(c, account_id).await?;
        let pending = migrator_core::status::Phase::pending_in(account.migration_status);
        let (Some(phase), Some(run)) = (pending, account.current_run_id) else {
            return Err(CoreError::Conflict(format!(
                "the migration is {}, not running: nothing to cancel",
                account.migration_status
            )));
        };
        // waits for a worker's page transaction holding this run
        lock_run(c, run).await?;
        let effects = Effects::Cancel {
            error: "cancelled by an operator",
        };
        let applied = transitions::apply(c, &account, Event::Failed(phase), effects).await?;
        Ok(applied.step.map_or(account.migration_status, |s| s.to))
    })
    .await
}

/// Deletes the migrated (non-native) rows of each table for the account: one macro for the
/// four tables, whose Diesel types differ.
macro_rules! delete_migrated_rows {
    ($conn:expr, $account:expr, $($table:ident),+) => {$(
        diesel::delete(
            $table::table
                .filter($table::account_id.eq($account))
                .filter($table::native.eq(false)),
        )
        .execute($conn)
        .await?;
    )+};
}

/// Deletes every row the migration created for the account; native rows stay, and the native
/// brand forgets the source brand it was matched to.
async fn delete_migrated(conn: &mut AsyncPgConnection, account_id: AccountId) -> CoreResult<()> {
    // conversations first: their messages and attachments go with them (ON DELETE CASCADE)
    delete_migrated_rows!(conn, account_id, conversations, contacts);
    diesel::delete(channel_sources::table.filter(channel_sources::account_id.eq(account_id)))
        .execute(conn)
        .await?;
    delete_migrated_rows!(conn, account_id, channels, brands);
    diesel::update(brands::table.filter(brands::account_id.eq(account_id)))
        .set(brands::source_id.eq(None::<String>))
        .execute(conn)
        .await?;
    diesel::delete(rejects::table.filter(rejects::account_id.eq(account_id)))
        .execute(conn)
        .await?;
    Ok(())
}

/// Conversations says there is nothing to migrate: `not-started` -> `completed`, one guarded
/// statement. Returns the status now in force (a concurrent `POST /migrate` may have won).
pub async fn mark_nothing_to_migrate(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
) -> CoreResult<MigrationStatus> {
    let from = MigrationStatus::NotStarted;
    let to = transitions::target(from, Event::NothingToMigrate)?;
    let updated: Option<MigrationStatus> = diesel::update(
        accounts::table
            .filter(accounts::id.eq(account_id))
            .filter(accounts::migration_status.eq(from)),
    )
    .set((
        accounts::migration_status.eq(to),
        accounts::updated_at.eq(diesel::dsl::now),
    ))
    .returning(accounts::migration_status)
    .get_result(conn)
    .await
    .optional()?;
    match updated {
        Some(s) => Ok(s),
        None => Ok(accounts::table
            .find(account_id)
            .select(accounts::migration_status)
            .first(conn)
            .await?),
    }
}
