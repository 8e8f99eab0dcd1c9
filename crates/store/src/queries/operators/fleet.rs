//! How operators steer the fleet (pause, resume, caps on the source) and which workers are
//! alive to share a fleet-wide cap.

use crate::schema::{fleet_settings, fleet_workers};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;

/// The fleet's steering, as operators set it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = fleet_settings)]
pub struct FleetState {
    /// Workers take no hops while paused.
    pub paused: bool,
    /// Fleet-wide cap on DynamoDB reads per second (None: the settings' own).
    pub max_reads_per_sec: Option<i32>,
    /// Fleet-wide cap on Conversations REST calls per second (None: the settings' own).
    pub max_rest_per_sec: Option<i32>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// By whom (an operator token's `sub`).
    pub updated_by: Option<String>,
}

/// The fleet's steering now.
pub async fn state(conn: &mut AsyncPgConnection) -> CoreResult<FleetState> {
    Ok(fleet_settings::table
        .find(1)
        .select(FleetState::as_select())
        .first(conn)
        .await?)
}

/// What an operator changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct FleetChange {
    /// Pause or resume.
    pub paused: Option<bool>,
    /// A new read cap (`Some(None)` removes it).
    pub max_reads_per_sec: Option<Option<i32>>,
    /// A new REST cap (`Some(None)` removes it).
    pub max_rest_per_sec: Option<Option<i32>>,
}

/// Applies an operator's change; returns the steering now.
pub async fn change(
    conn: &mut AsyncPgConnection,
    by: &str,
    c: &FleetChange,
) -> CoreResult<FleetState> {
    let cur = state(conn).await?;
    Ok(diesel::update(fleet_settings::table.find(1))
        .set((
            fleet_settings::paused.eq(c.paused.unwrap_or(cur.paused)),
            fleet_settings::max_reads_per_sec
                .eq(c.max_reads_per_sec.unwrap_or(cur.max_reads_per_sec)),
            fleet_settings::max_rest_per_sec.eq(c.max_rest_per_sec.unwrap_or(cur.max_rest_per_sec)),
            fleet_settings::updated_at.eq(diesel::dsl::now),
            fleet_settings::updated_by.eq(Some(by)),
        ))
        .returning(FleetState::as_returning())
        .get_result(conn)
        .await?)
}

/// Refusals of our credentials by the source over the last minute, by service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refusals {
    /// By the media service (cert JWT).
    pub media: i32,
    /// By the Conversations REST API (service token).
    pub rest: i32,
}

/// The live workers of the fleet, as their heartbeats say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetHealth {
    /// Workers seen within the window.
    pub workers: i64,
    /// Their refusals of the last minute, summed.
    pub refusals: Refusals,
}

/// A worker says it is alive, with the refusals it met in the last minute; returns the live
/// workers seen in the last `window_secs` (itself included, to share a fleet-wide cap) and
/// their refusals summed.
pub async fn heartbeat(
    conn: &mut AsyncPgConnection,
    worker_id: &str,
    window_secs: i64,
    mine: Refusals,
) -> CoreResult<FleetHealth> {
    diesel::insert_into(fleet_workers::table)
        .values((
            fleet_workers::worker_id.eq(worker_id),
            fleet_workers::media_refusals.eq(mine.media),
            fleet_workers::rest_refusals.eq(mine.rest),
        ))
        .on_conflict(fleet_workers::worker_id)
        .do_update()
        .set((
            fleet_workers::seen_at.eq(diesel::dsl::now),
            fleet_workers::media_refusals.eq(mine.media),
            fleet_workers::rest_refusals.eq(mine.rest),
        ))
        .execute(conn)
        .await?;
    health(conn, window_secs).await
}

/// The workers seen in the last `window_secs` and their refusals of the last minute. The
/// table holds one row a worker (pruned), so this reads a handful of rows.
pub async fn health(conn: &mut AsyncPgConnection, window_secs: i64) -> CoreResult<FleetHealth> {
    use diesel::dsl::count_star;
    let since = Utc::now() - Duration::seconds(window_secs);
    let (workers, media, rest): (i64, Option<i64>, Option<i64>) = fleet_workers::table
        .filter(fleet_workers::seen_at.gt(since))
        .select((
            count_star(),
            diesel::dsl::sum(fleet_workers::media_refusals),
            diesel::dsl::sum(fleet_workers::rest_refusals),
        ))
        .first(conn)
        .await?;
    let clamp = |n: Option<i64>| n.unwrap_or(0).clamp(0, i64::from(i32::MAX)) as i32;
    Ok(FleetHealth {
        workers,
        refusals: Refusals {
            media: clamp(media),
            rest: clamp(rest),
        },
    })
}

/// A worker leaves (SIGTERM): its share goes to the others at once.
pub async fn leave(conn: &mut AsyncPgConnection, worker_id: &str) -> CoreResult<()> {
    diesel::delete(fleet_workers::table.find(worker_id))
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets workers not seen for `older_than_secs` (killed ones); returns how many.
pub async fn prune_workers(
    conn: &mut AsyncPgConnection,
    older_than_secs: i64,
) -> CoreResult<usize> {
    let cutoff = Utc::now() - Duration::seconds(older_than_secs);
    Ok(
        diesel::delete(fleet_workers::table.filter(fleet_workers::seen_at.lt(cutoff)))
            .execute(conn)
            .await?,
    )
}
