//! An account's history and its rejects, for operators (and the console's account page): what
//! happened to the C1's migration, when, and which source items were refused with their raw
//! bodies. Reads only; each along an index of the account and bounded.

use super::recovery::Page;
use super::shared::{conn, paging, shopper, Depth};
use crate::auth::AdminUser;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::views::errors::Errors;
use crate::views::history::{HistoryBody, RejectBody, RejectsPage};
use crate::views::PageInfo;
use actix_web::web;
use migrator_core::ids::ShopperId;
use migrator_store::queries::{destination::accounts, operators::history};

/// What one history holds at most of each kind.
const BOUNDS: history::Bounds = history::Bounds {
    runs: 20,
    audit: 50,
    dead_letters: 20,
};

/// The account's runs and one timeline of everything that happened to its migration: each
/// run's start (and lane), phases, parking, verification and end, its dead letters and the
/// operators' writes on it; newest first.
#[utoipa::path(get, path = "/admin/accounts/{shopper_id}/history", tag = "admin",
    security(("bearer" = [])), params(("shopper_id" = ShopperId, Path)),
    responses((status = 200, description = "the account's history", body = HistoryBody), Errors))]
pub async fn get_history(
    st: web::Data<AppState>,
    _: AdminUser,
    path: web::Path<String>,
) -> ApiResult<web::Json<HistoryBody>> {
    Ok(web::Json(history_of(&st, shopper(&path)?).await?))
}

/// The C1's history (404 when the account is unknown).
pub async fn history_of(st: &AppState, shopper_id: ShopperId) -> ApiResult<HistoryBody> {
    let mut c = conn(st).await?;
    let account = accounts::find_by_shopper(&mut c, &shopper_id).await?;
    let h = history::of_account(&mut c, account.id, shopper_id.as_str(), BOUNDS).await?;
    Ok(HistoryBody::new(shopper_id, account.migration_status, &h))
}

/// The account's rejected source items, newest first: the reason and the raw item.
#[utoipa::path(get, path = "/admin/accounts/{shopper_id}/rejects", tag = "admin",
    security(("bearer" = [])), params(("shopper_id" = ShopperId, Path), Page),
    responses((status = 200, description = "a page of rejects", body = RejectsPage), Errors))]
pub async fn list_rejects(
    st: web::Data<AppState>,
    _: AdminUser,
    path: web::Path<String>,
    q: web::Query<Page>,
) -> ApiResult<web::Json<RejectsPage>> {
    Ok(web::Json(rejects_page(&st, &shopper(&path)?, &q).await?))
}

/// A page of the C1's rejects.
pub async fn rejects_page(
    st: &AppState,
    shopper_id: &ShopperId,
    q: &Page,
) -> ApiResult<RejectsPage> {
    let asked = paging(
        q.page,
        q.per_page,
        q.after.as_deref(),
        (20, 100, Depth::Bounded),
        history::REJECTS,
    )?;
    let mut c = conn(st).await?;
    let account = accounts::find_by_shopper(&mut c, shopper_id).await?;
    let page = history::rejects(&mut c, account.id, &asked.start, asked.per_page).await?;
    Ok(RejectsPage {
        rejects: page.rows.iter().map(RejectBody::from).collect(),
        paging: PageInfo::of(&asked, &page),
    })
}
