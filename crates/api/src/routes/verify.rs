//! Verifications: an operator asks for one (a worker runs it), and reads the latest; and a
//! preflight estimate of a migration, from the source alone.

use super::{conn, shopper};
use crate::audit::audited;
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Conflict, Errors};
use crate::state::AppState;
use crate::views::verify::{PreflightBody, VerificationBody};
use actix_web::{web, HttpResponse};
use migrator_core::db::queries::{accounts, rates, verifications};
use migrator_core::ids::ShopperId;
use migrator_core::preflight;
use migrator_core::{CoreError, MigrationStatus};
use scoped_futures::ScopedFutureExt;
use serde_json::json;

/// Asks for a verification of the account's migration: a worker compares source and
/// destination and records the result (`GET …/verification`). An open one is answered
/// instead of a second. 409 when nothing was migrated yet.
#[utoipa::path(post, path = "/admin/accounts/{shopper_id}/verify", tag = "admin",
    security(("bearer" = [])), params(("shopper_id" = ShopperId, Path)),
    responses((status = 202, description = "asked for (or already open)", body = VerificationBody),
        Errors, Conflict))]
pub async fn verify(
    st: web::Data<AppState>,
    who: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let shopper_id = shopper(&path)?;
    let by = who.sub.clone();
    let v = audited(
        &st,
        &who,
        "verify",
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
                verifications::request(c, account.id, account.current_run_id, &by).await
            }
            .scope_boxed()
        },
        |v| json!({ "verification_id": v.id }),
    )
    .await?;
    Ok(HttpResponse::Accepted().json(VerificationBody::from(&v)))
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
    let shopper_id = shopper(&path)?;
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &shopper_id).await?;
    let v = verifications::latest(&mut c, account.id)
        .await?
        .ok_or_else(|| ApiError::not_found("verification"))?;
    Ok(web::Json(VerificationBody::from(&v)))
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
    let e = preflight::estimate(&st.source_rest, &st.dynamo, &shopper_id, rates, limits)
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
