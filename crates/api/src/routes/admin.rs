//! Operator endpoints (admin token).

use super::migration::{respond, Audience};
use super::{conn, paging, views};
use crate::audit::{audited, outcome_detail};
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use migrator_core::db::queries::{accounts, migration, sweeps};
use migrator_core::ids::ShopperId;
use migrator_core::MigrationStatus;
use scoped_futures::ScopedFutureExt;
use serde::Deserialize;
use serde_json::json;

/// `POST /admin/accounts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    shopper_id: ShopperId,
    name: String,
}

fn shopper(path: &str) -> Result<ShopperId, ApiError> {
    ShopperId::parse(path).map_err(|e| ApiError::bad_request("invalid_shopper_id", e.to_string()))
}

/// What the web chat initiative does: account + default brand + web chat channel.
pub async fn create_account(
    st: web::Data<AppState>,
    who: AdminUser,
    body: web::Json<NewAccount>,
) -> ApiResult<HttpResponse> {
    let NewAccount { shopper_id, name } = body.into_inner();
    if name.trim().is_empty() || name.len() > 256 || name.contains('\0') {
        return Err(ApiError::bad_request(
            "invalid_name",
            "name must be 1-256 characters",
        ));
    }
    let target = shopper_id.to_string();
    let tree = audited(
        &st,
        &who,
        "create_account",
        &target,
        |c| async move { accounts::create_with_webchat(c, &shopper_id, &name).await }.scope_boxed(),
        |t| json!({ "account_id": t.account.id }),
    )
    .await?;
    Ok(HttpResponse::Created().json(views::account(&tree, true)))
}

/// The real status, phase, attempts, timings, last error and figures.
pub async fn migration(
    st: web::Data<AppState>,
    _: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let shopper_id = shopper(&path)?;
    let mut c = conn(&st).await?;
    let v = migration::admin_view(&mut c, &shopper_id).await?;
    let run = v.run.as_ref().map(|r| {
        json!({
            "run_id": r.id,
            "phase": r.phase,
            "cancelled": r.cancelled,
            "attempts": r.hop_attempts,
            "total_attempts": r.total_attempts,
            "parked_at": r.parked_at.map(views::ts),
            "last_error": r.last_error,
            "lease_owner": r.lease_owner,
            "lease_expires_at": r.lease_expires_at.map(views::ts),
            "started_at": views::ts(r.started_at),
            "channels_migrated_at": r.channels_at.map(views::ts),
            "recent_messages_migrated_at": r.recent_at.map(views::ts),
            "completed_at": r.completed_at.map(views::ts),
            "finished_at": r.finished_at.map(views::ts),
            "updated_at": views::ts(r.updated_at),
            "figures": {
                "channels_migrated": r.channels_migrated,
                "threads_total": r.threads_total,
                "threads_migrated": r.threads_migrated,
                "messages_migrated": r.messages_migrated,
                "attachments_stored": r.attachments_stored,
                "attachments_failed": r.attachments_failed,
                "attachments_pending": r.attachments_pending,
                "rejects": r.rejects,
            },
        })
    });
    Ok(HttpResponse::Ok().json(json!({
        "shopper_id": v.account.shopper_id,
        "migration_status": v.account.migration_status,
        "app_migration_status": v.account.migration_status.app_facing(),
        "updated_at": views::ts(v.account.updated_at),
        "run": run,
    })))
}

/// Forced re-migration; the files of every superseded run are removed after commit (the new
/// run's are under its own run id, out of reach).
pub async fn remigrate(
    st: web::Data<AppState>,
    who: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let shopper_id = shopper(&path)?;
    let (outcome, superseded) = audited(
        &st,
        &who,
        "remigrate",
        &shopper_id.to_string(),
        |c| {
            async move {
                let account = accounts::find_by_shopper(c, &shopper_id).await?;
                migration::remigrate(c, account.id).await
            }
            .scope_boxed()
        },
        |(o, old)| json!({ "outcome": outcome_detail(o), "superseded_runs": old.len() }),
    )
    .await?;
    for (account, run) in superseded {
        let _ = st.blobs.remove_prefix(&format!("{account}/{run}")).await;
    }
    Ok(respond(&st, outcome, Audience::Operator).await)
}

/// `?status=&page=&per_page=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: String,
    page: Option<i64>,
    per_page: Option<i64>,
}

/// Accounts in a status.
pub async fn list_migrations(
    st: web::Data<AppState>,
    _: AdminUser,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let status: MigrationStatus =
        q.status
            .parse()
            .map_err(|e: migrator_core::status::UnknownStatus| {
                ApiError::bad_request("invalid_status", e.to_string())
            })?;
    let (page, per_page) = paging(q.page, q.per_page, 50, 100)?;
    let mut c = conn(&st).await?;
    let (rows, total) = migration::list_by_status(&mut c, status, page, per_page).await?;
    let list: Vec<_> = rows
        .iter()
        .map(|a| json!({ "shopper_id": a.shopper_id, "name": a.name, "migration_status": a.migration_status, "updated_at": views::ts(a.updated_at) }))
        .collect();
    Ok(HttpResponse::Ok().json(
        json!({ "accounts": list, "page": page, "per_page": per_page, "total_count": total }),
    ))
}

/// Re-runs the all-messages step for every `messages-failure` account now.
pub async fn repair(st: web::Data<AppState>, who: AdminUser) -> ApiResult<HttpResponse> {
    let hops = audited(
        &st,
        &who,
        "repair",
        "messages-failure",
        |c| async move { sweeps::enqueue_repairs(c, 0).await }.scope_boxed(),
        |h| json!({ "enqueued": h.len() }),
    )
    .await?;
    for (id, hop) in &hops {
        super::migration::relay(&st, *id, hop).await;
    }
    Ok(HttpResponse::Accepted().json(json!({ "enqueued": hops.len() })))
}
