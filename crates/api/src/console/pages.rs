//! The overview (program, campaign, fleet), the accounts lists, dead letters and the audit
//! log, and the fleet's and campaigns' buttons: each the admin API's handler, called with the
//! signed-in operator.

use super::render::{page, see_other, urlencode, ConsoleError};
use super::session::{ConsoleUser, CsrfForm};
use crate::error::ApiError;
use crate::routes::shared::{parse_id, shopper};
use crate::routes::{admin, campaigns, fleet, recovery};
use crate::state::AppState;
use crate::views::admin::{AccountsPage, AuditPage, DeadLettersPage, ParkedPage};
use crate::views::campaigns::{CampaignBody, ProgramBody};
use crate::views::fleet::{CountsBody, FleetBody, Throttle};
use actix_web::{web, HttpResponse};
use askama::Template;
use migrator_core::MigrationStatus;
use serde::Deserialize;

/// What a finished action says on the page it returns to (`?done=`): a fixed text each, so a
/// link cannot make the console say anything else.
pub fn done_text(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "fleet_pause" => "The fleet is paused: workers finish the hops in hand and take no more.",
        "fleet_resume" => "The fleet is running.",
        "fleet_throttle" => "The fleet's caps on the source are set.",
        "campaign_pause" => "The campaign is paused.",
        "campaign_resume" => "The campaign is running.",
        "campaign_cancel" => "The campaign is cancelled: it starts no more accounts.",
        "campaign_start" => "The campaign started: its accounts are being started at its rate.",
        "retry" => "The failed phase runs again.",
        "cancel" => "The migration is cancelled and its run parked.",
        "verify" => "A verification was asked for; a worker runs it.",
        "unpark" => "The parked run runs again.",
        "remigrate" => "A new run started: everything migrated before was removed.",
        "replay" => "The dead letter's phase runs again.",
        _ => return None,
    })
}

/// A list's page of 50 from the cursor `after` (the first page without one).
fn fifty_after(after: Option<String>) -> recovery::Page {
    recovery::Page {
        page: None,
        per_page: Some(50),
        after,
    }
}

/// `?done=`.
#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct Overview {
    user: ConsoleUser,
    notice: Option<&'static str>,
    program: ProgramBody,
    counts: CountsBody,
    fleet: FleetBody,
    campaign: Option<CampaignBody>,
    figures: Vec<super::charts::Figure>,
}

/// The program at a glance, the live campaign, and the fleet, with their buttons.
pub async fn overview(
    st: web::Data<AppState>,
    user: ConsoleUser,
    q: web::Query<DoneQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let program = campaigns::program_now(&st).await?;
    let counts = fleet::counts_now(&st).await?;
    let fleet = fleet::fleet_now(&st).await?;
    let campaign = campaigns::recent_campaigns(&st)
        .await?
        .campaigns
        .into_iter()
        .find(|c| {
            matches!(
                c.state,
                migrator_core::campaign::CampaignState::Running
                    | migrator_core::campaign::CampaignState::Paused
            )
        });
    let notice = done_text(q.done.as_deref());
    let figures = super::figures::overview(&st, &program).await?;
    page(
        HttpResponse::Ok(),
        &Overview {
            user,
            notice,
            program,
            counts,
            fleet,
            campaign,
            figures,
        },
    )
}

/// The throttle form: empty fields remove a cap.
#[derive(Debug, Deserialize)]
pub struct FleetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    max_reads_per_sec: String,
    #[serde(default)]
    max_rest_per_sec: String,
}

fn rate(field: &str, v: &str) -> Result<Option<i32>, ConsoleError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| {
        ApiError::bad_request(
            "invalid_rate",
            format!("{field} is a whole number of calls a second, or empty"),
        )
        .into()
    })
}

/// `pause`, `resume` or `throttle` the fleet.
pub async fn fleet_action(
    st: web::Data<AppState>,
    user: ConsoleUser,
    action: web::Path<String>,
    form: web::Form<FleetForm>,
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    let who = user.admin();
    match action.as_str() {
        "pause" => fleet::set_paused(&st, &who, true).await?,
        "resume" => fleet::set_paused(&st, &who, false).await?,
        "throttle" => {
            let t = Throttle {
                max_reads_per_sec: rate("max_reads_per_sec", &form.max_reads_per_sec)?,
                max_rest_per_sec: rate("max_rest_per_sec", &form.max_rest_per_sec)?,
            };
            fleet::set_throttle(&st, &who, t).await?
        }
        _ => return Err(ApiError::not_found("action").into()),
    };
    Ok(see_other(&format!("/console/?done=fleet_{action}")))
}

/// The accounts page's filters: one list at a time, or a shopper id to open.
#[derive(Debug, Default, Deserialize)]
pub struct AccountsQuery {
    #[serde(default)]
    shopper_id: String,
    #[serde(default)]
    status: String,
    /// A duration (`90s`, `15m`, `2h`, `1d`).
    #[serde(default)]
    stuck_for: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    verification: String,
    #[serde(default)]
    parked: String,
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "console/accounts.html")]
struct Accounts {
    user: ConsoleUser,
    notice: Option<&'static str>,
    q: AccountsQuery,
    statuses: Vec<&'static str>,
    list: Option<AccountsPage>,
    parked: Option<ParkedPage>,
    next: Option<String>,
}

fn nonempty(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

/// Finds a C1 by shopper id, or lists accounts by one filter, a cursor page at a time.
pub async fn accounts(
    st: web::Data<AppState>,
    user: ConsoleUser,
    q: web::Query<AccountsQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let q = q.into_inner();
    if let Some(id) = nonempty(&q.shopper_id) {
        let id = shopper(id)?;
        return Ok(see_other(&format!(
            "/console/accounts/{}",
            urlencode(id.as_str())
        )));
    }
    let (mut list, mut parked) = (None, None);
    let next;
    if !q.parked.is_empty() {
        let p = fifty_after(q.after.clone());
        let body = recovery::parked_page(&st, &p).await?;
        next = body.paging.next.clone();
        parked = Some(body);
    } else {
        let status = nonempty(&q.status)
            .map(|s| {
                s.parse::<MigrationStatus>()
                    .map_err(|_| ApiError::bad_request("invalid_status", "unknown status"))
            })
            .transpose()?;
        let stuck_for_secs = nonempty(&q.stuck_for)
            .map(|d| {
                humantime::parse_duration(d)
                    .map(|d| d.as_secs() as i64)
                    .map_err(|_| {
                        ApiError::bad_request(
                            "invalid_duration",
                            "stuck for: a duration such as 15m, 2h or 1d",
                        )
                    })
            })
            .transpose()?;
        let verification = match nonempty(&q.verification) {
            None => None,
            Some("match") => Some(admin::VerificationResult::Match),
            Some("diff") => Some(admin::VerificationResult::Diff),
            Some(_) => {
                return Err(ApiError::bad_request("invalid_verification", "match or diff").into())
            }
        };
        let lq = admin::ListQuery {
            status,
            stuck_for_secs,
            error: nonempty(&q.error).map(str::to_string),
            verification,
            page: None,
            per_page: Some(50),
            after: q.after.clone(),
        };
        let body = admin::migrations_page(&st, &lq).await?;
        next = body.paging.next.clone();
        list = Some(body);
    }
    let statuses = migrator_core::status::ALL_STATUSES
        .iter()
        .map(|s| s.as_str())
        .collect();
    page(
        HttpResponse::Ok(),
        &Accounts {
            user,
            notice: None,
            q,
            statuses,
            list,
            parked,
            next,
        },
    )
}

/// `?after=` and `?done=`.
#[derive(Debug, Deserialize)]
pub struct CursorQuery {
    after: Option<String>,
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "console/dead_letters.html")]
struct DeadLetters {
    user: ConsoleUser,
    notice: Option<&'static str>,
    list: DeadLettersPage,
}

/// Dead letters, newest first, each with its replay button.
pub async fn dead_letters(
    st: web::Data<AppState>,
    user: ConsoleUser,
    q: web::Query<CursorQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let p = fifty_after(q.after.clone());
    let list = recovery::dead_letters_page(&st, &p).await?;
    let notice = done_text(q.done.as_deref());
    page(HttpResponse::Ok(), &DeadLetters { user, notice, list })
}

/// Replays a dead letter.
pub async fn replay(
    st: web::Data<AppState>,
    user: ConsoleUser,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    recovery::replay(&st, &user.admin(), parse_id(&id)?).await?;
    Ok(see_other("/console/dead-letters?done=replay"))
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct Audit {
    user: ConsoleUser,
    notice: Option<&'static str>,
    list: AuditPage,
}

/// The audit log, newest first.
pub async fn audit(
    st: web::Data<AppState>,
    user: ConsoleUser,
    q: web::Query<CursorQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let p = fifty_after(q.after.clone());
    let list = recovery::audit_page(&st, &p).await?;
    page(
        HttpResponse::Ok(),
        &Audit {
            user,
            notice: None,
            list,
        },
    )
}
