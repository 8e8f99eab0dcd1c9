//! Campaigns and the program (spec/api.md): an operator starts a campaign over the accounts
//! the app path has not moved, pauses, resumes or cancels it, and reads the program's
//! progress against the sunset date. Every write is audited; the driver runs in the workers.

use super::shared::{conn, parse_id};
use crate::audit::audited;
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonObject;
use crate::state::AppState;
use crate::views::campaigns::{
    shopper_ids, CampaignBody, CampaignPace, CampaignRequest, CampaignsBody, DryRunBody,
    ProgramBody, ProgramView,
};
use crate::views::errors::{BodyErrors, Conflict, Errors};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;
use migrator_core::campaign::CampaignMove;
use migrator_core::ids::CampaignId;
use migrator_core::MigrationStatus;
use migrator_store::queries::operators::program;
use migrator_store::queries::workflow::campaign_drive::completed_since;
use migrator_store::queries::workflow::campaign_dry_run;
use migrator_store::queries::workflow::campaigns::{self, Campaign, NewCampaign, Selection};
use scoped_futures::ScopedFutureExt;
use serde_json::json;

/// Shopper ids one campaign may name.
const MAX_SHOPPER_IDS: usize = 10_000;
/// How long `POST /admin/campaigns` takes the selection before it answers (the driver
/// finishes a larger one).
const SELECT_FOR: std::time::Duration = std::time::Duration::from_secs(20);

fn bad(code: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, msg.into())
}

fn instant(s: &str, field: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad("invalid_time", format!("{field} must be an RFC 3339 time")))
}

fn checked_rate(rate: f64) -> Result<f64, ApiError> {
    if !(rate > 0.0 && rate <= 10_000.0) {
        return Err(bad(
            "invalid_rate",
            "rate_per_sec is above 0 and at most 10000",
        ));
    }
    Ok(rate)
}

fn checked_in_flight(n: i32) -> Result<i32, ApiError> {
    if !(1..=100_000).contains(&n) {
        return Err(bad("invalid_max_in_flight", "max_in_flight is 1 to 100000"));
    }
    Ok(n)
}

/// The request checked: every refusal its own 400.
fn checked(r: CampaignRequest, by: &str) -> Result<NewCampaign, ApiError> {
    let statuses = r.statuses.unwrap_or_else(|| {
        vec![
            MigrationStatus::NotStarted,
            MigrationStatus::ChannelFailure,
            MigrationStatus::RecentMessagesFailure,
        ]
    });
    if statuses.is_empty() || statuses.len() > 8 {
        return Err(bad("invalid_statuses", "statuses lists 1 to 8 statuses"));
    }
    let deadline = instant(&r.deadline, "deadline")?;
    if deadline <= Utc::now() {
        return Err(bad("invalid_deadline", "the deadline is in the past"));
    }
    let created_before = r
        .created_before
        .as_deref()
        .map(|s| instant(s, "created_before"))
        .transpose()?;
    let ids = match r.shopper_ids {
        Some(ids) if ids.is_empty() || ids.len() > MAX_SHOPPER_IDS => {
            return Err(bad(
                "invalid_shopper_ids",
                format!("shopper_ids lists 1 to {MAX_SHOPPER_IDS} ids, or is null"),
            ))
        }
        Some(ids) => Some(shopper_ids(&ids).map_err(|e| bad("invalid_shopper_ids", e))?),
        None => None,
    };
    let rate = checked_rate(r.rate_per_sec.unwrap_or(20.0))?;
    let max_in_flight = checked_in_flight(r.max_in_flight.unwrap_or(200))?;
    Ok(NewCampaign {
        selection: Selection {
            statuses,
            created_before,
            shopper_ids: ids,
        },
        rate_per_sec: rate,
        max_in_flight,
        deadline,
        created_by: by.to_string(),
    })
}

/// A campaign's body: its figures from `campaign_counts` and the completions table.
async fn body(c: &mut AsyncPgConnection, camp: &Campaign) -> ApiResult<CampaignBody> {
    let now = Utc::now();
    let since = (now - Duration::minutes(10)).max(camp.created_at);
    let members = campaigns::members(c, camp.id).await?;
    let recent = completed_since(c, Some("campaign"), since).await?;
    Ok(CampaignBody::new(camp, &members, recent, since, now))
}

/// Starts a campaign: its selection is taken (in batches; a selection that takes longer than
/// 20 s is finished by the driver, `selecting` true meanwhile), then workers start its
/// accounts at its rate. 409 while another is running or paused.
#[utoipa::path(post, path = "/admin/campaigns", tag = "program", security(("bearer" = [])),
    request_body = CampaignRequest,
    responses((status = 201, description = "started", body = CampaignBody), Errors, BodyErrors,
        Conflict))]
pub async fn start(
    st: web::Data<AppState>,
    who: AdminUser,
    req: JsonObject<CampaignRequest>,
) -> ApiResult<HttpResponse> {
    let camp = start_campaign(&st, &who, req.into_inner()).await?;
    Ok(HttpResponse::Created().json(camp))
}

/// Campaigns, newest first (the newest 100).
#[utoipa::path(get, path = "/admin/campaigns", tag = "program", security(("bearer" = [])),
    responses((status = 200, description = "campaigns", body = CampaignsBody), Errors))]
pub async fn list(st: web::Data<AppState>, _: AdminUser) -> ApiResult<web::Json<CampaignsBody>> {
    Ok(web::Json(recent_campaigns(&st).await?))
}

/// The latest 100 campaigns with their figures, newest first.
pub async fn recent_campaigns(st: &AppState) -> ApiResult<CampaignsBody> {
    let mut c = conn(st).await?;
    let mut out = Vec::new();
    for camp in campaigns::list(&mut c, 100).await? {
        out.push(body(&mut c, &camp).await?);
    }
    Ok(CampaignsBody { campaigns: out })
}

/// A campaign and its figures; 404 when unknown.
#[utoipa::path(get, path = "/admin/campaigns/{id}", tag = "program", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "campaign id")),
    responses((status = 200, description = "the campaign", body = CampaignBody), Errors))]
pub async fn get(
    st: web::Data<AppState>,
    _: AdminUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<CampaignBody>> {
    Ok(web::Json(campaign_now(&st, parse_id(&id)?).await?))
}

/// Campaign `id` with its figures; 404 when unknown.
pub async fn campaign_now(st: &AppState, id: CampaignId) -> ApiResult<CampaignBody> {
    let mut c = conn(st).await?;
    let camp = campaigns::get(&mut c, id).await?;
    body(&mut c, &camp).await
}

/// How many accounts a campaign of this request would select now, writing nothing (what the
/// console shows before an operator confirms a start): the same checks as a start, each
/// refusal its own 400. Exact from the summaries for a selection by status, by the list for
/// shopper ids; among the first 100,000 accounts of its statuses when by creation time too
/// (then `exact` false past them).
#[utoipa::path(post, path = "/admin/campaigns/dry-run", tag = "program",
    security(("bearer" = [])), request_body = CampaignRequest,
    responses((status = 200, description = "what a start would select", body = DryRunBody),
        Errors, BodyErrors))]
pub async fn dry_run(
    st: web::Data<AppState>,
    who: AdminUser,
    req: JsonObject<CampaignRequest>,
) -> ApiResult<web::Json<DryRunBody>> {
    Ok(web::Json(dry_run_of(&st, &who, req.into_inner()).await?))
}

/// A dry run of `req` as `who` would start it.
pub async fn dry_run_of(
    st: &AppState,
    who: &AdminUser,
    req: CampaignRequest,
) -> ApiResult<DryRunBody> {
    let new = checked(req, &who.sub)?;
    let mut c = conn(st).await?;
    let n = campaign_dry_run::count(&mut c, &new.selection).await?;
    Ok(DryRunBody {
        accounts: n.accounts,
        exact: n.exact,
        statuses: new
            .selection
            .statuses
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        rate_per_sec: new.rate_per_sec,
        deadline: crate::views::ts(new.deadline),
    })
}

/// Starts campaign `new` as `who` (audited), taking its selection for up to 20 s.
pub async fn start_campaign(
    st: &AppState,
    who: &AdminUser,
    req: CampaignRequest,
) -> ApiResult<CampaignBody> {
    let new = checked(req, &who.sub)?;
    let id = audited(
        st,
        who,
        "campaign_start",
        "campaigns",
        |c| async move { campaigns::create(c, &new).await }.scope_boxed(),
        |id| json!({ "campaign": id }),
    )
    .await?;
    let mut c = conn(st).await?;
    let until = std::time::Instant::now() + SELECT_FOR;
    let batch = st.settings.campaign.select_batch;
    while !campaigns::select_batch(&mut c, id, batch).await? && std::time::Instant::now() < until {}
    let camp = campaigns::get(&mut c, id).await?;
    body(&mut c, &camp).await
}

/// Changes a running or paused campaign's pace live: `rate_per_sec`, `max_in_flight` (one
/// left out keeps its value); the driver takes it at its next tick. Audited with the pace
/// before and after. 409 when the campaign is over, 404 when unknown.
#[utoipa::path(patch, path = "/admin/campaigns/{id}", tag = "program", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "campaign id")), request_body = CampaignPace,
    responses((status = 200, description = "the campaign at its new pace", body = CampaignBody),
        Errors, BodyErrors, Conflict))]
pub async fn set_pace(
    st: web::Data<AppState>,
    who: AdminUser,
    id: web::Path<String>,
    req: JsonObject<CampaignPace>,
) -> ApiResult<web::Json<CampaignBody>> {
    let id: CampaignId = parse_id(&id)?;
    let CampaignPace {
        rate_per_sec,
        max_in_flight,
    } = req.into_inner();
    let rate = rate_per_sec.map(checked_rate).transpose()?;
    let cap = max_in_flight.map(checked_in_flight).transpose()?;
    let (_, camp) = audited(
        &st,
        &who,
        "campaign_set_pace",
        &id.to_string(),
        |c| async move { campaigns::set_pace(c, id, rate, cap).await }.scope_boxed(),
        |(before, after)| {
            json!({
                "rate_per_sec": {"from": before.rate_per_sec, "to": after.rate_per_sec},
                "max_in_flight": {"from": before.max_in_flight, "to": after.max_in_flight},
            })
        },
    )
    .await?;
    let mut c = conn(&st).await?;
    Ok(web::Json(body(&mut c, &camp).await?))
}

/// Pauses, resumes or cancels campaign `id` (`m`), audited as `who`'s with the move's name (404
/// when unknown, 409 when it is over); the campaign after.
pub async fn move_campaign(
    st: &AppState,
    who: &AdminUser,
    id: CampaignId,
    m: CampaignMove,
) -> ApiResult<CampaignBody> {
    let action = match m {
        CampaignMove::Pause => "campaign_pause",
        CampaignMove::Resume => "campaign_resume",
        CampaignMove::Cancel => "campaign_cancel",
        CampaignMove::Finish => "campaign_finish",
    };
    let camp = audited(
        st,
        who,
        action,
        &id.to_string(),
        |c| async move { campaigns::change(c, id, m).await }.scope_boxed(),
        |c| json!({ "state": c.state() }),
    )
    .await?;
    let mut c = conn(st).await?;
    body(&mut c, &camp).await
}

/// Stops starting accounts; migrations in flight go on. 409 when it is over.
#[utoipa::path(post, path = "/admin/campaigns/{id}/pause", tag = "program",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "campaign id")),
    responses((status = 200, description = "paused", body = CampaignBody), Errors, Conflict))]
pub async fn pause(
    st: web::Data<AppState>,
    who: AdminUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<CampaignBody>> {
    let id = parse_id(&id)?;
    Ok(web::Json(
        move_campaign(&st, &who, id, CampaignMove::Pause).await?,
    ))
}

/// Starts accounts again. 409 when it is over.
#[utoipa::path(post, path = "/admin/campaigns/{id}/resume", tag = "program",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "campaign id")),
    responses((status = 200, description = "resumed", body = CampaignBody), Errors, Conflict))]
pub async fn resume(
    st: web::Data<AppState>,
    who: AdminUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<CampaignBody>> {
    let id = parse_id(&id)?;
    Ok(web::Json(
        move_campaign(&st, &who, id, CampaignMove::Resume).await?,
    ))
}

/// Stops for good; nothing in flight is undone. 409 when it is over.
#[utoipa::path(post, path = "/admin/campaigns/{id}/cancel", tag = "program",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "campaign id")),
    responses((status = 200, description = "cancelled", body = CampaignBody), Errors, Conflict))]
pub async fn cancel(
    st: web::Data<AppState>,
    who: AdminUser,
    id: web::Path<String>,
) -> ApiResult<web::Json<CampaignBody>> {
    let id = parse_id(&id)?;
    Ok(web::Json(
        move_campaign(&st, &who, id, CampaignMove::Cancel).await?,
    ))
}

/// The program's figures worked out, with the deadline in force (the live campaign's, else
/// `program.deadline`).
pub async fn program_view(
    st: &AppState,
    c: &mut AsyncPgConnection,
) -> migrator_core::CoreResult<ProgramView> {
    let figures = program::read(c).await?;
    let deadline = match campaigns::live(c).await? {
        Some(camp) => Some(camp.deadline),
        None => st.settings.program.deadline,
    };
    Ok(ProgramView::new(figures, deadline, Utc::now()))
}

/// The whole population's progress: accounts by status, completions by lane, the projected
/// finish at the last hour's rate against the deadline. Read from summaries, never a count.
#[utoipa::path(get, path = "/admin/program", tag = "program", security(("bearer" = [])),
    responses((status = 200, description = "the program", body = ProgramBody), Errors))]
pub async fn get_program(
    st: web::Data<AppState>,
    _: AdminUser,
) -> ApiResult<web::Json<ProgramBody>> {
    Ok(web::Json(program_now(&st).await?))
}

/// The program's figures as operators read them.
pub async fn program_now(st: &AppState) -> ApiResult<ProgramBody> {
    let mut c = conn(st).await?;
    let view = program_view(st, &mut c).await?;
    Ok(ProgramBody::from(&view))
}
