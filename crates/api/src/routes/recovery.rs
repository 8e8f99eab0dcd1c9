//! Operator endpoints that set failed migrations going again: retry a failed phase, parked runs
//! and their un-parking, dead letters and their replay.

use super::migration::{respond, Audience};
use super::{conn, paging, parse_id, views};
use crate::audit::{audited, outcome_detail};
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use migrator_core::db::queries::{accounts, attachments, audit, dead_letters, migration};
use migrator_core::ids::ShopperId;
use scoped_futures::ScopedFutureExt;
use serde::Deserialize;
use serde_json::json;

/// `?page=&per_page=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    page: Option<i64>,
    per_page: Option<i64>,
}

fn shopper(path: &str) -> Result<ShopperId, ApiError> {
    ShopperId::parse(path).map_err(|e| ApiError::bad_request("invalid_shopper_id", e.to_string()))
}

/// Re-runs the failed phase without wiping anything (unlike remigrate); `only_parked` for an
/// un-park.
async fn retry(
    st: &AppState,
    who: &AdminUser,
    path: &str,
    only_parked: bool,
) -> ApiResult<HttpResponse> {
    let shopper_id = shopper(path)?;
    let action = if only_parked { "unpark" } else { "retry" };
    let outcome = audited(
        st,
        who,
        action,
        &shopper_id.to_string(),
        |c| {
            async move {
                let account = accounts::find_by_shopper(c, &shopper_id).await?;
                migration::retry_failed(c, account.id, only_parked).await
            }
            .scope_boxed()
        },
        outcome_detail,
    )
    .await?;
    Ok(respond(st, outcome, Audience::Operator).await)
}

/// `POST /admin/accounts/{shopper_id}/retry`.
pub async fn retry_failed(
    st: web::Data<AppState>,
    who: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    retry(&st, &who, &path, false).await
}

/// `POST /admin/accounts/{shopper_id}/unpark`.
pub async fn unpark(
    st: web::Data<AppState>,
    who: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    retry(&st, &who, &path, true).await
}

/// `GET /admin/parked`: runs given up after their attempts, newest first.
pub async fn list_parked(
    st: web::Data<AppState>,
    _: AdminUser,
    q: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    let (page, per_page) = paging(q.page, q.per_page, 50, 100)?;
    let mut c = conn(&st).await?;
    let (rows, total) = migration::list_parked(&mut c, page, per_page).await?;
    let list: Vec<_> = rows
        .iter()
        .map(|(a, r)| {
            json!({
                "shopper_id": a.shopper_id,
                "migration_status": a.migration_status,
                "run_id": r.id,
                "phase": r.phase,
                "total_attempts": r.total_attempts,
                "last_error": r.last_error,
                "parked_at": r.parked_at.map(views::ts),
            })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "parked": list, "page": page, "per_page": per_page, "total_count": total })))
}

/// `GET /admin/dead-letters`: hops given up, newest first.
pub async fn list_dead_letters(
    st: web::Data<AppState>,
    _: AdminUser,
    q: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    let (page, per_page) = paging(q.page, q.per_page, 50, 100)?;
    let mut c = conn(&st).await?;
    let (rows, total) = dead_letters::list(&mut c, page, per_page).await?;
    let list: Vec<_> = rows
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "account_id": d.account_id,
                "run_id": d.run_id,
                "phase": d.phase,
                "hop": d.hop,
                "error": d.error,
                "created_at": views::ts(d.created_at),
                "replayed_at": d.replayed_at.map(views::ts),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(
        json!({ "dead_letters": list, "page": page, "per_page": per_page, "total_count": total }),
    ))
}

/// `POST /admin/dead-letters/{id}/replay`.
pub async fn replay_dead_letter(
    st: web::Data<AppState>,
    who: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id: i64 = parse_id(&path)?;
    let outcome = audited(
        &st,
        &who,
        "replay_dead_letter",
        &id.to_string(),
        |c| async move { migration::replay_dead_letter(c, id).await }.scope_boxed(),
        outcome_detail,
    )
    .await?;
    Ok(respond(&st, outcome, Audience::Operator).await)
}

/// `?status=failed|pending&page=&per_page=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentQuery {
    status: String,
    page: Option<i64>,
    per_page: Option<i64>,
}

/// `GET /admin/accounts/{shopper_id}/attachments?status=failed`: failed or pending attachments
/// with their full reasons and attempts (the app sees only a short code).
pub async fn list_attachments(
    st: web::Data<AppState>,
    _: AdminUser,
    path: web::Path<String>,
    q: web::Query<AttachmentQuery>,
) -> ApiResult<HttpResponse> {
    let shopper_id = shopper(&path)?;
    if !["failed", "pending", "stored"].contains(&q.status.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_status",
            "status must be failed, pending or stored",
        ));
    }
    let (page, per_page) = paging(q.page, q.per_page, 50, 100)?;
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &shopper_id).await?;
    let (rows, total) =
        attachments::list_by_status(&mut c, account.id, &q.status, page, per_page).await?;
    let list: Vec<_> = rows
        .iter()
        .map(|a| {
            json!({
                "id": a.id, "message_id": a.message_id, "file_name": a.file_name,
                "media_url": a.media_url, "status": a.status, "failure": a.failure,
                "failure_reason": a.failure_reason, "attempts": a.attempts,
                "next_attempt_at": a.next_attempt_at.map(views::ts),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(
        json!({ "attachments": list, "page": page, "per_page": per_page, "total_count": total }),
    ))
}

/// `GET /admin/audit-log`: operators' writes, newest first.
pub async fn list_audit_log(
    st: web::Data<AppState>,
    _: AdminUser,
    q: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    let (page, per_page) = paging(q.page, q.per_page, 50, 100)?;
    let mut c = conn(&st).await?;
    let (rows, total) = audit::list(&mut c, page, per_page).await?;
    let list: Vec<_> = rows
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "actor": e.actor, "action": e.action, "target": e.target,
                "detail": e.detail, "created_at": views::ts(e.created_at),
            })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "entries": list, "page": page, "per_page": per_page, "total_count": total })))
}
