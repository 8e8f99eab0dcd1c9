//! Verifications: an operator asks for one (a worker runs it), and reads the latest; and a
//! preflight estimate of a migration, from the source alone.

use super::shared::{conn, shopper};
use crate::audit::audited;
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::views::errors::{Conflict, Errors};
use crate::views::verify::{PreflightBody, VerificationBody};
use actix_web::{web, HttpResponse};
use migrator_core::ids::ShopperId;
use migrator_core::{CoreError, MigrationStatus};
use migrator_source::preflight;
use migrator_store::queries::{
    destination::accounts, operators::rates, workflow::settling, workflow::verifications,
};
use scoped_futures::ScopedFutureExt;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

/// The longest `?wait_secs=`.
pub const MAX_WAIT_SECS: u64 = 30;

/// `?wait_secs=&repair=`: how long `POST …/verify` waits for the result, and whether it repairs.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// Wait up to this many seconds for the result (200 once done or failed); 0 or absent:
    /// answer at once (202). At most 30: a request is not held longer than load balancers'
    /// usual idle timeouts allow; poll `GET …/verification` for longer waits.
    #[param(minimum = 0, maximum = 30)]
    pub wait_secs: Option<u64>,
    /// Repair what it finds: the differing threads copied again from the source, then verified
    /// again (at most `verify.max_repairs` times, then the run is parked). Audited.
    pub repair: Option<bool>,
}

/// Asks for a verification of the account's migration: a worker compares source and
/// destination and records the result (`GET …/verification`). An open one is answered
/// instead of a second. With `wait_secs`, answers the result when it comes in time; with
/// `repair=true`, the differences it finds are copied again and verified again. While the
/// settle window is open, `settling_until` says so (items may still land). 409 when nothing
/// was migrated yet.
#[utoipa::path(post, path = "/admin/accounts/{shopper_id}/verify", tag = "admin",
    security(("bearer" = [])), params(("shopper_id" = ShopperId, Path), WaitQuery),
    responses(
        (status = 200, description = "done or failed within wait_secs", body = VerificationBody),
        (status = 202, description = "asked for (or already open)", body = VerificationBody),
        Errors, Conflict))]
pub async fn verify(
    st: web::Data<AppState>,
    who: AdminUser,
    path: web::Path<String>,
    q: web::Query<WaitQuery>,
) -> ApiResult<HttpResponse> {
    let body = request_verification(&st, &who, shopper(&path)?, &q).await?;
    Ok(match body.status.as_str() {
        "done" | "failed" => HttpResponse::Ok().json(body),
        _ => HttpResponse::Accepted().json(body),
    })
}

/// Asks for a verification of the C1's migration, audited as `who`'s, and waits for its result
/// up to `q.wait_secs` (400 `invalid_wait` past [`MAX_WAIT_SECS`], 409 when nothing was
/// migrated yet); the verification as it stands then.
pub async fn request_verification(
    st: &AppState,
    who: &AdminUser,
    shopper_id: ShopperId,
    q: &WaitQuery,
) -> ApiResult<VerificationBody> {
    let wait = q.wait_secs.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::bad_request(
            "invalid_wait",
            format!("wait_secs is 0 to {MAX_WAIT_SECS}"),
        ));
    }
    let by = who.sub.clone();
    let repair = q.repair.unwrap_or(false);
    let v = audited(
        st,
        who,
        if repair { "verify_repair" } else { "verify" },
        &shopper_id.to_string(),
        |c| {
            async move {
                let account = accounts::find_by_shopper(c, &shopper_id).await?;
                if matches!(
                    account.migration_status,
                    MigrationStatus::NotStarted | MigrationStatus::Migrating
                ) || account.current_run_id.is_none()
                {
                    return Err(CoreError::Conflict(format!(
                        "the migration is {}: nothing to verify yet",
                        account.migration_status.as_str()
                    )));
                }
                // one waiting out a failed try is tried now: the operator asked
                verifications::try_now(c, account.id).await?;
                verifications::request(c, account.id, account.current_run_id, &by, repair).await
            }
            .scope_boxed()
        },
        |v| json!({ "verification_id": v.id }),
    )
    .await?;
    // the api never runs it: it reads the row a worker finishes, until the wait is over
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    let mut latest = v;
    while !matches!(latest.status.as_str(), "done" | "failed")
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let mut c = conn(st).await?;
        if let Some(l) = verifications::latest(&mut c, latest.account_id).await? {
            latest = l;
        }
    }
    let settling = match latest.run_id {
        Some(run) => {
            let mut c = conn(st).await?;
            settling::get(&mut c, run).await?
        }
        None => None,
    };
    Ok(VerificationBody::from(&latest).settling(settling.as_ref()))
}

/// The account's latest verification: its status, and once done its result, what was
/// checked and the differences (the first listed, all counted).
#[utoipa::path(get, path = "/admin/accounts/{shopper_id}/verification", tag = "admin",
    security(("bearer" = [])), params(("shopper_id" = ShopperId, Path)),
    responses((status = 200, description = "the latest verification", body = VerificationBody),
        Errors))]
pub async fn latest(
    st: web::Data<AppState>,
    _: AdminUser,
    path: web::Path<String>,
) -> ApiResult<web::Json<VerificationBody>> {
    let v = latest_of(&st, &shopper(&path)?)
        .await?
        .ok_or_else(|| ApiError::not_found("verification"))?;
    Ok(web::Json(v))
}

/// The C1's latest verification, if any (404 when the account is unknown).
pub async fn latest_of(
    st: &AppState,
    shopper_id: &ShopperId,
) -> ApiResult<Option<VerificationBody>> {
    let mut c = conn(st).await?;
    let account = accounts::find_by_shopper(&mut c, shopper_id).await?;
    let Some(v) = verifications::latest(&mut c, account.id).await? else {
        return Ok(None);
    };
    let settling = match v.run_id {
        Some(run) => settling::get(&mut c, run).await?,
        None => None,
    };
    Ok(Some(VerificationBody::from(&v).settling(settling.as_ref())))
}

/// A preflight estimate of the C1's migration from the source alone (nothing is written; the
/// re:amaze account need not exist yet): channels, threads, messages, attachments, and a
/// duration from the fleet's measured rates. Bounded by `api.preflight_max_counts` COUNT
/// queries and `api.preflight_max_secs`; past them the rest is estimated and said so.
#[utoipa::path(get, path = "/admin/accounts/{shopper_id}/preflight", tag = "admin",
    security(("bearer" = [])), params(("shopper_id" = ShopperId, Path)),
    responses((status = 200, description = "the estimate", body = PreflightBody), Errors))]
pub async fn preflight(
    st: web::Data<AppState>,
    _: AdminUser,
    path: web::Path<String>,
) -> ApiResult<web::Json<PreflightBody>> {
    let shopper_id = shopper(&path)?;
    let rates = {
        let mut c = conn(&st).await?;
        rates::recent(&mut c, 7).await?
    };
    let a = &st.settings.api;
    let limits = preflight::Limits {
        max_counts: a.preflight_max_counts,
        max_secs: a.preflight_max_secs,
        sample_threads: 5,
    };
    let e = preflight::estimate(
        &st.sources.rest,
        &st.sources.dynamo,
        &shopper_id,
        rates,
        limits,
    )
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, "preflight estimate failed");
        ApiError::new(
            actix_web::http::StatusCode::BAD_GATEWAY,
            "source_unavailable",
            "Conversations did not answer the estimate's reads; try again",
        )
    })?
    .ok_or_else(|| ApiError::not_found("C1 in Conversations"))?;
    Ok(web::Json(PreflightBody {
        shopper_id,
        estimate: e,
        measured_runs: rates.runs,
    }))
}
