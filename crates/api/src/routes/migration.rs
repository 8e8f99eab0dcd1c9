//! `POST /migrate` and `GET /check-migration-status`, and how a start is answered.

use super::shared::conn;
use super::starts::{respond, Audience};
use crate::auth::AppUser;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::views::app::{MigrateBody, StatusBody};
use crate::views::errors::Errors;
use actix_web::{web, HttpResponse};
use migrator_store::queries::{destination::accounts, operators::overview, workflow::migration};

/// Starts (or resumes) the caller's migration and returns at once; running or finished: the
/// status in force. Any number of concurrent calls start at most one migration.
#[utoipa::path(post, path = "/migrate", tag = "app", security(("bearer" = [])),
    responses(
        (status = 202, description = "started or resumed", body = MigrateBody),
        (status = 200, description = "already running or finished", body = MigrateBody),
        Errors))]
pub async fn post_migrate(st: web::Data<AppState>, user: AppUser) -> ApiResult<HttpResponse> {
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    let outcome = migration::start(&mut c, account.id).await?;
    drop(c);
    Ok(respond(&st, outcome, Audience::App))
}

/// Status and progress: one indexed read.
#[utoipa::path(get, path = "/check-migration-status", tag = "app", security(("bearer" = [])),
    responses((status = 200, description = "status and progress", body = StatusBody), Errors))]
pub async fn check_status(
    st: web::Data<AppState>,
    user: AppUser,
) -> ApiResult<web::Json<StatusBody>> {
    let mut c = conn(&st).await?;
    let v = overview::status_view(&mut c, &user.shopper_id).await?;
    let recent_max = st.settings.worker.recent_max_threads as i64;
    Ok(web::Json(StatusBody::new(&v, recent_max)))
}
