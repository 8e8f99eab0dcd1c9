//! `GET /admin/program/history`: the program's and the fleet's series over a window at a step
//! (burn-down, completions by lane, time to an inbox, hops, DynamoDB reads, refusals, dead
//! letters) with the campaigns' events — what the console's charts draw, for Grafana or any
//! other tool. Each read is bounded by the window, never the accounts
//! ([`migrator_store::queries::operators::series`]).

use super::campaigns::{campaign_now, program_view};
use super::shared::{conn, parse_id};
use crate::auth::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::views::errors::Errors;
use crate::views::history_series::{self, ts, HistoryBody, HistoryQuery, Read};
use actix_web::web;
use chrono::{DateTime, Duration, Utc};
use migrator_core::ids::CampaignId;
use migrator_store::queries::operators::fleet;
use migrator_store::queries::operators::series::{self, Window, PROGRAM};

/// The longest window.
const MAX_WINDOW_SECS: i64 = 400 * 86_400;
/// The most buckets a window is cut into.
const MAX_BUCKETS: i64 = 1_500;
/// The most campaign events a body lists.
const MAX_EVENTS: i64 = 500;

fn duration(v: Option<&str>, field: &str) -> Result<Option<i64>, ApiError> {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.len() > 32 {
        return Err(ApiError::bad_request(
            "invalid_duration",
            format!("{field} is a duration such as 5m, 24h or 30d"),
        ));
    }
    humantime::parse_duration(v)
        .map(|d| Some(d.as_secs().min(i64::MAX as u64) as i64))
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_duration",
                format!("{field} is a duration such as 5m, 24h or 30d"),
            )
        })
}

/// The window a query asks for, ending with the bucket that holds `now`; each refusal its own
/// 400.
pub fn window_of(q: &HistoryQuery, now: DateTime<Utc>) -> Result<Window, ApiError> {
    let window = duration(q.window.as_deref(), "window")?.unwrap_or(86_400);
    if !(60..=MAX_WINDOW_SECS).contains(&window) {
        return Err(ApiError::bad_request(
            "invalid_window",
            "window is 1m to 400d",
        ));
    }
    let step = match duration(q.step.as_deref(), "step")? {
        Some(s) => s,
        // about 288 buckets, in whole minutes
        None => ((window / 288).max(60) + 59) / 60 * 60,
    };
    if step < 60 || step % 60 != 0 || step > window {
        return Err(ApiError::bad_request(
            "invalid_step",
            "step is whole minutes, at least 1m and at most the window",
        ));
    }
    if window / step > MAX_BUCKETS {
        return Err(ApiError::bad_request(
            "invalid_step",
            format!("a window holds at most {MAX_BUCKETS} steps: take a longer step"),
        ));
    }
    let epoch = now.timestamp();
    let to = (epoch / step + 1) * step;
    let from = to - (window + step - 1) / step * step;
    let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or(now);
    Ok(Window {
        from: at(from),
        to: at(to),
        step_secs: step,
    })
}

/// The program's and the fleet's series over a window at a step (`window` default `24h`, at
/// most `400d`; `step` default the window over 288, whole minutes, at most 1,500 a window),
/// or one campaign's burn-down and events with `campaign`. 400 for a window or step out of
/// bounds, 404 for an unknown campaign.
#[utoipa::path(get, path = "/admin/program/history", tag = "program", security(("bearer" = [])),
    params(HistoryQuery),
    responses((status = 200, description = "the series", body = HistoryBody), Errors))]
pub async fn get_history(
    st: web::Data<AppState>,
    _: AdminUser,
    q: web::Query<HistoryQuery>,
) -> ApiResult<web::Json<HistoryBody>> {
    Ok(web::Json(history_now(&st, &q).await?))
}

/// The series a query asks for.
pub async fn history_now(st: &AppState, q: &HistoryQuery) -> ApiResult<HistoryBody> {
    let now = Utc::now();
    let w = window_of(q, now)?;
    let campaign: Option<CampaignId> = q
        .campaign
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(parse_id)
        .transpose()?;
    // the scope's figures first (404 for an unknown campaign)
    let (deadline, projected_finish) = match campaign {
        Some(id) => {
            let c = campaign_now(st, id).await?;
            (Some(c.deadline), c.projected_finish)
        }
        None => {
            let mut c = conn(st).await?;
            let v = program_view(st, &mut c).await?;
            (v.deadline.map(ts), v.finish.map(ts))
        }
    };
    let scope = campaign.map_or(PROGRAM, |c| c.0);
    let mut c = conn(st).await?;
    // the fleet's minutes and completions are kept three days: nothing older is read
    let recent = Window {
        from: w.from.max(now - Duration::days(3)),
        ..w
    };
    let read = Read {
        burn_down: series::burn_down(&mut c, scope, w).await?,
        completions: series::completions(&mut c, recent).await?,
        fleet: series::fleet(
            &mut c,
            recent,
            &[
                "hops_*",
                "dynamodb_reads",
                "refusals_*",
                "dead_letters",
                "inbox_*",
            ],
        )
        .await?,
        events: series::campaign_events(&mut c, campaign.map(|c| c.0), w, MAX_EVENTS).await?,
    };
    let started_at = series::first_sample(&mut c, scope).await?.map(ts);
    let f = fleet::state(&mut c).await?;
    let configured = st.settings.source.max_reads_per_sec;
    let cap = f
        .max_reads_per_sec
        .map(f64::from)
        .or((configured > 0).then_some(f64::from(configured)));
    Ok(HistoryBody {
        from: ts(w.from),
        to: ts(w.to),
        step_secs: w.step_secs,
        at: w.buckets().into_iter().map(ts).collect(),
        series: history_series::series(&w, &read),
        objective_inbox_p99_ms: st.settings.campaign.max_inbox_p99_ms,
        dynamodb_read_cap_per_sec: cap,
        deadline,
        projected_finish,
        started_at,
        events: history_series::events(&read),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn q(window: &str, step: &str) -> HistoryQuery {
        HistoryQuery {
            window: Some(window.into()),
            step: Some(step.into()),
            campaign: None,
        }
    }

    #[test]
    fn a_window_ends_with_the_bucket_holding_now_and_is_bounded() {
        let now = Utc.with_ymd_and_hms(2026, 12, 8, 10, 7, 30).unwrap();
        let w = window_of(&q("1h", "5m"), now).unwrap();
        assert_eq!(w.to, Utc.with_ymd_and_hms(2026, 12, 8, 10, 10, 0).unwrap());
        assert_eq!(w.from, Utc.with_ymd_and_hms(2026, 12, 8, 9, 10, 0).unwrap());
        assert_eq!(w.buckets().len(), 12);
        let d = window_of(&HistoryQuery::default(), now).unwrap();
        assert_eq!((d.step_secs, d.buckets().len()), (300, 288));
        for (window, step) in [("500d", "1d"), ("1h", "30s"), ("1h", "2h"), ("30d", "1m")] {
            assert_eq!(
                window_of(&q(window, step), now).unwrap_err().status,
                400,
                "{window} at {step}"
            );
        }
        assert!(window_of(&q("soon", "5m"), now).is_err());
    }
}
