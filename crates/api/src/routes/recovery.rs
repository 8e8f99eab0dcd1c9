//! Operator endpoints that set failed migrations going again: retry a failed phase, parked runs
//! and their un-parking, dead letters and their replay.

use super::migration::{respond, Audience};
use super::{conn, paging, parse_id, views};
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use migrator_core::db::queries::{accounts, dead_letters, migration};
use migrator_core::ids::ShopperId;
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
async fn retry(st: &AppState, path: &str, only_parked: bool) -> ApiResult<HttpResponse> {
    let shopper_id = shopper(path)?;
    let mut c = conn(st).await?;
    let account = accounts::find_by_shopper(&mut c, &shopper_id).await?;
    let outcome = migration::retry_failed(&mut c, account.id, only_parked).await?;
    drop(c);
    Ok(respond(st, outcome, Audience::Operator).await)
}

/// `POST /admin/accounts/{shopper_id}/retry`.
pub async fn retry_failed(
    st: web::Data<AppState>,
    _: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    retry(&st, &path, false).await
}

/// `POST /admin/accounts/{shopper_id}/unpark`.
pub async fn unpark(
    st: web::Data<AppState>,
    _: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    retry(&st, &path, true).await
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
    _: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id: i64 = parse_id(&path)?;
    let mut c = conn(&st).await?;
    let outcome = migration::replay_dead_letter(&mut c, id).await?;
    drop(c);
    Ok(respond(&st, outcome, Audience::Operator).await)
}
