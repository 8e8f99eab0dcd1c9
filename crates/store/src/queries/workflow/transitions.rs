//! The state machine's steps, written to the database in one place: the account's status, its
//! run (new, next phase, retried, finished, held with its error, parked or un-parked), the
//! dead letter of a given-up hop, and the hop that follows, recorded in the outbox with its
//! delay — all in the caller's transaction. Which step an event takes is decided by
//! [`MigrationStatus::on`], what follows a failure by [`migrator_core::setback`]; never here.

use crate::models::Account;
use crate::queries::workflow::run_rows::{
    close_run, end_catch_up, failed_attempt, finish_run, next_phase, set_lane, stamp_phases_done,
    unpark,
};
use crate::queries::workflow::{dead_letters, outbox};
use crate::schema::{accounts, migration_runs};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::hop::{Lane, MigrationHop};
use migrator_core::ids::RunId;
use migrator_core::status::{Event, MigrationStatus, Phase, RunAction, Step};

pub use crate::queries::workflow::effects::Effects;
pub use crate::queries::workflow::outbox::Recorded;

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
    let (run, lane) = write_run(conn, account, event, step, &effects).await?;
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
            let (hop, delay_ms) = match effects.next() {
                Some((h, delay_ms)) => (h.clone(), delay_ms),
                None => (MigrationHop::first(account.id, run, phase), 0),
            };
            Some(outbox::push(conn, hop.on(lane), delay_ms).await?)
        }
        _ => None,
    };
    Ok(Applied {
        step: Some(step),
        hop,
    })
}

/// The run's side of a step; returns the account's run after it and the lane of its hops.
async fn write_run(
    conn: &mut AsyncPgConnection,
    account: &Account,
    event: Event,
    Step { to, action }: Step,
    effects: &Effects<'_>,
) -> CoreResult<(Option<RunId>, Lane)> {
    let run = account.current_run_id;
    match (action, run) {
        (RunAction::None, _) => Ok((run, Lane::App)),
        (RunAction::NewRun(phase), old) => {
            let id = new_run(conn, account, old, event, phase, effects).await?;
            Ok((Some(id), effects.lane().unwrap_or_default()))
        }
        (RunAction::Hop(phase), Some(id)) => {
            // a phase just done, or a catch-up starting, hands over with a fresh checkpoint; a
            // continuation, a retry, a resume or a repair keeps it
            let fresh = matches!(event, Event::Done(_) | Event::CatchUp);
            // a catch-up runs on a completed account, yet its hop is in flight like a phase's
            let active = to.is_in_progress() || phase == Phase::CatchUp;
            let lane = next_phase(conn, id, phase, fresh, active).await?;
            failed_attempt(conn, id, effects).await?;
            if effects.unpark() {
                unpark(conn, id).await?;
            }
            let lane = match effects.lane() {
                Some(_) => set_lane(conn, id, effects).await?,
                None => lane,
            };
            Ok((run, lane))
        }
        (RunAction::Finish, Some(id)) if event == Event::Done(Phase::CatchUp) => {
            end_catch_up(conn, id).await?;
            Ok((run, Lane::App))
        }
        (RunAction::Finish, Some(id)) => {
            finish_run(conn, id).await?;
            Ok((run, Lane::App))
        }
        (RunAction::Hold, Some(id)) => {
            hold_run(conn, id, event, effects).await?;
            Ok((run, Lane::App))
        }
        (action, None) => Err(CoreError::Invalid(format!(
            "{action:?} needs a run; account {} has none",
            account.id
        ))),
    }
}

/// A new run at `phase` for the account, its former run (`old`) closed as superseded
/// (cancelled on an operator's re-migration, un-parked first on an operator's restart).
async fn new_run(
    conn: &mut AsyncPgConnection,
    account: &Account,
    old: Option<RunId>,
    event: Event,
    phase: Phase,
    effects: &Effects<'_>,
) -> CoreResult<RunId> {
    if let Some(old) = old {
        if effects.unpark() {
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
            migration_runs::lane.eq(effects.lane().unwrap_or_default().as_str()),
            migration_runs::campaign_id.eq(effects.campaign()),
            migration_runs::opened_at.eq(effects.opened().then(Utc::now)),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// The run held after its phase failed or was cancelled: released, inactive, the failed attempt
/// counted, parked and its hop a dead letter as the effects say.
async fn hold_run(
    conn: &mut AsyncPgConnection,
    id: RunId,
    event: Event,
    effects: &Effects<'_>,
) -> CoreResult<()> {
    crate::queries::workflow::lease::release(conn, id, None, effects.error().unwrap_or("failed"))
        .await?;
    diesel::update(migration_runs::table.find(id))
        .set(migration_runs::active.eq(false))
        .execute(conn)
        .await?;
    failed_attempt(conn, id, effects).await?;
    if event == Event::Failed(Phase::CatchUp) {
        // the repair of the status it leaves (the all-messages phase) starts afresh, not
        // from a cursor of the catch-up's listing
        diesel::update(migration_runs::table.find(id))
            .set(migration_runs::checkpoint.eq(None::<serde_json::Value>))
            .execute(conn)
            .await?;
    }
    if effects.park() {
        diesel::update(migration_runs::table.find(id))
            .set(migration_runs::parked_at.eq(Some(Utc::now())))
            .execute(conn)
            .await?;
    }
    if let Some(hop) = effects.dead_letter() {
        dead_letters::record(conn, hop, effects.error().unwrap_or("failed")).await?;
    }
    Ok(())
}

/// A C1 opened the app while a campaign's run of theirs is in progress: the run moves to the
/// app lane (its time to inbox counted from now) and its phase's hop is recorded again there,
/// ahead of the campaign's queue. The campaign's hop, when it comes, finds the phase leased or
/// done and is dropped. None when the run is not a campaign's in progress.
pub async fn promote(
    conn: &mut AsyncPgConnection,
    account: &Account,
) -> CoreResult<Option<Recorded>> {
    use migration_runs::dsl as r;
    let Some(run) = account.current_run_id else {
        return Ok(None);
    };
    if !account.migration_status.is_in_progress() {
        return Ok(None);
    }
    let phase: Option<String> = diesel::update(
        r::migration_runs
            .find(run)
            .filter(r::lane.eq(Lane::Campaign.as_str()))
            .filter(r::active.eq(true)),
    )
    .set((
        r::lane.eq(Lane::App.as_str()),
        r::opened_at.eq(Some(Utc::now())),
    ))
    .returning(r::phase)
    .get_result(conn)
    .await
    .optional()?;
    let Some(phase) = phase.as_deref().and_then(Phase::parse) else {
        return Ok(None);
    };
    let hop = MigrationHop::first(account.id, run, phase);
    Ok(Some(outbox::push(conn, hop, 0).await?))
}

/// A run held after its failure is parked with `why` (a campaign gave it up): the fleet leaves
/// it alone and operators find it in the parked list.
pub async fn park_held(conn: &mut AsyncPgConnection, run_id: RunId, why: &str) -> CoreResult<()> {
    use diesel::sql_types::{Text, Uuid as SqlUuid};
    diesel::sql_query(
        "UPDATE migration_runs SET parked_at = now(), updated_at = now(), \
           last_error = coalesce(last_error || '; ', '') || $2 \
         WHERE id = $1 AND NOT active AND finished_at IS NULL AND parked_at IS NULL",
    )
    .bind::<SqlUuid, _>(run_id.0)
    .bind::<Text, _>(why)
    .execute(conn)
    .await?;
    Ok(())
}

/// The status an account would take on `event`, for guarded single-statement updates.
pub fn target(from: MigrationStatus, event: Event) -> CoreResult<MigrationStatus> {
    Ok(from.on(event)?.map(|s| s.to).unwrap_or(from))
}
