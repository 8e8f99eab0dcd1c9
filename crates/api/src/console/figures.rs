//! What the console's charts show, from `GET /admin/program/history`'s series (the same
//! handler, so a chart's table equals the API's figures): the program's burn-down with its
//! projection, deadline and campaigns' moves; completions by lane; time to an inbox against
//! the objective; the fleet's last hour; a campaign's own burn-down with the spans it held
//! back. (A C1's runs' phases are [`super::bars`].)

use super::charts::{
    render, Band, Chart, Figure, Level, Line, Mark, BLUE, GREEN, GREY, ORANGE, PURPLE, RED,
};
use crate::error::ApiResult;
use crate::routes::program_history::{history_with, started_at, ScopeFigures};
use crate::state::AppState;
use crate::views::campaigns::{CampaignBody, ProgramBody};
use crate::views::history_series::{ProgramHistoryBody, ProgramHistoryQuery};
use chrono::{DateTime, Utc};

pub(super) fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn line(
    h: &ProgramHistoryBody,
    series: &str,
    name: &str,
    color: plotters::style::RGBColor,
) -> Line {
    let values = h.series.get(series).cloned().unwrap_or_default();
    Line {
        name: name.to_string(),
        color,
        points: h
            .at
            .iter()
            .zip(values)
            .filter_map(|(t, v)| Some((parse(t)?, v)))
            .collect(),
        dashed: false,
        drawn_only: false,
    }
}

fn span(h: &ProgramHistoryBody) -> (DateTime<Utc>, DateTime<Utc>) {
    let now = Utc::now();
    (parse(&h.from).unwrap_or(now), parse(&h.to).unwrap_or(now))
}

/// What one chart reads: a window, a step, the series and (for its page) a campaign.
struct Ask<'a> {
    window: &'a str,
    step: &'a str,
    series: &'a [&'a str],
    campaign: Option<String>,
}

/// One page's reads: the same end for every chart, and its scope's figures as the page read
/// them.
struct Reader<'a> {
    st: &'a AppState,
    until: String,
    scope: ScopeFigures,
}

impl Reader<'_> {
    /// The history a chart draws, read as `GET /admin/program/history` would answer the query
    /// returned with it (the window pinned at `until`, so the API answers the same buckets).
    async fn read(&self, ask: Ask<'_>) -> ApiResult<(ProgramHistoryBody, String)> {
        let until = &self.until;
        let series = ask.series.join(",");
        let q = ProgramHistoryQuery {
            window: Some(ask.window.into()),
            step: Some(ask.step.into()),
            campaign: ask.campaign.clone(),
            series: Some(series.clone()),
            until: Some(until.into()),
        };
        let mut source = format!(
            "window={}&step={}&series={series}&until={until}",
            ask.window, ask.step
        );
        if let Some(c) = ask.campaign {
            source.push_str(&format!("&campaign={c}"));
        }
        let h = history_with(self.st, &q, self.scope.clone()).await?;
        Ok((h, source))
    }
}

fn ask<'a>(window: &'a str, step: &'a str, series: &'a [&'a str]) -> Ask<'a> {
    Ask {
        window,
        step,
        series,
        campaign: None,
    }
}

/// A window reaching back to `since` (at least an hour, at most 400 days), and a step giving
/// about 200 buckets in whole minutes of at least five.
fn since_window(since: Option<&str>) -> (String, String) {
    let now = Utc::now();
    let secs = since
        .and_then(parse)
        .map(|t| (now - t).num_seconds())
        .unwrap_or(3_600)
        .clamp(3_600, 400 * 86_400);
    let step_min = (secs / 200 / 60).max(5);
    // whole steps, never past the API's 400 days
    let window_min = ((secs / 60 / step_min + 1) * step_min).min(400 * 1440 / step_min * step_min);
    (format!("{window_min}m"), format!("{step_min}m"))
}

/// The deadline and the campaigns' moves as marks, the spans held back as bands (one still
/// holding back runs to `to` or now).
fn marks_and_bands(
    h: &ProgramHistoryBody,
    deadline: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
) -> (Vec<Mark>, Vec<Band>) {
    let mut marks: Vec<Mark> = Vec::new();
    if let Some(d) = deadline {
        marks.push(Mark {
            at: d,
            label: "deadline".into(),
            color: RED,
        });
    }
    let mut bands = Vec::new();
    let mut held: Option<(DateTime<Utc>, String)> = None;
    for e in &h.events {
        let Some(at) = parse(&e.at) else { continue };
        match e.kind.as_str() {
            "held_back" => {
                if let Some((since, why)) = held.take() {
                    bands.push(Band {
                        from: since,
                        to: at,
                        label: why,
                    });
                }
                held = Some((at, e.detail.clone().unwrap_or_default()));
            }
            "released" => {
                if let Some((since, why)) = held.take() {
                    bands.push(Band {
                        from: since,
                        to: at,
                        label: why,
                    });
                }
            }
            kind => marks.push(Mark {
                at,
                label: format!("campaign {kind}"),
                color: if kind == "paused" { ORANGE } else { GREY },
            }),
        }
    }
    if let Some((since, why)) = held {
        bands.push(Band {
            from: since,
            to: to.min(Utc::now()),
            label: why,
        });
    }
    (marks, bands)
}

/// A burn-down: remaining accounts, projected to zero at the recent rate, the deadline, the
/// campaigns' moves as marks and the spans held back as bands.
fn burn_down(id: &'static str, title: &str, h: &ProgramHistoryBody, source: String) -> Figure {
    let (from, to) = span(h);
    let remaining = line(h, "remaining", "accounts not yet migrated", BLUE);
    let mut lines = vec![remaining.clone()];
    let deadline = h.deadline.as_deref().and_then(parse);
    let finish = h.projected_finish.as_deref().and_then(parse);
    let last = remaining
        .points
        .iter()
        .rev()
        .find_map(|(t, v)| v.map(|v| (*t, v)));
    if let (Some((t, v)), Some(f)) = (last, finish) {
        lines.push(Line {
            name: "projected at the last hour's rate".into(),
            color: GREY,
            points: vec![(t, Some(v)), (f.max(t), Some(0.0))],
            dashed: true,
            drawn_only: true,
        });
    }
    let (marks, bands) = marks_and_bands(h, deadline, to);
    // the axis reaches the deadline and the projected finish, unless they are so far off
    // that the history would be a sliver: then it stops at three times the history and says
    // where the deadline is
    let limit = to + (to - from) * 2;
    let end = [Some(to), deadline, finish]
        .into_iter()
        .flatten()
        .map(|t| t.min(limit))
        .max()
        .unwrap_or(to);
    let title = match deadline {
        Some(d) if d > end => format!(
            "{title} (the deadline, {}, is past the right edge)",
            d.format("%Y-%m-%d %H:%M UTC")
        ),
        _ => title.to_string(),
    };
    let mut f = render(&Chart {
        id,
        title,
        unit: "accounts",
        from,
        to: end,
        lines,
        levels: vec![],
        marks,
        bands,
    });
    f.source = source;
    f
}

fn lines_chart(
    id: &'static str,
    title: &str,
    unit: &'static str,
    h: &ProgramHistoryBody,
    source: String,
    lines: Vec<Line>,
    levels: Vec<Level>,
) -> Figure {
    let (from, to) = span(h);
    let mut f = render(&Chart {
        id,
        title: title.into(),
        unit,
        from,
        to,
        lines,
        levels,
        marks: vec![],
        bands: vec![],
    });
    f.source = source;
    f
}

/// The overview's charts: burn-down, completions by lane (48 h), time to an inbox (24 h), the
/// fleet's last hour (hops by outcome, DynamoDB reads against the cap, refusals and dead
/// letters). Five bounded reads, each of the tables its series come from only.
pub async fn overview(st: &AppState, program: &ProgramBody) -> ApiResult<Vec<Figure>> {
    let r = Reader {
        st,
        until: crate::views::ts(Utc::now()),
        scope: ScopeFigures {
            deadline: program.deadline.clone(),
            projected_finish: program.projected_finish.clone(),
        },
    };
    let started = started_at(st, None).await?;
    let (window, step) = since_window(started.as_deref());
    const BURN: [&str; 2] = ["remaining", "accounts"];
    let (h, src) = r.read(ask(&window, &step, &BURN)).await?;
    let mut out = vec![burn_down("chart-burn-down", "Burn-down", &h, src)];
    let lanes = ["completed_app", "completed_campaign"];
    let (h, src) = r.read(ask("48h", "1h", &lanes)).await?;
    out.push(lines_chart(
        "chart-completions",
        "Completions an hour by lane, last 48 hours",
        "completions",
        &h,
        src,
        vec![
            line(&h, "completed_app", "app", BLUE),
            line(&h, "completed_campaign", "campaign", ORANGE),
        ],
        vec![],
    ));
    let inbox = ["inbox_app_p50_ms", "inbox_app_p99_ms"];
    let (h, src) = r.read(ask("24h", "5m", &inbox)).await?;
    out.push(lines_chart(
        "chart-inbox",
        "Time to an inbox (app lane), per 5 minutes, last 24 hours",
        "milliseconds",
        &h,
        src,
        vec![
            line(&h, "inbox_app_p50_ms", "p50", BLUE),
            line(&h, "inbox_app_p99_ms", "p99", PURPLE),
        ],
        vec![Level {
            name: format!("objective p99 {} ms", h.objective_inbox_p99_ms),
            value: h.objective_inbox_p99_ms as f64,
        }],
    ));
    out.extend(fleet_charts(&r).await?);
    Ok(out)
}

/// The fleet's last hour: hops by outcome, DynamoDB reads against the cap, refusals and dead
/// letters a minute (one read).
async fn fleet_charts(r: &Reader<'_>) -> ApiResult<Vec<Figure>> {
    let mut out = Vec::new();
    let fleet = [
        "hops_ok",
        "hops_retried",
        "hops_failed",
        "hops_dropped",
        "dynamodb_reads_per_sec",
        "refusals_media",
        "refusals_rest",
        "dead_letters",
    ];
    let (h, src) = r.read(ask("1h", "1m", &fleet)).await?;
    out.push(lines_chart(
        "chart-hops",
        "Hops a minute by outcome, last hour",
        "hops",
        &h,
        src.clone(),
        vec![
            line(&h, "hops_ok", "ok", GREEN),
            line(&h, "hops_retried", "retried", ORANGE),
            line(&h, "hops_failed", "failed", RED),
            line(&h, "hops_dropped", "dropped", GREY),
        ],
        vec![],
    ));
    let cap = h.dynamodb_read_cap_per_sec.map(|c| Level {
        name: format!("cap {c:.0}/s"),
        value: c,
    });
    out.push(lines_chart(
        "chart-reads",
        "DynamoDB reads a second, last hour",
        "reads/s",
        &h,
        src.clone(),
        vec![line(&h, "dynamodb_reads_per_sec", "reads/s", BLUE)],
        cap.into_iter().collect(),
    ));
    out.push(lines_chart(
        "chart-refusals",
        "Refusals and dead letters a minute, last hour",
        "a minute",
        &h,
        src,
        vec![
            line(&h, "refusals_media", "media refusals", PURPLE),
            line(&h, "refusals_rest", "REST refusals", ORANGE),
            line(&h, "dead_letters", "dead letters", RED),
        ],
        vec![],
    ));
    Ok(out)
}

/// A campaign's burn-down since it began, with its moves and the spans it held back; and
/// its events (reasons held back over time) as the page lists them.
pub async fn campaign(st: &AppState, c: &CampaignBody) -> ApiResult<(Figure, ProgramHistoryBody)> {
    let r = Reader {
        st,
        until: crate::views::ts(Utc::now()),
        scope: ScopeFigures {
            deadline: Some(c.deadline.clone()),
            projected_finish: c.projected_finish.clone(),
        },
    };
    let (window, step) = since_window(Some(&c.created_at));
    let burn = Ask {
        window: &window,
        step: &step,
        series: &["remaining", "accounts"],
        campaign: Some(c.id.to_string()),
    };
    let (h, src) = r.read(burn).await?;
    let f = burn_down("chart-campaign", "The campaign's burn-down", &h, src);
    Ok((f, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_window_since_a_start_has_about_two_hundred_steps_of_five_minutes_or_more() {
        assert_eq!(since_window(None), ("65m".into(), "5m".into()));
        let ten_days = (Utc::now() - Duration::days(10)).to_rfc3339();
        let (w, s) = since_window(Some(&ten_days));
        assert_eq!(s, "72m");
        assert!(w.ends_with('m'));
    }
}
