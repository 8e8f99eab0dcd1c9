//! The run row's writes a step makes, each one statement on `migration_runs` in the caller's
//! transaction; which ones a step makes is [`crate::queries::workflow::transitions::apply`]'s
//! choice.

use crate::queries::workflow::effects::Effects;
use crate::schema::migration_runs;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::hop::Lane;
use migrator_core::ids::RunId;
use migrator_core::status::{Event, Phase};

/// A start moves the run to its lane (a campaign's resume, the app's).
pub(super) async fn set_lane(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    effects: &Effects<'_>,
) -> CoreResult<Lane> {
    use migration_runs::dsl as r;
    let lane = effects.lane().unwrap_or_default();
    diesel::update(r::migration_runs.find(run_id))
        .set((
            r::lane.eq(lane.as_str()),
            r::campaign_id.eq(effects.campaign()),
            r::opened_at.eq(effects.opened().then(Utc::now)),
        ))
        .execute(conn)
        .await?;
    Ok(lane)
}

/// One more failed attempt on the run, with its error, when the effects say so.
pub(super) async fn failed_attempt(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    effects: &Effects<'_>,
) -> CoreResult<()> {
    use migration_runs::dsl as r;
    if effects.failed_attempt() {
        diesel::update(r::migration_runs.find(run_id))
            .set((
                r::total_attempts.eq(r::total_attempts + 1),
                r::last_error.eq(effects.error()),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Marks a run as over and superseded by a newer one (`cancelled` when an operator's
/// re-migration did it), releasing its lease; it is pruned `worker.runs_retention_days` later.
pub(super) async fn close_run(
    conn: &mut AsyncPgConnection,
    run_id: RunId,
    cancelled: bool,
) -> CoreResult<()> {
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
pub(super) async fn next_phase(
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
pub(super) async fn unpark(conn: &mut AsyncPgConnection, run_id: RunId) -> CoreResult<()> {
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
pub(super) async fn finish_run(conn: &mut AsyncPgConnection, run_id: RunId) -> CoreResult<()> {
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
pub(super) async fn end_catch_up(conn: &mut AsyncPgConnection, run_id: RunId) -> CoreResult<()> {
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
pub(super) async fn stamp_phases_done(
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
