//! `POST /migrate` and `GET /check-migration-status`, and how a start is answered.

use super::conn;
use crate::auth::AppUser;
use crate::error::ApiResult;
use crate::openapi::Errors;
use crate::state::AppState;
use crate::views::app::{MigrateBody, StatusBody};
use actix_web::{web, HttpResponse};
use migrator_core::db::queries::migration::StartOutcome;
use migrator_core::db::queries::outbox::Recorded;
use migrator_core::db::queries::{accounts, migration, overview};

/// Publishes hops just recorded in the outbox, in the background: a request never waits on
/// the broker (down, or slow to confirm); what is not published is the relay's.
pub fn relay(st: &AppState, hops: Vec<Recorded>) {
    if hops.is_empty() {
        return;
    }
    let (pool, publisher) = (st.pool.clone(), st.publisher.clone());
    tokio::spawn(async move {
        for r in &hops {
            migrator_core::relay::publish_recorded(&pool, &publisher, r).await;
        }
    });
}

/// Who reads a start outcome: the app sees app-facing statuses, operators the real ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The mobile app.
    App,
    /// An operator.
    Operator,
}

/// Renders a start outcome: 202 when a migration started or resumed (its first hop published
/// after the answer), else 200.
pub fn respond(st: &AppState, outcome: StartOutcome, to: Audience) -> HttpResponse {
    let shown = |s: migrator_core::MigrationStatus| MigrateBody {
        migration_status: match to {
            Audience::App => s.app_facing(),
            Audience::Operator => s,
        },
    };
    match outcome {
        StartOutcome::Started { status, hop } => {
            metrics::counter!(migrator_core::metrics::MIGRATIONS_STARTED).increment(1);
            relay(st, vec![hop]);
            HttpResponse::Accepted().json(shown(status))
        }
        StartOutcome::Current(status) => HttpResponse::Ok().json(shown(status)),
    }
}

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
