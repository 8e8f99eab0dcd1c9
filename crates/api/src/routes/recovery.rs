//! Operator endpoints that set failed migrations going again and show what went wrong: retry a
//! failed phase, parked runs and their un-parking, dead letters and their replay, an account's
//! failed or pending attachments with their full reasons, and the audit log.

use super::shared::{conn, paging, parse_id, shopper, Depth, Paging};
use super::starts::{answer, publish, Audience};
use crate::audit::{audited, outcome_detail};
use crate::auth::AdminUser;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::views::admin::{
    AdminAttachmentBody, AttachmentsPage, AuditBody, AuditPage, DeadLetterBody, DeadLettersPage,
    ParkedBody, ParkedPage,
};
use crate::views::app::MigrateBody;
use crate::views::errors::{Conflict, Errors};
use crate::views::PageInfo;
use actix_web::{web, HttpResponse};
use migrator_core::ids::ShopperId;
use migrator_store::queries::workflow::migration::StartOutcome;
use migrator_store::queries::{
    destination::accounts, destination::attachments, operators::audit, operators::listing,
    workflow::dead_letters, workflow::migration,
};
use scoped_futures::ScopedFutureExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// `?page=&per_page=&after=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// 1-based; at most 1,000 rows deep (then `after`).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
    /// The previous page's `next` (wins over `page`).
    #[param(max_length = 2048)]
    pub after: Option<String>,
}

impl Page {
    fn checked(&self, order: &str) -> Result<Paging, crate::error::ApiError> {
        paging(
            self.page,
            self.per_page,
            self.after.as_deref(),
            (50, 100, Depth::Bounded),
            order,
        )
    }
}

/// Re-runs the C1's failed phase without wiping anything (unlike remigrate), audited as
/// `who`'s, its hop published ([`publish`]); `only_parked` for an un-park (409 when the run is
/// not parked).
pub async fn restart_failed(
    st: &AppState,
    who: &AdminUser,
    shopper_id: ShopperId,
    only_parked: bool,
) -> ApiResult<StartOutcome> {
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
    publish(st, &outcome);
    Ok(outcome)
}

/// Re-runs the failed phase as its restart rule says (a repair, a resume, or a new run),
/// without wiping anything; the run's attempts start again from zero.
#[utoipa::path(post, path = "/admin/accounts/{shopper_id}/retry", tag = "admin",
    security(("bearer" = [])), params(("shopper_id" = ShopperId, Path)),
    responses((status = 202, description = "the phase runs again", body = MigrateBody),
        Errors, Conflict))]
pub async fn retry_failed(
    st: web::Data<AppState>,
    who: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let outcome = restart_failed(&st, &who, shopper(&path)?, false).await?;
    Ok(answer(outcome, Audience::Operator))
}

/// Un-parks a run given up after `worker.max_total_attempts`: as a retry, for parked runs only.
#[utoipa::path(post, path = "/admin/accounts/{shopper_id}/unpark", tag = "admin",
    security(("bearer" = [])), params(("shopper_id" = ShopperId, Path)),
    responses((status = 202, description = "the phase runs again", body = MigrateBody),
        Errors, Conflict))]
pub async fn unpark(
    st: web::Data<AppState>,
    who: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let outcome = restart_failed(&st, &who, shopper(&path)?, true).await?;
    Ok(answer(outcome, Audience::Operator))
}

/// Runs given up after their attempts, newest first, with their last error.
#[utoipa::path(get, path = "/admin/parked", tag = "admin", security(("bearer" = [])), params(Page),
    responses((status = 200, description = "a page of parked runs", body = ParkedPage), Errors))]
pub async fn list_parked(
    st: web::Data<AppState>,
    _: AdminUser,
    q: web::Query<Page>,
) -> ApiResult<web::Json<ParkedPage>> {
    Ok(web::Json(parked_page(&st, &q).await?))
}

/// A page of parked runs.
pub async fn parked_page(st: &AppState, q: &Page) -> ApiResult<ParkedPage> {
    let asked = q.checked(listing::PARKED)?;
    let mut c = conn(st).await?;
    let page = listing::list_parked(&mut c, &asked.start, asked.per_page).await?;
    Ok(ParkedPage {
        parked: page.rows.iter().map(ParkedBody::from).collect(),
        paging: PageInfo::of(&asked, &page),
    })
}

/// Hops given up, newest first, with their error.
#[utoipa::path(get, path = "/admin/dead-letters", tag = "admin", security(("bearer" = [])),
    params(Page),
    responses((status = 200, description = "a page of dead letters", body = DeadLettersPage), Errors))]
pub async fn list_dead_letters(
    st: web::Data<AppState>,
    _: AdminUser,
    q: web::Query<Page>,
) -> ApiResult<web::Json<DeadLettersPage>> {
    Ok(web::Json(dead_letters_page(&st, &q).await?))
}

/// A page of dead letters.
pub async fn dead_letters_page(st: &AppState, q: &Page) -> ApiResult<DeadLettersPage> {
    let asked = q.checked(dead_letters::ORDER)?;
    let mut c = conn(st).await?;
    let page = dead_letters::list(&mut c, &asked.start, asked.per_page).await?;
    Ok(DeadLettersPage {
        dead_letters: page.rows.iter().map(DeadLetterBody::from).collect(),
        paging: PageInfo::of(&asked, &page),
    })
}

/// Replays a dead letter: its migration's failed phase runs again, when its run is still the
/// account's.
#[utoipa::path(post, path = "/admin/dead-letters/{id}/replay", tag = "admin",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 202, description = "the phase runs again", body = MigrateBody),
        Errors, Conflict))]
pub async fn replay_dead_letter(
    st: web::Data<AppState>,
    who: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let outcome = replay(&st, &who, parse_id(&path)?).await?;
    Ok(answer(outcome, Audience::Operator))
}

/// Replays dead letter `id`, audited as `who`'s, its hop published ([`publish`]) (404 when
/// unknown, 409 when its run is no longer the account's).
pub async fn replay(st: &AppState, who: &AdminUser, id: i64) -> ApiResult<StartOutcome> {
    let outcome = audited(
        st,
        who,
        "replay_dead_letter",
        &id.to_string(),
        |c| async move { migration::replay_dead_letter(c, id).await }.scope_boxed(),
        outcome_detail,
    )
    .await?;
    publish(st, &outcome);
    Ok(outcome)
}

/// An attachment status to list.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentStatus {
    /// Given up.
    Failed,
    /// Waiting for a download.
    Pending,
    /// Stored.
    Stored,
}

/// `?status=failed|pending|stored&page=&per_page=&after=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AttachmentQuery {
    pub status: AttachmentStatus,
    /// 1-based; at most 1,000 rows deep (then `after`).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
    /// The previous page's `next` (wins over `page`).
    #[param(max_length = 2048)]
    pub after: Option<String>,
}

/// An account's attachments in a status, with their full failure reasons and attempts (the
/// app sees only a short code).
#[utoipa::path(get, path = "/admin/accounts/{shopper_id}/attachments", tag = "admin",
    security(("bearer" = [])), params(("shopper_id" = ShopperId, Path), AttachmentQuery),
    responses((status = 200, description = "a page of attachments", body = AttachmentsPage), Errors))]
pub async fn list_attachments(
    st: web::Data<AppState>,
    _: AdminUser,
    path: web::Path<String>,
    q: web::Query<AttachmentQuery>,
) -> ApiResult<web::Json<AttachmentsPage>> {
    Ok(web::Json(
        attachments_page(&st, &shopper(&path)?, &q).await?,
    ))
}

/// A page of the C1's attachments in `q.status`.
pub async fn attachments_page(
    st: &AppState,
    shopper_id: &ShopperId,
    q: &AttachmentQuery,
) -> ApiResult<AttachmentsPage> {
    let asked = paging(
        q.page,
        q.per_page,
        q.after.as_deref(),
        (50, 100, Depth::Bounded),
        attachments::ORDER,
    )?;
    let status = match q.status {
        AttachmentStatus::Failed => "failed",
        AttachmentStatus::Pending => "pending",
        AttachmentStatus::Stored => "stored",
    };
    let mut c = conn(st).await?;
    let account = accounts::find_by_shopper(&mut c, shopper_id).await?;
    let page =
        attachments::list_by_status(&mut c, account.id, status, &asked.start, asked.per_page)
            .await?;
    Ok(AttachmentsPage {
        attachments: page.rows.iter().map(AdminAttachmentBody::from).collect(),
        paging: PageInfo::of(&asked, &page),
    })
}

/// Operators' writes, newest first: who, what, when, on what.
#[utoipa::path(get, path = "/admin/audit-log", tag = "admin", security(("bearer" = [])),
    params(Page),
    responses((status = 200, description = "a page of the audit log", body = AuditPage), Errors))]
pub async fn list_audit_log(
    st: web::Data<AppState>,
    _: AdminUser,
    q: web::Query<Page>,
) -> ApiResult<web::Json<AuditPage>> {
    Ok(web::Json(audit_page(&st, &q).await?))
}

/// A page of the audit log.
pub async fn audit_page(st: &AppState, q: &Page) -> ApiResult<AuditPage> {
    let asked = q.checked(audit::ORDER)?;
    let mut c = conn(st).await?;
    let page = audit::list(&mut c, &asked.start, asked.per_page).await?;
    Ok(AuditPage {
        entries: page.rows.iter().map(AuditBody::from).collect(),
        paging: PageInfo::of(&asked, &page),
    })
}
