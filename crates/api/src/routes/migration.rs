//! `POST /migrate` and `GET /check-migration-status`.

use super::{conn, views};
use crate::auth::AppUser;
use crate::error::ApiResult;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use migrator_core::db::queries::migration::StartOutcome;
use migrator_core::db::queries::{accounts, migration};
use serde_json::json;

/// Publishes a hop recorded in the outbox; the relay covers a broker that is down.
pub async fn relay(st: &AppState, outbox_id: i64, hop: &migrator_core::queue::MigrationHop) {
    migrator_core::relay::publish_recorded(&st.pool, &st.publisher, outbox_id, hop).await;
}

/// Who reads a start outcome: the app sees app-facing statuses, operators the real ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The mobile app.
    App,
    /// An operator.
    Operator,
}

/// Renders a start outcome: 202 when a migration started or resumed, else 200.
pub async fn respond(st: &AppState, outcome: StartOutcome, to: Audience) -> HttpResponse {
    let shown = |s: migrator_core::MigrationStatus| match to {
        Audience::App => s.app_facing(),
        Audience::Operator => s,
    };
    match outcome {
        StartOutcome::Started {
            status,
            outbox_id,
            hop,
        } => {
            st.metrics.migration_started();
            relay(st, outbox_id, &hop).await;
            HttpResponse::Accepted().json(json!({ "migration_status": shown(status) }))
        }
        StartOutcome::Current(status) => {
            HttpResponse::Ok().json(json!({ "migration_status": shown(status) }))
        }
    }
}

/// Starts (or resumes) the caller's migration and returns at once.
pub async fn post_migrate(st: web::Data<AppState>, user: AppUser) -> ApiResult<HttpResponse> {
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    let outcome = migration::start(&mut c, account.id).await?;
    drop(c);
    Ok(respond(&st, outcome, Audience::App).await)
}

/// Status and progress: one indexed read.
pub async fn check_status(st: web::Data<AppState>, user: AppUser) -> ApiResult<HttpResponse> {
    let mut c = conn(&st).await?;
    let v = migration::status_view(&mut c, &user.shopper_id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "migration_status": v.migration_status.app_facing(),
        "progress": {
            "threads_total": v.threads_total,
            "threads_migrated": v.threads_migrated,
            "messages_migrated": v.messages_migrated,
            "attachments_failed": v.attachments_failed,
            "attachments_pending": v.attachments_pending,
        },
        "updated_at": views::ts(v.updated_at),
    })))
}
