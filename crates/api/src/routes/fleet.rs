//! The fleet as a whole: counts by status, and the steering operators set — pause, resume,
//! throttle the source. Workers read the steering before they take hops. Writes are audited.

use super::shared::conn;
use crate::audit::audited;
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonObject;
use crate::state::AppState;
use crate::views::errors::{BodyErrors, Errors};
use crate::views::fleet::{CountsBody, FleetBody, QueueDepth, Throttle};
use actix_web::web;
use migrator_store::queries::operators::fleet::{self, FleetChange};
use migrator_store::queries::operators::overview;
use scoped_futures::ScopedFutureExt;
use serde_json::json;

/// Accounts by status, parked runs, dead letters waiting, the outbox backlog.
#[utoipa::path(get, path = "/admin/counts", tag = "fleet", security(("bearer" = [])),
    responses((status = 200, description = "the fleet's counts", body = CountsBody), Errors))]
pub async fn counts(st: web::Data<AppState>, _: AdminUser) -> ApiResult<web::Json<CountsBody>> {
    Ok(web::Json(counts_now(&st).await?))
}

/// The accounts by status and the queues' depths.
pub async fn counts_now(st: &AppState) -> ApiResult<CountsBody> {
    let mut c = conn(st).await?;
    let mut body = CountsBody::from(&overview::counts(&mut c).await?);
    drop(c);
    body.queues = queue_depths(st).await;
    Ok(body)
}

/// The work queues' and the dead-letter queue's depths, or `None` when the broker is not
/// reachable (logged; the counts answer anyway).
async fn queue_depths(st: &AppState) -> Option<Vec<QueueDepth>> {
    let names = st.publisher.names();
    let mut queues: Vec<String> = migrator_core::status::ALL_PHASES
        .iter()
        .map(|p| names.phase(*p))
        .collect();
    queues.push(names.campaign());
    queues.push(names.dead.clone());
    match st.publisher.depths(&queues).await {
        Ok(d) => Some(
            queues
                .into_iter()
                .zip(d)
                .map(|(queue, d)| QueueDepth {
                    queue,
                    messages: d.map(|d| d.0),
                    consumers: d.map(|d| d.1),
                })
                .collect(),
        ),
        Err(e) => {
            tracing::info!(error = %e, "queue depths not read");
            None
        }
    }
}

/// The fleet's steering, its live workers and the refusals of our credentials they met.
#[utoipa::path(get, path = "/admin/fleet", tag = "fleet", security(("bearer" = [])),
    responses((status = 200, description = "the steering", body = FleetBody), Errors))]
pub async fn state(st: web::Data<AppState>, _: AdminUser) -> ApiResult<web::Json<FleetBody>> {
    Ok(web::Json(fleet_now(&st).await?))
}

/// The fleet's steering and its live workers.
pub async fn fleet_now(st: &AppState) -> ApiResult<FleetBody> {
    let mut c = conn(st).await?;
    let steering = fleet::state(&mut c).await?;
    body(st, &mut c, &steering).await
}

/// The fleet's body: `steering` with the live workers' health.
async fn body(
    st: &AppState,
    c: &mut diesel_async::AsyncPgConnection,
    steering: &fleet::FleetState,
) -> ApiResult<FleetBody> {
    let window = (st.settings.worker.fleet_poll_secs.max(1) * 3) as i64;
    let health = fleet::health(c, window).await?;
    Ok(FleetBody::new(
        steering,
        &health,
        st.settings.media.refusal_threshold,
    ))
}

async fn steer(
    st: &AppState,
    who: &AdminUser,
    action: &'static str,
    change: FleetChange,
) -> ApiResult<FleetBody> {
    let by = who.sub.clone();
    let now = audited(
        st,
        who,
        action,
        "fleet",
        |c| async move { fleet::change(c, &by, &change).await }.scope_boxed(),
        |f| {
            json!({ "paused": f.paused, "max_reads_per_sec": f.max_reads_per_sec,
                    "max_rest_per_sec": f.max_rest_per_sec })
        },
    )
    .await?;
    let mut c = conn(st).await?;
    body(st, &mut c, &now).await
}

/// Pauses the fleet: workers finish the hops in hand and take no more (queued hops wait).
#[utoipa::path(post, path = "/admin/fleet/pause", tag = "fleet", security(("bearer" = [])),
    responses((status = 200, description = "paused", body = FleetBody), Errors))]
pub async fn pause(st: web::Data<AppState>, who: AdminUser) -> ApiResult<web::Json<FleetBody>> {
    Ok(web::Json(set_paused(&st, &who, true).await?))
}

/// Pauses (`paused`) or resumes the fleet, audited as `who`'s; the fleet after.
pub async fn set_paused(st: &AppState, who: &AdminUser, paused: bool) -> ApiResult<FleetBody> {
    let change = FleetChange {
        paused: Some(paused),
        ..Default::default()
    };
    let action = if paused {
        "fleet_pause"
    } else {
        "fleet_resume"
    };
    steer(st, who, action, change).await
}

/// Resumes the fleet.
#[utoipa::path(post, path = "/admin/fleet/resume", tag = "fleet", security(("bearer" = [])),
    responses((status = 200, description = "resumed", body = FleetBody), Errors))]
pub async fn resume(st: web::Data<AppState>, who: AdminUser) -> ApiResult<web::Json<FleetBody>> {
    Ok(web::Json(set_paused(&st, &who, false).await?))
}

/// Caps the fleet's reads of the source (per second, shared by the live workers); null
/// removes a cap.
#[utoipa::path(post, path = "/admin/fleet/throttle", tag = "fleet", security(("bearer" = [])),
    request_body = Throttle,
    responses((status = 200, description = "throttled", body = FleetBody), Errors, BodyErrors))]
pub async fn throttle(
    st: web::Data<AppState>,
    who: AdminUser,
    body: JsonObject<Throttle>,
) -> ApiResult<web::Json<FleetBody>> {
    Ok(web::Json(set_throttle(&st, &who, body.into_inner()).await?))
}

/// Sets the fleet's caps on source reads, audited as `who`'s (400 `invalid_rate` outside 1 to
/// 1,000,000); the fleet after.
pub async fn set_throttle(st: &AppState, who: &AdminUser, t: Throttle) -> ApiResult<FleetBody> {
    let valid = |v: Option<i32>| v.is_none_or(|n| (1..=1_000_000).contains(&n));
    if !valid(t.max_reads_per_sec) || !valid(t.max_rest_per_sec) {
        return Err(ApiError::bad_request(
            "invalid_rate",
            "a rate is 1 to 1000000 per second, or null",
        ));
    }
    let change = FleetChange {
        paused: None,
        max_reads_per_sec: Some(t.max_reads_per_sec),
        max_rest_per_sec: Some(t.max_rest_per_sec),
    };
    steer(st, who, "fleet_throttle", change).await
}
