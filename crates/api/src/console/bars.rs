//! A C1's runs as bars of their phases on one time axis, drawn by plotters like the other
//! charts ([`super::charts`]): a row a run, a colour a phase, the legend in a strip below,
//! the rows' names written where the axis would put them; the figures as a table.

use super::charts::{Band, Drawn, Figure, BLUE, GREEN, GREY, ORANGE, PURPLE, RED, SIZE};
use super::figures::parse;
use crate::views::history::HistoryBody as AccountHistory;
use chrono::{DateTime, Utc};
use plotters::prelude::*;

/// Bars on a time axis, one row each (a C1's runs' phases): its SVG and table.
pub fn bars(id: &'static str, title: &str, rows: &[(String, Vec<Band>)]) -> Figure {
    let mut svg = String::new();
    if let Err(e) = draw_bars(rows, &mut svg) {
        tracing::warn!(chart = id, error = %e, "chart not drawn");
        svg.clear();
    }
    let mut table = Vec::new();
    for (row, bands) in rows {
        for b in bands {
            let secs = (b.to - b.from).num_milliseconds() as f64 / 1000.0;
            table.push(vec![
                row.clone(),
                b.label.clone(),
                b.from.format("%Y-%m-%d %H:%M:%S").to_string(),
                format!("{secs:.1}"),
            ]);
        }
    }
    Figure {
        id,
        title: title.to_string(),
        svg,
        series: rows.iter().map(|(r, _)| r.clone()).collect(),
        head: ["Run", "Phase", "Began (UTC)", "Took (s)"]
            .map(String::from)
            .to_vec(),
        rows: table,
        source: String::new(),
    }
}

const PHASE_COLORS: [RGBColor; 6] = [BLUE, ORANGE, GREEN, PURPLE, RED, GREY];

fn draw_bars(rows: &[(String, Vec<Band>)], buf: &mut String) -> Drawn {
    let all = rows.iter().flat_map(|(_, b)| b);
    let x0 = all.clone().map(|b| b.from).min();
    let x1 = all.clone().map(|b| b.to).max();
    let (Some(x0), Some(x1)) = (x0, x1) else {
        return Ok(());
    };
    let (x0, x1) = (x0.timestamp_millis() as f64, x1.timestamp_millis() as f64);
    let height = 110 + 34 * rows.len() as u32;
    let root = SVGBackend::with_string(buf, (SIZE.0, height)).into_drawing_area();
    root.fill(&WHITE)?;
    // the legend's strip below the bars, written where plotters puts nothing
    let (area, strip) = root.split_vertically(height - 34);
    let n = rows.len() as f64;
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(190)
        .build_cartesian_2d(0.0..(x1 - x0).max(1.0) / 1000.0, 0.0..n)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 15))
        .x_desc("seconds from the first run's start")
        .draw()?;
    let font = ("sans-serif", 15).into_font();
    let mut names: Vec<&str> = Vec::new();
    for (i, (row, bands)) in rows.iter().enumerate() {
        let y = n - i as f64;
        let (_, py) = chart.backend_coord(&(0.0, y - 0.5));
        root.draw(&Text::new(row.clone(), (14, py - 8), font.clone()))?;
        for b in bands {
            let known = names.iter().position(|x| *x == b.label);
            let k = known.unwrap_or(names.len());
            if known.is_none() {
                names.push(&b.label);
            }
            let color = PHASE_COLORS[k % PHASE_COLORS.len()];
            let from = (b.from.timestamp_millis() as f64 - x0) / 1000.0;
            let to = ((b.to.timestamp_millis() as f64 - x0) / 1000.0).max(from + 0.001);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(from, y - 0.8), (to, y - 0.2)],
                color.filled(),
            )))?;
        }
    }
    let mut x = 200;
    for (k, name) in names.iter().enumerate() {
        let color = PHASE_COLORS[k % PHASE_COLORS.len()];
        strip.draw(&Rectangle::new([(x, 8), (x + 14, 22)], color.filled()))?;
        strip.draw(&Text::new(name.to_string(), (x + 20, 7), font.clone()))?;
        x += 40 + 9 * name.len() as i32;
    }
    root.present()?;
    Ok(())
}

/// A C1's runs (the newest five) as bars of their phases on one time axis: channels, recent
/// messages, all messages, catch-up and verification, each where it happened.
pub fn phases(h: &AccountHistory) -> Option<Figure> {
    let now = Utc::now();
    let mut rows = Vec::new();
    for r in h.runs.iter().take(5).rev() {
        let run = &r.run;
        let Some(start) = parse(&run.started_at) else {
            continue;
        };
        let at = |t: &Option<String>| t.as_deref().and_then(parse);
        let channels = at(&run.channels_migrated_at);
        let recent = at(&run.recent_messages_migrated_at);
        let completed = at(&run.completed_at);
        let caught_up = h
            .events
            .iter()
            .filter(|e| e.kind == "caught_up" && e.run_id == Some(run.run_id))
            .filter_map(|e| parse(&e.at))
            .max();
        let verified = at(&run.verified_at);
        let mut bands = Vec::new();
        let mut push = |from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>, label: &str| {
            if let (Some(from), Some(to)) = (from, to) {
                if to >= from {
                    bands.push(Band {
                        from,
                        to,
                        label: label.into(),
                    });
                }
            }
        };
        let open = |t: Option<DateTime<Utc>>| t.or(r.active.then_some(now));
        push(Some(start), open(channels), "channels");
        if channels.is_some() {
            push(channels, open(recent), "recent messages");
        }
        if recent.is_some() {
            push(recent, open(completed), "all messages");
        }
        if completed.is_some() && caught_up.is_some() {
            push(completed, caught_up, "catch-up");
        }
        if verified.is_some() {
            push(caught_up.or(completed), verified, "verification");
        }
        // a run id's random tail (its head is a time, shared by runs started together)
        let id = run.run_id.to_string();
        let label = format!("…{} ({})", &id[id.len() - 8..], r.lane);
        rows.push((label, bands));
    }
    rows.retain(|(_, b)| !b.is_empty());
    (!rows.is_empty()).then(|| bars("chart-phases", "Runs by phase", &rows))
}
