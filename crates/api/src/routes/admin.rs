//! Operator endpoints (operator token): accounts, the real view of a migration, forced
//! re-migration, lists by status, repairs. Every write is audited.

use super::shared::{conn, shopper};
use super::starts::{answer, publish, Audience};
use crate::audit::{audited, outcome_detail};
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonObject;
use crate::state::AppState;
use crate::views::admin::{
    AccountSummary, AccountsPage, MigrationBody, NewAccount, RepairBody, RunBody,
};
use crate::views::app::{is_text, AccountBody, MigrateBody};
use crate::views::errors::{BodyErrors, Conflict, Errors};
use crate::views::{ts, PageInfo};
use actix_web::{web, HttpResponse};
use migrator_core::ids::ShopperId;
use migrator_core::MigrationStatus;
use migrator_store::queries::workflow::migration::StartOutcome;
use migrator_store::queries::{
    destination::accounts, operators::listing, operators::overview, workflow::migration,
    workflow::settling, workflow::sweeps,
};
use scoped_futures::ScopedFutureExt;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

/// What the web chat initiative does: account + default brand + web chat channel,
/// `not-started`.
#[utoipa::path(post, path = "/admin/accounts", tag = "admin", security(("bearer" = [])),
    request_body = NewAccount,
    responses((status = 201, description = "created", body = AccountBody), Errors, BodyErrors, Conflict))]
pub async fn create_account(
    st: web::Data<AppState>,
    who: AdminUser,
    body: JsonObject<NewAccount>,
) -> ApiResult<HttpResponse> {
    let NewAccount { shopper_id, name } = body.into_inner();
    if !valid_name(&name) {
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
    Ok(HttpResponse::Created().json(AccountBody::new(&tree, true)))
}

/// An account's display name: 1 to 256 characters of text (not only blanks, no NUL).
pub fn valid_name(name: &str) -> bool {
    is_text(name) && name.chars().count() <= 256
}

/// The real status, phase, attempts, timings, last error and figures.
#[utoipa::path(get, path = "/admin/accounts/{shopper_id}/migration", tag = "admin",
    security(("bearer" = [])), params(("shopper_id" = ShopperId, Path)),
    responses((status = 200, description = "the migration as it is", body = MigrationBody), Errors))]
pub async fn migration(
    st: web::Data<AppState>,
    _: AdminUser,
    path: web::Path<String>,
) -> ApiResult<web::Json<MigrationBody>> {
    Ok(web::Json(migration_of(&st, &shopper(&path)?).await?))
}

/// The real view of the C1's migration (what `GET /admin/accounts/{shopper_id}` answers); 404
/// when the account is unknown.
pub async fn migration_of(st: &AppState, shopper_id: &ShopperId) -> ApiResult<MigrationBody> {
    let mut c = conn(st).await?;
    let v = overview::admin_view(&mut c, shopper_id).await?;
    let settling = match &v.run {
        Some(r) => settling::get(&mut c, r.id).await?,
        None => None,
    };
    Ok(MigrationBody {
        shopper_id: v.account.shopper_id.clone(),
        migration_status: v.account.migration_status,
        app_migration_status: v.account.migration_status.app_facing(),
        updated_at: ts(v.account.updated_at),
        run: v
            .run
            .as_ref()
            .map(|r| RunBody::from(r).settling(settling.as_ref())),
    })
}

/// Forced re-migration: everything the migration created is removed (native web chat data
/// stays), a new run starts; safe while a migration runs. The files of every superseded run
/// are queued for removal by the workers' sweeper (the new run's are under its own run id).
#[utoipa::path(post, path = "/admin/accounts/{shopper_id}/remigrate", tag = "admin",
    security(("bearer" = [])), params(("shopper_id" = ShopperId, Path)),
    responses((status = 202, description = "a new run started", body = MigrateBody), Errors))]
pub async fn remigrate(
    st: web::Data<AppState>,
    who: AdminUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let outcome = remigrate_account(&st, &who, shopper(&path)?).await?;
    Ok(answer(outcome, Audience::Operator))
}

/// A forced re-migration, audited as `who`'s, its hop published ([`publish`]); its outcome (started, or
/// the status in force).
pub async fn remigrate_account(
    st: &AppState,
    who: &AdminUser,
    shopper_id: ShopperId,
) -> ApiResult<StartOutcome> {
    let (outcome, _superseded) = audited(
        st,
        who,
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
    // the superseded runs' files were queued for removal in the same transaction: a worker's
    // sweeper removes them (the api's view of the store is read-only)
    publish(st, &outcome);
    Ok(outcome)
}

/// Verification results operators list by.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerificationResult {
    Match,
    Diff,
}

/// `?status=&stuck_for_secs=&error=&verification=&page=&per_page=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this status (the real one).
    pub status: Option<MigrationStatus>,
    /// Only migrations without progress for this many seconds (stuck ones).
    #[param(minimum = 1, maximum = 31536000)]
    pub stuck_for_secs: Option<i64>,
    /// Only runs whose last error holds this text (case-insensitive), 3 to 200 characters (a
    /// shorter one gives the trigram index nothing to narrow by).
    #[param(min_length = 3, max_length = 200)]
    pub error: Option<String>,
    /// Only accounts whose run's latest verification gave this result.
    pub verification: Option<VerificationResult>,
    /// 1-based; at most 1,000 rows deep (then `after`).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
    /// The previous page's `next` (wins over `page`); a cursor belongs to its filter's order.
    #[param(max_length = 2048)]
    pub after: Option<String>,
}

/// Migrations by status, stuck ones, those whose last error holds a text, or by their
/// verification's result; oldest change first.
#[utoipa::path(get, path = "/admin/migrations", tag = "admin", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "a page of accounts", body = AccountsPage), Errors))]
pub async fn list_migrations(
    st: web::Data<AppState>,
    _: AdminUser,
    q: web::Query<ListQuery>,
) -> ApiResult<web::Json<AccountsPage>> {
    Ok(web::Json(migrations_page(&st, &q).await?))
}

/// A page of migrations as `q` filters them (400 `invalid_filter`, or a paging refusal).
pub async fn migrations_page(st: &AppState, q: &ListQuery) -> ApiResult<AccountsPage> {
    if q.stuck_for_secs
        .is_some_and(|s| !(1..=31_536_000).contains(&s))
        || q.error
            .as_ref()
            .is_some_and(|e| !(3..=200).contains(&e.chars().count()))
    {
        return Err(ApiError::bad_request(
            "invalid_filter",
            "stuck_for_secs is 1 to 31536000, error 3 to 200 characters (a shorter text \
             cannot use the error index)",
        ));
    }
    let filter = listing::ListFilter {
        status: q.status,
        stuck_for_secs: q.stuck_for_secs,
        error: q.error.clone(),
        verification: q.verification.map(|v| {
            match v {
                VerificationResult::Match => "match",
                VerificationResult::Diff => "diff",
            }
            .to_string()
        }),
    };
    use super::shared::Depth;
    let asked = super::shared::paging(
        q.page,
        q.per_page,
        q.after.as_deref(),
        (50, 100, Depth::Bounded),
        filter.order_name(),
    )?;
    let mut c = conn(st).await?;
    let page = listing::list(&mut c, &filter, &asked.start, asked.per_page).await?;
    Ok(AccountsPage {
        accounts: page.rows.iter().map(AccountSummary::from).collect(),
        paging: PageInfo::of(&asked, &page),
    })
}

/// Stops a running migration: its phase fails as "cancelled by an operator" (nothing is
/// deleted) and the run is parked; a retry or un-park starts it again.
#[utoipa::path(post, path = "/admin/accounts/{shopper_id}/cancel", tag = "admin",
    security(("bearer" = [])), params(("shopper_id" = ShopperId, Path)),
    responses((status = 200, description = "cancelled", body = MigrateBody), Errors, Conflict))]
pub async fn cancel(
    st: web::Data<AppState>,
    who: AdminUser,
    path: web::Path<String>,
) -> ApiResult<web::Json<MigrateBody>> {
    let status = cancel_account(&st, &who, shopper(&path)?).await?;
    Ok(web::Json(MigrateBody {
        migration_status: status,
    }))
}

/// Stops the C1's running migration, audited as `who`'s; the status it leaves (409 when
/// nothing runs).
pub async fn cancel_account(
    st: &AppState,
    who: &AdminUser,
    shopper_id: ShopperId,
) -> ApiResult<MigrationStatus> {
    audited(
        st,
        who,
        "cancel",
        &shopper_id.to_string(),
        |c| {
            async move {
                let account = accounts::find_by_shopper(c, &shopper_id).await?;
                migration::cancel(c, account.id).await
            }
            .scope_boxed()
        },
        |s| json!({ "migration_status": s }),
    )
    .await
}

/// Accounts one repair request enqueues at most (call again for more: the answer says how
/// many it took); the sweeper repairs the rest by itself.
const REPAIRS_PER_CALL: i64 = 5_000;

/// Re-runs the all-messages step for `messages-failure` accounts now, up to 5,000 a call
/// (parked ones excepted: un-park them).
#[utoipa::path(post, path = "/admin/migrations/repair", tag = "admin", security(("bearer" = [])),
    responses((status = 202, description = "repairs enqueued", body = RepairBody), Errors))]
pub async fn repair(st: web::Data<AppState>, who: AdminUser) -> ApiResult<HttpResponse> {
    let hops = audited(
        &st,
        &who,
        "repair",
        "messages-failure",
        |c| async move { sweeps::enqueue_repairs(c, 0, REPAIRS_PER_CALL).await }.scope_boxed(),
        |h| json!({ "enqueued": h.len() }),
    )
    .await?;
    let enqueued = hops.len();
    super::starts::relay(&st, hops);
    Ok(HttpResponse::Accepted().json(RepairBody { enqueued }))
}
