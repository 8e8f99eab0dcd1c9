//! Campaigns in the console: the list, one campaign's page (figures, its burn-down, the
//! reasons it held back over time) with pause, resume and cancel, and the start form — a dry
//! run first (how many accounts the selection takes now, nothing written), then the start on
//! confirmation. Each is the admin API's handler, called with the signed-in operator: the
//! same checks, the same audit rows.

use super::charts::Figure;
use super::figures;
use super::pages::done_text;
use super::render::{page, see_other, ConsoleError};
use super::session::ConsoleUser;
use crate::error::ApiError;
use crate::routes::campaigns::{
    campaign_now, dry_run_of, move_campaign, recent_campaigns, start_campaign,
};
use crate::routes::shared::parse_id;
use crate::state::AppState;
use crate::views::campaigns::{CampaignBody, CampaignRequest, CampaignsBody, DryRunBody};
use crate::views::history_series::CampaignEventBody;
use actix_web::{web, HttpResponse};
use askama::Template;
use migrator_core::campaign::CampaignMove;
use migrator_core::MigrationStatus;
use serde::Deserialize;

/// `?done=`.
#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "console/campaigns.html")]
struct List {
    user: ConsoleUser,
    notice: Option<&'static str>,
    list: CampaignsBody,
}

/// The newest 100 campaigns.
pub async fn list(
    st: web::Data<AppState>,
    user: ConsoleUser,
    q: web::Query<DoneQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let list = recent_campaigns(&st).await?;
    let notice = done_text(q.done.as_deref());
    page(HttpResponse::Ok(), &List { user, notice, list })
}

#[derive(Template)]
#[template(path = "console/campaign.html")]
struct One {
    user: ConsoleUser,
    notice: Option<&'static str>,
    c: CampaignBody,
    f: Figure,
    events: Vec<CampaignEventBody>,
}

/// One campaign: its figures, burn-down and events, and its buttons.
pub async fn show(
    st: web::Data<AppState>,
    user: ConsoleUser,
    id: web::Path<String>,
    q: web::Query<DoneQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let c = campaign_now(&st, parse_id(&id)?).await?;
    let (f, h) = figures::campaign(&st, &c).await?;
    let notice = done_text(q.done.as_deref());
    let mut events = h.events;
    events.reverse();
    page(
        HttpResponse::Ok(),
        &One {
            user,
            notice,
            c,
            f,
            events,
        },
    )
}

/// The start form's fields, as a browser sends them (the statuses as repeated checkboxes).
#[derive(Debug, Default, Clone)]
struct StartForm {
    csrf: String,
    statuses: Vec<String>,
    created_before: String,
    shopper_ids: String,
    rate_per_sec: String,
    max_in_flight: String,
    deadline: String,
}

impl StartForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut f = StartForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "csrf" => f.csrf = v,
                "statuses" => f.statuses.push(v),
                "created_before" => f.created_before = v,
                "shopper_ids" => f.shopper_ids = v,
                "rate_per_sec" => f.rate_per_sec = v,
                "max_in_flight" => f.max_in_flight = v,
                "deadline" => f.deadline = v,
                _ => {}
            }
        }
        f
    }

    /// The form a browser sent, its CSRF token checked (403), and its request (400s).
    fn checked(
        user: &ConsoleUser,
        pairs: Vec<(String, String)>,
    ) -> Result<(Self, CampaignRequest), ConsoleError> {
        let form = Self::from_pairs(pairs);
        user.check_csrf(&form.csrf)?;
        let req = form.request()?;
        Ok((form, req))
    }

    /// The API's request: each field as the API checks it (a bad one is its 400).
    fn request(&self) -> Result<CampaignRequest, ConsoleError> {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let statuses = self
            .statuses
            .iter()
            .map(|s| {
                s.parse::<MigrationStatus>()
                    .map_err(|_| ApiError::bad_request("invalid_statuses", "unknown status"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let number = |field: &str, v: &str| -> Result<Option<f64>, ConsoleError> {
            some(v)
                .map(|v| {
                    v.parse::<f64>().map_err(|_| {
                        ApiError::bad_request("invalid_number", format!("{field} is a number"))
                            .into()
                    })
                })
                .transpose()
        };
        let ids: Vec<String> = self
            .shopper_ids
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Ok(CampaignRequest {
            statuses: (!statuses.is_empty()).then_some(statuses),
            created_before: some(&self.created_before),
            shopper_ids: (!ids.is_empty()).then_some(ids),
            rate_per_sec: number("rate_per_sec", &self.rate_per_sec)?,
            max_in_flight: number("max_in_flight", &self.max_in_flight)?
                .map(|n| n.clamp(i32::MIN as f64, i32::MAX as f64) as i32),
            deadline: self.deadline.trim().to_string(),
        })
    }
}

#[derive(Template)]
#[template(path = "console/campaign_new.html")]
struct New {
    user: ConsoleUser,
    notice: Option<&'static str>,
    form: StartForm,
    all_statuses: Vec<&'static str>,
    dry_run: Option<DryRunBody>,
}

fn all_statuses() -> Vec<&'static str> {
    migrator_core::status::ALL_STATUSES
        .iter()
        .map(|s| s.as_str())
        .collect()
}

/// The start form, empty but for the defaults.
pub async fn new_form(user: ConsoleUser) -> Result<HttpResponse, ConsoleError> {
    let form = StartForm {
        statuses: vec![
            "not-started".into(),
            "channel-failure".into(),
            "recent-messages-failure".into(),
        ],
        rate_per_sec: "20".into(),
        max_in_flight: "200".into(),
        ..StartForm::default()
    };
    page(
        HttpResponse::Ok(),
        &New {
            user,
            notice: None,
            form,
            all_statuses: all_statuses(),
            dry_run: None,
        },
    )
}

/// The dry run: the form again with how many accounts it takes now, and the button that
/// starts it. Nothing written.
pub async fn dry_run(
    st: web::Data<AppState>,
    user: ConsoleUser,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    let (form, req) = StartForm::checked(&user, form.into_inner())?;
    let counted = dry_run_of(&st, &user.admin(), req).await?;
    page(
        HttpResponse::Ok(),
        &New {
            user,
            notice: None,
            form,
            all_statuses: all_statuses(),
            dry_run: Some(counted),
        },
    )
}

/// Starts the campaign confirmed (audited as the API's start).
pub async fn start(
    st: web::Data<AppState>,
    user: ConsoleUser,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, req) = StartForm::checked(&user, form.into_inner())?;
    let c = start_campaign(&st, &user.admin(), req).await?;
    Ok(see_other(&format!(
        "/console/campaigns/{}?done=campaign_start",
        c.id
    )))
}

/// Pause, resume or cancel from a campaign's form.
#[derive(Debug, Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    csrf: String,
    /// Where to return: `campaign` (its page) or the overview.
    #[serde(default)]
    back: String,
    /// A cancel's confirmation box.
    #[serde(default)]
    confirm: String,
}

/// `pause`, `resume` or `cancel` a campaign (a cancel only with its box ticked).
pub async fn action(
    st: web::Data<AppState>,
    user: ConsoleUser,
    path: web::Path<(String, String)>,
    form: web::Form<MoveForm>,
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    let (id, action) = path.into_inner();
    let id = parse_id(&id)?;
    let m = match action.as_str() {
        "pause" => CampaignMove::Pause,
        "resume" => CampaignMove::Resume,
        "cancel" if form.confirm == "yes" => CampaignMove::Cancel,
        "cancel" => {
            return Err(ApiError::bad_request(
                "unconfirmed",
                "tick the box to confirm the cancel: a cancelled campaign cannot resume",
            )
            .into())
        }
        _ => return Err(ApiError::not_found("action").into()),
    };
    move_campaign(&st, &user.admin(), id, m).await?;
    Ok(see_other(&if form.back == "campaign" {
        format!("/console/campaigns/{id}?done=campaign_{action}")
    } else {
        format!("/console/?done=campaign_{action}")
    }))
}
