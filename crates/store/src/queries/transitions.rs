//! The state machine's steps, written to the database in one place: the account's status, its
//! run (new, next phase, retried, finished, held with its error, parked or un-parked), the
//! dead letter of a given-up hop, and the hop that follows, recorded in the outbox with its
//! delay — all in the caller's transaction. Which step an event takes is decided by
//! [`MigrationStatus::on`], what follows a failure by [`migrator_core::settle`]; never here.

use super::{dead_letters, outbox};
use crate::models::Account;
use crate::schema::{accounts, migration_runs};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::hop::MigrationHop;
use migrator_core::ids::RunId;
use migrator_core::status::{Event, MigrationStatus, Phase, RunAction, Step};

pub use super::outbox::Recorded;

/// What a step does besides moving the status: what the run keeps, and how its next hop goes.
/// The default is a plain step (a phase done, a continuation, a start).
#[derive(Debug, Clone, Copy, Default)]
pub struct Effects<'a> {
    /// Kept on the run (`last_error`) when it is held or retried.
    pub error: Option<&'a str>,
    /// The hop this step settles failed: one more failed attempt on the run.
    pub failed_attempt: bool,
    /// The next hop to record instead of a first attempt of its phase (a retry's).
    pub next: Option<&'a MigrationHop>,
    /// How long the next hop waits before it runs, in ms.
    pub delay_ms: u64,
    /// With a hold: the run is parked (the fleet leaves it alone until an operator un-parks
    /// it).
    pub park: bool,
    /// With a restart (a new run, a hop): the run in force is un-parked and its failed
    /// attempts are counted afresh (an operator's retry, un-park or replay).
    pub unpark: bool,
    /// With a hold: the given-up hop, recorded as a dead letter.
    pub dead_letter: Option<&'a MigrationHop>,
}

/// What applying an event did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The step taken; `None` when the event was accepted without a change.
    pub step: Option<Step>,
    /// The hop recorded in the outbox, to publish after commit.
    pub hop: Option<Recorded>,
}

/// Applies `event` to the locked `account` with `effects`: moves its status, starts, advances,
/// retries, finishes or holds its run, and records the next hop.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    account: &Account,
    event: Event,
    effects: Effects<'_>,
) -> CoreResult<Applied> {
    let Some(step) = account.migration_status.on(event)? else {
        return Ok(Applied::default());
    };
    let run = write_run(conn, account, event, step, &effects).await?;
    stamp_phases_done(conn, event, run).await?;
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
    let next_phase = match step.action {
        RunAction::NewRun(p) | RunAction::Hop(p) => Some(p),
        _ => None,
    };
    let hop = match (next_phase, run) {
        (Some(phase), Some(run)) => {
            let hop = match effects.next {
                Some(h) => h.clone(),
                None => MigrationHop::first(account.id, run, phase),
            };
            Some(outbox::push(conn, hop, effects.delay_ms).await?)
        }
        _ => None,
    };
    Ok(Applied {
        step: Some(step),
        hop,
    })
}

/// The run's side of a step; returns the account's run after it.
async fn write_run(
    conn: &mut AsyncPgConnection,
    account: &Account,
    event: Event,
    Step { to, action }: Step,
    effects: &Effects<'_>,
) -> CoreResult<Option<RunId>> {
    let run = account.current_run_id;
    match (action, run) {
        (RunAction::None, _) => Ok(run),
        (RunAction::NewRun(phase), old) => {
            if let Some(old) = old {
                if effects.unpark {
                    unpark(conn, old).await?;
                }
                close_run(conn, old, event == Event::Remigrate).await?;
            }
            let id = RunId::new();
            diesel::insert_into(migration_runs::table)
                .values((
                    migration_runs::id.eq(id),
                    migration_runs::account_id.eq(account.id),
                    migration_runs::phase.eq(phase.as_str()),
                    migration_runs::active.eq(phase.entry().is_in_progress()),
                ))
                .execute(conn)
                .await?;
            Ok(Some(id))
        }
        (RunAction::Hop(phase), Some(id)) => {
            // a phase just done hands over with a fresh checkpoint; a continuation, a retry,
            // a resume or a repair keeps it
            let fresh = matches!(event, Event::Done(_));
            next_phase(conn, id, phase, fresh, to.is_in_progress()).await?;
            failed_attempt(conn, id, effects).await?;
            if effects.unpark {
                unpark(conn, id).await?;
            }
            Ok(run)
        }
        (RunAction::Finish, Some(id)) => {
            finish_run(conn, id).await?;
            Ok(run)
        }
        (RunAction::Hold, Some(id)) => {
            super::lease::release(conn, id, None, effects.error.unwrap_or("failed")).await?;
            diesel::update(migration_runs::table.find(id))
                .set(migration_runs::active.eq(false))
                .execute(conn)
                .await?;
            failed_attempt(conn, id, effects).await?;
            if effects.park {
                diesel::update(migration_runs::table.find(id))
                    .set(migration_runs::parked_at.eq(Some(Utc::now())))
                    .execute(conn)
                    .await?;
            }
            if let Some(hop) = effects.dead_letter {
                dead_letters::record(conn, hop, effects.error.unwrap_or("failed")).await?;
            }
            Ok(run)
        }
        (action, None) => Err(CoreError::Invalid(format!(
            "{action:?} needs a run; account {} has none",
            account.id
        ))),
    }
}

/// One more failed attempt on the run, with its error, when the effects say so.
async fn failed_attempt(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    effects: &Effects<'_>,
) -> CoreResult<()> {
    use migration_runs::dsl as r;
    if effects.failed_attempt {
        diesel::update(r::migration_runs.find(run_id))
            .set((
                r::total_attempts.eq(r::total_attempts + 1),
                r::last_error.eq(effects.error),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The status an account would take on `event`, for guarded single-statement updates.
pub fn target(from: MigrationStatus, event: Event) -> CoreResult<MigrationStatus> {
    Ok(from.on(event)?.map(|s| s.to).unwrap_or(from))
}

/// Marks a run as over and superseded by a newer one (`cancelled` when an operator's
/// re-migration did it), releasing its lease; it is pruned `worker.runs_retention_days` later.
async fn close_run(conn: &mut AsyncPgConnection, run_id: RunId, cancelled: bool) -> CoreResult<()> {
    use migration_runs::dsl as r;
    diesel::update(r::migration_runs.find(run_id))
        .set((
            r::cancelled.eq(cancelled),
            r::superseded.eq(true),
            r::active.eq(false),
            // a superseded run waits for no operator
            r::parked_at.eq(None::<DateTime<Utc>>),
            r::lease_owner.eq(None::<String>),
            r::lease_expires_at.eq(None::<DateTime<Utc>>),
            r::finished_at.eq(Some(Utc::now())),
            r::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The run goes on at `phase`, unleased, its hop's attempts counted afresh; `active` while the
/// account's status is in progress (a repair runs in `messages-failure`).
async fn next_phase(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    phase: Phase,
    fresh: bool,
    active: bool,
) -> CoreResult<()> {
    use migration_runs::dsl as r;
    let q = diesel::update(r::migration_runs.find(run_id));
    let common = (
        r::phase.eq(phase.as_str()),
        r::active.eq(active),
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

/// The run is taken out of the parked list with its failed attempts counted afresh.
async fn unpark(conn: &mut AsyncPgConnection, run_id: RunId) -> CoreResult<()> {
    diesel::update(migration_runs::table.find(run_id))
        .set((
            migration_runs::parked_at.eq(None::<DateTime<Utc>>),
            migration_runs::total_attempts.eq(0),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The run is over: no phase, no checkpoint, no lease.
async fn finish_run(conn: &mut AsyncPgConnection, run_id: RunId) -> CoreResult<()> {
    use migration_runs::dsl as r;
    let now = Utc::now();
    diesel::update(r::migration_runs.find(run_id))
        .set((
            r::phase.eq("done"),
            r::active.eq(false),
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

/// When each phase finished, for the admin view: the phase `event` ends, or every phase a
/// covering phase stands for.
async fn stamp_phases_done(
    conn: &mut AsyncPgConnection,
    event: Event,
    run: Option<RunId>,
) -> CoreResult<()> {
    use migration_runs::dsl as r;
    let (Some(run), phases) = (
        run,
        match event {
            Event::Done(p) => vec![p],
            Event::Covered(p) => p.through_last().collect(),
            _ => Vec::new(),
        },
    ) else {
        return Ok(());
    };
    let now = Some(Utc::now());
    for phase in phases {
        let q = diesel::update(r::migration_runs.find(run));
        match phase {
            Phase::Channels => q.set(r::channels_at.eq(now)).execute(conn).await?,
            Phase::RecentMessages => q.set(r::recent_at.eq(now)).execute(conn).await?,
            // the run's completion is stamped by finish_run
            Phase::AllMessages => 0,
        };
    }
    Ok(())
}
