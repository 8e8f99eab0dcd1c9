//! The state machine's steps, written to the database in one place: the account's status, its
//! run (new, next phase, retried, finished, held with its error, parked or un-parked), the
//! dead letter of a given-up hop, and the hop that follows, recorded in the outbox with its
//! delay — all in the caller's transaction. Which step an event takes is decided by
//! [`MigrationStatus::on`], what follows a failure by [`migrator_core::settle`]; never here.

use crate::models::Account;
use crate::queries::workflow::{dead_letters, outbox};
use crate::schema::{accounts, migration_runs};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::hop::{Lane, MigrationHop};
use migrator_core::ids::{CampaignId, RunId};
use migrator_core::status::{Event, MigrationStatus, Phase, RunAction, Step};

pub use crate::queries::workflow::outbox::Recorded;

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
    /// With a start (a new run, a resume): started by this campaign, its hops on the
    /// campaign lane.
    pub campaign: Option<CampaignId>,
    /// With a start: the app asked for it (`POST /migrate`): its hops on the app lane, and
    /// its time to inbox counted from now.
    pub opened: bool,
}

impl Effects<'_> {
    /// The lane a start puts the run on, when it says (None: the run keeps its own).
    fn lane(&self) -> Option<Lane> {
        match (self.campaign, self.opened) {
            (_, true) => Some(Lane::App),
            (Some(_), false) => Some(Lane::Campaign),
            (None, false) => None,
        }
    }
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
            let hop = match effects.next {
                Some(h) => h.clone(),
                None => MigrationHop::first(account.id, run, phase),
            }
            .on(lane);
            Some(outbox::push(conn, hop, effects.delay_ms).await?)
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
                    migration_runs::lane.eq(effects.lane().unwrap_or_default().as_str()),
                    migration_runs::campaign_id.eq(effects.campaign),
                    migration_runs::opened_at.eq(effects.opened.then(Utc::now)),
                ))
                .execute(conn)
                .await?;
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
            if effects.unpark {
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
            crate::queries::workflow::lease::release(
                conn,
                id,
                None,
                effects.error.unwrap_or("failed"),
            )
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
            if effects.park {
                diesel::update(migration_runs::table.find(id))
                    .set(migration_runs::parked_at.eq(Some(Utc::now())))
                    .execute(conn)
                    .await?;
            }
            if let Some(hop) = effects.dead_letter {
                dead_letters::record(conn, hop, effects.error.unwrap_or("failed")).await?;
            }
            Ok((run, Lane::App))
        }
        (action, None) => Err(CoreError::Invalid(format!(
            "{action:?} needs a run; account {} has none",
            account.id
        ))),
    }
}

/// A start moves the run to its lane (a campaign's resume, the app's).
async fn set_lane(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    effects: &Effects<'_>,
) -> CoreResult<Lane> {
    use migration_runs::dsl as r;
    let lane = effects.lane().unwrap_or_default();
    diesel::update(r::migration_runs.find(run_id))
        .set((
            r::lane.eq(lane.as_str()),
            r::campaign_id.eq(effects.campaign),
            r::opened_at.eq(effects.opened.then(Utc::now)),
        ))
        .execute(conn)
        .await?;
    Ok(lane)
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
/// account's status is in progress (a repair runs in `messages-failure`). Returns the run's
/// lane.
async fn next_phase(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    phase: Phase,
    fresh: bool,
    active: bool,
) -> CoreResult<Lane> {
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
    let lane: String = if fresh {
        q.set((
            common,
            r::checkpoint.eq(None::<serde_json::Value>),
            r::last_error.eq(None::<String>),
        ))
        .returning(r::lane)
        .get_result(conn)
        .await?
    } else {
        q.set(common).returning(r::lane).get_result(conn).await?
    };
    Ok(Lane::parse(&lane))
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

/// A catch-up's end: the run is done again (its lease, checkpoint and hop attempts cleared), its
/// completion as it was.
async fn end_catch_up(conn: &mut AsyncPgConnection, run_id: RunId) -> CoreResult<()> {
    use migration_runs::dsl as r;
    diesel::update(r::migration_runs.find(run_id))
        .set((
            r::phase.eq("done"),
            r::active.eq(false),
            r::checkpoint.eq(None::<serde_json::Value>),
            r::hop_attempts.eq(0),
            r::last_error.eq(None::<String>),
            r::lease_owner.eq(None::<String>),
            r::lease_expires_at.eq(None::<DateTime<Utc>>),
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
            // the run's completion is stamped by finish_run; a catch-up's end by the settling
            // record (`settling::after_catch_up`)
            Phase::AllMessages | Phase::CatchUp => 0,
        };
    }
    Ok(())
}
