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
use crate::views::history_series::{
    self, ts, ProgramHistoryBody, ProgramHistoryQuery, Read, SERIES,
};
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

/// The window a query asks for, ending with the bucket that holds `until` (default `now`);
/// each refusal its own 400.
pub fn window_of(q: &ProgramHistoryQuery, now: DateTime<Utc>) -> Result<Window, ApiError> {
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
    let end = match q.until.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        None => now,
        Some(u) => DateTime::parse_from_rfc3339(u)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| ApiError::bad_request("invalid_time", "until is an RFC 3339 time"))?,
    };
    let epoch = end.timestamp();
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
/// most `400d`; `step` default the window over 288, whole minutes, at most 1,500 a window;
/// ending with the bucket holding `until`, default now), or one campaign's burn-down and
/// events with `campaign`; `series` names the ones wanted (default all). 400 for a window,
/// step, time or series out of bounds, 404 for an unknown campaign.
#[utoipa::path(get, path = "/admin/program/history", tag = "program", security(("bearer" = [])),
    params(ProgramHistoryQuery),
    responses((status = 200, description = "the series", body = ProgramHistoryBody), Errors))]
pub async fn get_history(
    st: web::Data<AppState>,
    _: AdminUser,
    q: web::Query<ProgramHistoryQuery>,
) -> ApiResult<web::Json<ProgramHistoryBody>> {
    Ok(web::Json(history_now(&st, &q).await?))
}

/// The series a query names (`?series=`; every one by default), checked: 400 for an unknown
/// name.
fn wanted(q: &ProgramHistoryQuery) -> Result<Vec<&'static str>, ApiError> {
    let Some(list) = q.series.as_deref().filter(|l| !l.trim().is_empty()) else {
        return Ok(SERIES.to_vec());
    };
    list.split(',')
        .map(str::trim)
        .map(|name| {
            SERIES.iter().copied().find(|s| *s == name).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_series",
                    format!("series are among {}", SERIES.join(", ")),
                )
            })
        })
        .collect()
}

/// The `fleet_minutes` series (prefixes ending in `*`) the wanted series are made of.
fn fleet_sources(wanted: &[&str]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for w in wanted {
        let from = match *w {
            s if s.starts_with("hops_") => "hops_*",
            s if s.starts_with("dynamodb_reads") => "dynamodb_reads*",
            s if s.starts_with("refusals_") => "refusals_*",
            "dead_letters" => "dead_letters",
            s if s.starts_with("inbox_app_") => "inbox_app_*",
            s if s.starts_with("inbox_campaign_") => "inbox_campaign_*",
            _ => continue,
        };
        if !out.contains(&from) {
            out.push(from);
        }
    }
    out
}

/// What a history says of its scope beside the series (RFC 3339): the program's, or the
/// campaign's when one is asked for.
#[derive(Debug, Clone, Default)]
pub struct ScopeFigures {
    /// The deadline in force.
    pub deadline: Option<String>,
    /// When its remaining accounts reach zero at the recent rate.
    pub projected_finish: Option<String>,
}

fn campaign_of(q: &ProgramHistoryQuery) -> Result<Option<CampaignId>, ApiError> {
    q.campaign
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(parse_id)
        .transpose()
}

/// The series a query asks for, with its scope's figures (404 for an unknown campaign).
pub async fn history_now(st: &AppState, q: &ProgramHistoryQuery) -> ApiResult<ProgramHistoryBody> {
    // a window, step or series out of bounds is refused before anything is read
    window_of(q, Utc::now())?;
    wanted(q)?;
    let figures = match campaign_of(q)? {
        Some(id) => {
            let c = campaign_now(st, id).await?;
            ScopeFigures {
                deadline: Some(c.deadline),
                projected_finish: c.projected_finish,
            }
        }
        None => {
            let mut c = conn(st).await?;
            let v = program_view(st, &mut c).await?;
            ScopeFigures {
                deadline: v.deadline.map(ts),
                projected_finish: v.finish.map(ts),
            }
        }
    };
    history_with(st, q, figures).await
}

/// The series a query asks for, its scope's `figures` already read by the caller (a console
/// page that shows them anyway): only the tables the series come from are read.
pub async fn history_with(
    st: &AppState,
    q: &ProgramHistoryQuery,
    figures: ScopeFigures,
) -> ApiResult<ProgramHistoryBody> {
    let now = Utc::now();
    let w = window_of(q, now)?;
    let wanted = wanted(q)?;
    let campaign = campaign_of(q)?;
    let scope = campaign.map_or(PROGRAM, |c| c.0);
    let mut c = conn(st).await?;
    // the fleet's minutes and completions are kept three days: nothing older is read
    let since = now - Duration::days(3);
    let mut read = Read::default();
    if wanted.iter().any(|s| *s == "remaining" || *s == "accounts") {
        read.burn_down = series::burn_down(&mut c, scope, w).await?;
    }
    if wanted.iter().any(|s| s.starts_with("completed_")) {
        read.completions = series::completions(&mut c, w, since).await?;
    }
    read.fleet = series::fleet(&mut c, w, since, &fleet_sources(&wanted)).await?;
    read.events = series::campaign_events(&mut c, campaign.map(|c| c.0), w, MAX_EVENTS).await?;
    let started_at = series::first_sample(&mut c, scope).await?.map(ts);
    let f = fleet::state(&mut c).await?;
    let configured = st.settings.source.max_reads_per_sec;
    let cap = f
        .max_reads_per_sec
        .map(f64::from)
        .or((configured > 0).then_some(f64::from(configured)));
    Ok(ProgramHistoryBody {
        from: ts(w.from),
        to: ts(w.to),
        step_secs: w.step_secs,
        at: w.buckets().into_iter().map(ts).collect(),
        series: history_series::series(&w, &read, &wanted),
        objective_inbox_p99_ms: st.settings.campaign.max_inbox_p99_ms,
        dynamodb_read_cap_per_sec: cap,
        deadline: figures.deadline,
        projected_finish: figures.projected_finish,
        started_at,
        events: history_series::events(&read),
    })
}

/// When the program's (or campaign `scope`'s) burn-down history starts: one index read.
pub async fn started_at(st: &AppState, scope: Option<CampaignId>) -> ApiResult<Option<String>> {
    let mut c = conn(st).await?;
    Ok(series::first_sample(&mut c, scope.map_or(PROGRAM, |c| c.0))
        .await?
        .map(ts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn q(window: &str, step: &str) -> ProgramHistoryQuery {
        ProgramHistoryQuery {
            window: Some(window.into()),
            step: Some(step.into()),
            ..ProgramHistoryQuery::default()
        }
    }

    #[test]
    fn a_window_ends_with_the_bucket_holding_now_and_is_bounded() {
        let now = Utc.with_ymd_and_hms(2026, 12, 8, 10, 7, 30).unwrap();
        let w = window_of(&q("1h", "5m"), now).unwrap();
        assert_eq!(w.to, Utc.with_ymd_and_hms(2026, 12, 8, 10, 10, 0).unwrap());
        assert_eq!(w.from, Utc.with_ymd_and_hms(2026, 12, 8, 9, 10, 0).unwrap());
        assert_eq!(w.buckets().len(), 12);
        let d = window_of(&ProgramHistoryQuery::default(), now).unwrap();
        assert_eq!((d.step_secs, d.buckets().len()), (300, 288));
        for (window, step) in [("500d", "1d"), ("1h", "30s"), ("1h", "2h"), ("30d", "1m")] {
            assert_eq!(
                window_of(&q(window, step), now).unwrap_err().status,
                400,
                "{window} at {step}"
            );
        }
        assert!(window_of(&q("soon", "5m"), now).is_err());
        let pinned = ProgramHistoryQuery {
            until: Some("2026-12-08T09:00:00Z".into()),
            ..q("1h", "1m")
        };
        let w = window_of(&pinned, now).unwrap();
        assert_eq!(w.to, Utc.with_ymd_and_hms(2026, 12, 8, 9, 1, 0).unwrap());
    }

    #[test]
    fn only_the_tables_of_the_series_asked_for_are_read() {
        let q = ProgramHistoryQuery {
            series: Some("hops_ok, inbox_app_p99_ms,hops_failed".into()),
            ..ProgramHistoryQuery::default()
        };
        let w = wanted(&q).unwrap();
        assert_eq!(w, ["hops_ok", "inbox_app_p99_ms", "hops_failed"]);
        assert_eq!(fleet_sources(&w), ["hops_*", "inbox_app_*"]);
        let bad = ProgramHistoryQuery {
            series: Some("hops_ok,everything".into()),
            ..ProgramHistoryQuery::default()
        };
        assert_eq!(wanted(&bad).unwrap_err().status, 400);
    }
}
