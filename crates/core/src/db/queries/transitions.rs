//! The state machine's steps, written to the database in one place: the account's status, its
//! run (new, next phase, finished, held with its error) and the hop that follows, recorded in the
//! outbox in the caller's transaction. Which step an event takes is decided by
//! [`MigrationStatus::on`], never here.

use super::outbox;
use crate::db::models::Account;
use crate::db::schema::{accounts, migration_runs};
use crate::error::{CoreError, CoreResult};
use crate::ids::RunId;
use crate::queue::MigrationHop;
use crate::status::{Event, MigrationStatus, Phase, RunAction, Step};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// What applying an event did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The step taken; `None` when the event was accepted without a change.
    pub step: Option<Step>,
    /// The hop recorded in the outbox (its row id), to publish after commit.
    pub hop: Option<(i64, MigrationHop)>,
}

/// Applies `event` to the locked `account`: moves its status, starts, advances, finishes or
/// holds its run, and records the next hop. `error` is kept on a held run.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    account: &Account,
    event: Event,
    error: Option<&str>,
) -> CoreResult<Applied> {
    let Some(step) = account.migration_status.on(event)? else {
        return Ok(Applied::default());
    };
    let mut run = account.current_run_id;
    let next = match (step.action, run) {
        (RunAction::None, _) => None,
        (RunAction::NewRun(phase), old) => {
            if let Some(old) = old {
                close_run(conn, old, event == Event::Remigrate).await?;
            }
            let id = RunId::new();
            diesel::insert_into(migration_runs::table)
                .values((
                    migration_runs::id.eq(id),
                    migration_runs::account_id.eq(account.id),
                    migration_runs::phase.eq(phase.as_str()),
                ))
                .execute(conn)
                .await?;
            run = Some(id);
            Some(phase)
        }
        (RunAction::Hop(phase), Some(id)) => {
            // a phase just done hands over with a fresh checkpoint; a resume or repair keeps it
            let fresh = matches!(event, Event::Done(_));
            next_phase(conn, id, phase, fresh).await?;
            Some(phase)
        }
        (RunAction::Finish, Some(id)) => {
            finish_run(conn, id).await?;
            None
        }
        (RunAction::Hold, Some(id)) => {
            hold_run(conn, id, error.unwrap_or("failed")).await?;
            None
        }
        (action, None) => {
            return Err(CoreError::Invalid(format!(
                "{action:?} needs a run; account {} has none",
                account.id
            )))
        }
    };
    match (event, run) {
        (Event::Done(phase), Some(id)) => stamp_phase_done(conn, id, phase).await?,
        // a phase that covered the rest: each phase it stands for is done now
        (Event::Covered(phase), Some(id)) => {
            for p in phase.through_last() {
                stamp_phase_done(conn, id, p).await?;
            }
        }
        _ => {}
    }
    if step.to != account.migration_status || run != account.current_run_id {
        diesel::update(accounts::table.find(account.id))
            .set((
                accounts::migration_status.eq(step.to),
                accounts::current_run_id.eq(run),
                accounts::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
    }
    let hop = match (next, run) {
        (Some(phase), Some(run)) => {
            let hop = MigrationHop::first(account.id, run, phase);
            Some((outbox::push(conn, &hop).await?, hop))
        }
        _ => None,
    };
    Ok(Applied {
        step: Some(step),
        hop,
    })
}

/// The status an account would take on `event`, for guarded single-statement updates.
pub fn target(from: MigrationStatus, event: Event) -> CoreResult<MigrationStatus> {
    Ok(from.on(event)?.map(|s| s.to).unwrap_or(from))
}

/// Marks a run as over (superseded when `cancelled`), releasing its lease.
async fn close_run(conn: &mut AsyncPgConnection, run_id: RunId, cancelled: bool) -> CoreResult<()> {
    use migration_runs::dsl as r;
    diesel::update(r::migration_runs.find(run_id))
        .set((
            r::cancelled.eq(cancelled),
            r::lease_owner.eq(None::<String>),
            r::lease_expires_at.eq(None::<DateTime<Utc>>),
            r::finished_at.eq(Some(Utc::now())),
            r::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The run goes on at `phase`, unleased, its attempts counted afresh.
async fn next_phase(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    phase: Phase,
    fresh: bool,
) -> CoreResult<()> {
    use migration_runs::dsl as r;
    let q = diesel::update(r::migration_runs.find(run_id));
    let common = (
        r::phase.eq(phase.as_str()),
        r::hop_attempts.eq(0),
        r::lease_owner.eq(None::<String>),
        r::lease_expires_at.eq(None::<DateTime<Utc>>),
        r::updated_at.eq(diesel::dsl::now),
    );
    if fresh {
        q.set((
            common,
            r::checkpoint.eq(None::<serde_json::Value>),
            r::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
    } else {
        q.set(common).execute(conn).await?;
    }
    Ok(())
}

/// The run is over: no phase, no checkpoint, no lease.
async fn finish_run(conn: &mut AsyncPgConnection, run_id: RunId) -> CoreResult<()> {
    use migration_runs::dsl as r;
    let now = Utc::now();
    diesel::update(r::migration_runs.find(run_id))
        .set((
            r::phase.eq("done"),
            r::checkpoint.eq(None::<serde_json::Value>),
            r::hop_attempts.eq(0),
            r::last_error.eq(None::<String>),
            r::lease_owner.eq(None::<String>),
            r::lease_expires_at.eq(None::<DateTime<Utc>>),
            r::completed_at.eq(Some(now)),
            r::finished_at.eq(Some(now)),
            r::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The run keeps its phase and checkpoint, releases its lease and shows `error`.
async fn hold_run(conn: &mut AsyncPgConnection, run_id: RunId, error: &str) -> CoreResult<()> {
    super::lease::release(conn, run_id, None, error).await
}

/// When each phase finished, for the admin view.
async fn stamp_phase_done(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    phase: Phase,
) -> CoreResult<()> {
    use migration_runs::dsl as r;
    let now = Some(Utc::now());
    let q = diesel::update(r::migration_runs.find(run_id));
    match phase {
        Phase::Channels => q.set(r::channels_at.eq(now)).execute(conn).await?,
        Phase::RecentMessages => q.set(r::recent_at.eq(now)).execute(conn).await?,
        // the run's completion is stamped by finish_run
        Phase::AllMessages => 0,
    };
    Ok(())
}
