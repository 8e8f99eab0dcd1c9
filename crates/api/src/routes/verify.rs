//! Verifications: an operator asks for one (a worker runs it), and reads the latest.

use super::{conn, shopper};
use crate::audit::audited;
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Conflict, Errors};
use crate::state::AppState;
use crate::views::verify::VerificationBody;
use actix_web::{web, HttpResponse};
use migrator_core::db::queries::{accounts, verifications};
use migrator_core::ids::ShopperId;
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
