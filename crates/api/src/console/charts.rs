//! The console's charts, drawn on the server as SVG by plotters (no JavaScript, no fonts
//! loaded: the browser lays out the text), each with its figures as a table for its text
//! alternative. A chart is lines over time (gaps where a value is unknown), levels (an
//! objective, a cap), marks (a deadline, a campaign's moves) and bands (a campaign held back);
//! bars on a time axis (a C1's phases) are [`super::bars`].
//!
//! plotters was chosen over charts-rs: the most used Rust charting crate, its SVG backend emits
//! presentation attributes only (no inline `style`, which the console's CSP refuses) and
//! escapes text, and without its `ttf` feature it loads no font.

use chrono::{DateTime, Utc};
use plotters::prelude::*;

/// Width and height of a chart's drawing (scaled to the page by CSS).
pub(super) const SIZE: (u32, u32) = (1160, 300);

/// The palette (Okabe–Ito: told apart by people who do not see every colour).
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
/// Orange.
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
/// Green.
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
/// Vermilion.
pub const RED: RGBColor = RGBColor(213, 94, 0);
/// Purple.
pub const PURPLE: RGBColor = RGBColor(204, 121, 167);
/// Grey.
pub const GREY: RGBColor = RGBColor(110, 110, 110);

/// A series drawn as a line.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its name in the legend and the table.
    pub name: String,
    /// Its colour.
    pub color: RGBColor,
    /// `(time, value)`; `None` breaks the line.
    pub points: Vec<(DateTime<Utc>, Option<f64>)>,
    /// Drawn dashed (a projection).
    pub dashed: bool,
    /// Left out of the table (a projection drawn from the others).
    pub drawn_only: bool,
}

/// A horizontal line across the chart: an objective, a cap.
#[derive(Debug, Clone)]
pub struct Level {
    /// Its legend.
    pub name: String,
    /// Its value.
    pub value: f64,
}

/// A vertical line at a moment: a deadline, a campaign's start, pause or end.
#[derive(Debug, Clone)]
pub struct Mark {
    /// When.
    pub at: DateTime<Utc>,
    /// What, written beside it.
    pub label: String,
    /// Its colour.
    pub color: RGBColor,
}

/// A shaded span of time (a campaign held back), or a bar on a row.
#[derive(Debug, Clone)]
pub struct Band {
    /// Start.
    pub from: DateTime<Utc>,
    /// End.
    pub to: DateTime<Utc>,
    /// What it was.
    pub label: String,
}

/// A chart of lines over time.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The figure's id in the page.
    pub id: &'static str,
    /// Its title.
    pub title: String,
    /// What the values are (the y axis).
    pub unit: &'static str,
    /// The time axis.
    pub from: DateTime<Utc>,
    /// Its end.
    pub to: DateTime<Utc>,
    /// The series.
    pub lines: Vec<Line>,
    /// Levels.
    pub levels: Vec<Level>,
    /// Marks.
    pub marks: Vec<Mark>,
    /// Shaded spans.
    pub bands: Vec<Band>,
}

/// A chart as the page shows it: its SVG and its table.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Its id.
    pub id: &'static str,
    /// Its title.
    pub title: String,
    /// The SVG (plotters' output: escaped text, no scripts).
    pub svg: String,
    /// The series' names, as the legend lists them.
    pub series: Vec<String>,
    /// Column heads of the text alternative.
    pub head: Vec<String>,
    /// Its rows.
    pub rows: Vec<Vec<String>>,
    /// The `GET /admin/program/history` query its series came from (empty: none).
    pub source: String,
}

/// A value as the tables print it: whole numbers without decimals, others with one; `—` for
/// unknown.
pub fn figure(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

fn time_label(t: f64, span_secs: f64) -> String {
    let Some(t) = DateTime::from_timestamp(t as i64, 0) else {
        return String::new();
    };
    if span_secs <= 2.0 * 86_400.0 {
        t.format("%H:%M").to_string()
    } else {
        t.format("%b %d").to_string()
    }
}

fn value_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// Runs of known points of a line.
fn segments(points: &[(DateTime<Utc>, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for (t, v) in points {
        match v {
            Some(v) => out
                .last_mut()
                .expect("one run")
                .push((t.timestamp() as f64, *v)),
            None if out.last().is_some_and(|r| !r.is_empty()) => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

pub(super) type Drawn = Result<(), Box<dyn std::error::Error>>;

fn draw(c: &Chart, buf: &mut String) -> Drawn {
    let root = SVGBackend::with_string(buf, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (x0, x1) = (c.from.timestamp() as f64, c.to.timestamp() as f64);
    let top = c
        .lines
        .iter()
        .flat_map(|l| l.points.iter().filter_map(|(_, v)| *v))
        .chain(c.levels.iter().map(|l| l.value))
        .fold(0.0_f64, f64::max);
    let y1 = if top > 0.0 { top * 1.12 } else { 1.0 };
    let span = x1 - x0;
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1.max(x0 + 1.0), 0.0..y1)?;
    chart
        .configure_mesh()
        .x_labels(10)
        .y_labels(6)
        .y_desc(c.unit)
        .light_line_style(RGBColor(238, 238, 238))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 15))
        .x_label_formatter(&|x| time_label(*x, span))
        .y_label_formatter(&|y| value_label(*y))
        .draw()?;
    for b in &c.bands {
        let r = Rectangle::new(
            [
                (b.from.timestamp() as f64, 0.0),
                (b.to.timestamp() as f64, y1),
            ],
            ORANGE.mix(0.15).filled(),
        );
        chart.draw_series(std::iter::once(r))?;
    }
    for l in &c.lines {
        let style = l.color.stroke_width(2);
        let mut labelled = false;
        for run in segments(&l.points) {
            let drawn = if l.dashed {
                chart.draw_series(DashedLineSeries::new(run, 8, 5, style))?
            } else if run.len() == 1 {
                chart.draw_series(run.into_iter().map(|p| Circle::new(p, 3, style.filled())))?
            } else {
                chart.draw_series(LineSeries::new(run, style))?
            };
            if !labelled {
                let color = l.color;
                drawn
                    .label(&l.name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
                labelled = true;
            }
        }
    }
    for lv in &c.levels {
        let style = RED.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, lv.value), (x1, lv.value)],
                4,
                4,
                style,
            ))?
            .label(&lv.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED));
    }
    draw_marks(&mut chart, &c.marks, (x0, x1), y1)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .label_font(("sans-serif", 16))
        .draw()?;
    root.present()?;
    Ok(())
}

type Plot<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The marks: a vertical line each, its label beside it (marks close together written one
/// under the other).
fn draw_marks(chart: &mut Plot, marks: &[Mark], (x0, x1): (f64, f64), y1: f64) -> Drawn {
    let span = x1 - x0;
    let mut last_label: Option<(f64, usize)> = None;
    for m in marks {
        let t = m.at.timestamp() as f64;
        if !(x0..=x1).contains(&t) {
            continue;
        }
        // labels of marks close together are written one under the other
        let row = match last_label {
            Some((prev, row)) if (t - prev).abs() < span * 0.12 => row + 1,
            _ => 0,
        };
        last_label = Some((t, row));
        let style = m.color.stroke_width(1);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(t, 0.0), (t, y1)],
            style,
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            m.label.clone(),
            (t, y1 * (0.97 - 0.07 * (row % 8) as f64)),
            ("sans-serif", 15).into_font().color(&m.color),
        )))?;
    }
    Ok(())
}

/// The chart drawn, with its table: one row per time of its first line, a column per
/// series in the table.
pub fn render(c: &Chart) -> Figure {
    let mut svg = String::new();
    if let Err(e) = draw(c, &mut svg) {
        tracing::warn!(chart = c.id, error = %e, "chart not drawn");
        svg.clear();
    }
    let tabled: Vec<&Line> = c.lines.iter().filter(|l| !l.drawn_only).collect();
    let mut head = vec!["Time (UTC)".to_string()];
    head.extend(tabled.iter().map(|l| l.name.clone()));
    let rows = tabled
        .first()
        .map(|first| {
            first
                .points
                .iter()
                .enumerate()
                .map(|(i, (t, _))| {
                    let mut row = vec![t.format("%Y-%m-%d %H:%M").to_string()];
                    row.extend(
                        tabled
                            .iter()
                            .map(|l| figure(l.points.get(i).and_then(|p| p.1))),
                    );
                    row
                })
                .collect()
        })
        .unwrap_or_default();
    let mut series: Vec<String> = c.lines.iter().map(|l| l.name.clone()).collect();
    series.extend(c.levels.iter().map(|l| l.name.clone()));
    Figure {
        id: c.id,
        title: c.title.clone(),
        svg,
        series,
        head,
        rows,
        source: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_chart_is_an_svg_with_its_series_and_a_table_of_its_figures() {
        let t = |m| Utc.with_ymd_and_hms(2026, 12, 8, 10, m, 0).unwrap();
        let c = Chart {
            id: "test",
            title: "Hops <a minute>".into(),
            unit: "hops",
            from: t(0),
            to: t(3),
            lines: vec![Line {
                name: "ok".into(),
                color: BLUE,
                points: vec![(t(0), Some(2.0)), (t(1), None), (t(2), Some(2.5))],
                dashed: false,
                drawn_only: false,
            }],
            levels: vec![Level {
                name: "cap".into(),
                value: 4.0,
            }],
            marks: vec![Mark {
                at: t(1),
                label: "paused <now>".into(),
                color: GREY,
            }],
            bands: vec![],
        };
        let f = render(&c);
        assert!(f.svg.starts_with("<svg"), "{}", f.svg);
        assert!(f.svg.contains("&lt;now&gt;"), "text escaped");
        assert!(!f.svg.contains("style="), "no inline styles (the CSP)");
        for text in ["paused &lt;now&gt;", "cap", "ok"] {
            assert!(
                f.svg.contains(&format!("\n{text}\n</text>")),
                "{text} written"
            );
        }
        assert_eq!(f.series, vec!["ok", "cap"]);
        assert_eq!(f.head, vec!["Time (UTC)", "ok"]);
        assert_eq!(f.rows[1], vec!["2026-12-08 10:01", "—"]);
        assert_eq!(f.rows[2][1], "2.5");
    }

    #[test]
    fn gaps_break_a_line_into_runs() {
        let t = |m| Utc.with_ymd_and_hms(2026, 12, 8, 10, m, 0).unwrap();
        let runs = segments(&[
            (t(0), Some(1.0)),
            (t(1), Some(2.0)),
            (t(2), None),
            (t(3), None),
            (t(4), Some(3.0)),
        ]);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1].len(), 1);
    }
}
