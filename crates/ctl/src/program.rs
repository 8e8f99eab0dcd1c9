//! What the console draws, in the terminal: `migratorctl history <shopper_id>` prints a C1's
//! timeline (`GET /admin/accounts/{shopper_id}/history`), `migratorctl program --watch`
//! redraws the program's figures (`GET /admin/program`) with the last day's burn-down and
//! completions as sparklines (`GET /admin/program/history`) until interrupted.

use crate::api::Api;
use crate::exit;
use crate::output::{self, Format};
use crate::request::Request;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde_json::Value;
use std::time::Duration;

/// A C1's timeline, newest first: when, what, which run, in words; its runs below.
pub fn history_table(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return text.to_string();
    };
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["at", "what", "run", "detail"]);
    for e in v["events"].as_array().into_iter().flatten() {
        let run = e["run_id"].as_str().map(|r| r.get(..8).unwrap_or(r));
        t.add_row([
            e["at"].as_str().unwrap_or_default(),
            e["kind"].as_str().unwrap_or_default(),
            run.unwrap_or_default(),
            e["detail"].as_str().unwrap_or_default(),
        ]);
    }
    format!(
        "{} is {}\n{t}",
        v["shopper_id"].as_str().unwrap_or_default(),
        v["migration_status"].as_str().unwrap_or_default()
    )
}

/// `values` as a line of block characters, scaled to their largest (unknown ones blank).
pub fn sparkline(values: &[Option<f64>]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let top = values.iter().flatten().fold(0.0_f64, |a, b| a.max(*b));
    values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if top <= 0.0 => BLOCKS[0],
            Some(v) => BLOCKS[((v / top) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

fn series(h: &Value, name: &str) -> Vec<Option<f64>> {
    h["series"][name]
        .as_array()
        .map(|a| a.iter().map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// One frame: the program's figures and the last day's lines.
async fn frame(api: &Api, f: Format) -> Result<String, i32> {
    let (status, text) = api.send(&Request::get(&["admin", "program"])).await?;
    if !status.is_success() {
        eprintln!("{status}\n{text}");
        return Err(exit::of(status));
    }
    let hist = Request::get(&["admin", "program", "history"])
        .param("window", Some("24h"))
        .param("step", Some("30m"));
    let (status, h) = api.send(&hist).await?;
    let h: Value = if status.is_success() {
        serde_json::from_str(&h).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let mut out = output::render(&text, f);
    let last = |name: &str| series(&h, name).iter().rev().find_map(|v| *v);
    out.push_str(&format!(
        "\nlast 24 h, 30 min a character\nnot yet migrated  {} {}\ncompleted (app)   {}\ncompleted (camp.) {}\napp inbox p99 ms  {} {}\n",
        sparkline(&series(&h, "remaining")),
        last("remaining").map_or(String::new(), |v| format!("{v:.0}")),
        sparkline(&series(&h, "completed_app")),
        sparkline(&series(&h, "completed_campaign")),
        sparkline(&series(&h, "inbox_app_p99_ms")),
        h["objective_inbox_p99_ms"]
            .as_u64()
            .map_or(String::new(), |o| format!("(objective {o})")),
    ));
    Ok(out)
}

/// `program --watch`: a frame every `every`, the screen cleared between them on a terminal,
/// until Ctrl-C (or `frames` of them).
pub async fn watch(api: &Api, every: Duration, frames: Option<u32>, f: Format) -> i32 {
    use std::io::IsTerminal;
    let clear = std::io::stdout().is_terminal();
    let mut shown = 0u32;
    loop {
        match frame(api, f).await {
            Ok(text) => {
                if clear {
                    print!("\x1b[2J\x1b[H");
                }
                println!(
                    "{}  (every {every:?}; Ctrl-C stops)\n{text}",
                    humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                );
            }
            Err(code) => return code,
        }
        shown += 1;
        if frames.is_some_and(|n| shown >= n) {
            return exit::OK;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return exit::OK,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_scales_to_its_largest_value() {
        assert_eq!(sparkline(&[Some(0.0), Some(7.0), None, Some(3.5)]), "▁█ ▅");
        assert_eq!(sparkline(&[Some(0.0), Some(0.0)]), "▁▁");
    }

    #[test]
    fn a_timeline_prints_each_event() {
        let t = history_table(
            r#"{"shopper_id":"c1","migration_status":"completed","events":[
                {"at":"2026-12-08T10:00:00.000Z","kind":"run_finished","run_id":"0123456789","detail":"done"}]}"#,
        );
        assert!(t.starts_with("c1 is completed"));
        assert!(t.contains("run_finished") && t.contains("01234567"));
    }
}
