//! `migratorctl bulk`: one action on every account a list gives — retry or verify the
//! accounts a filter selects, un-park parked runs, replay dead letters — walked by cursor (each
//! page as cheap as the first), at a bounded rate, with `--dry-run` to see the targets first.
//! Every action is the single command's endpoint, so each is audited on its own.

use crate::api::Api;
use crate::exit;
use crate::request::Request;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// What to do to each target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// Re-run each selected account's failed phase.
    Retry,
    /// Ask for a verification of each selected account.
    Verify,
    /// Un-park every parked run.
    Unpark,
    /// Replay every dead letter not replayed yet.
    Replay,
}

/// `migratorctl bulk ACTION [filters]`.
#[derive(Debug, clap::Args)]
pub struct BulkArgs {
    /// retry, verify (the accounts the filters select), unpark (parked runs), replay (dead
    /// letters not replayed).
    #[arg(value_enum)]
    action: Action,
    /// retry, verify: the accounts these select.
    #[command(flatten)]
    filters: crate::Filters,
    /// List the targets; do nothing.
    #[arg(long)]
    dry_run: bool,
    /// Actions a second at most.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// Targets at most.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

/// The list walked for `a`, and how a row names its target.
fn source(b: &BulkArgs) -> (Request, &'static str, &'static str) {
    match b.action {
        Action::Retry | Action::Verify => (b.filters.migrations(), "accounts", "shopper_id"),
        Action::Unpark => (Request::get(&["admin", "parked"]), "parked", "shopper_id"),
        Action::Replay => (
            Request::get(&["admin", "dead-letters"]),
            "dead_letters",
            "id",
        ),
    }
}

/// The action's request on one target.
fn act(a: Action, target: &str) -> Request {
    match a {
        Action::Retry => Request::post(&["admin", "accounts", target, "retry"]),
        Action::Verify => Request::post(&["admin", "accounts", target, "verify"]),
        Action::Unpark => Request::post(&["admin", "accounts", target, "unpark"]),
        Action::Replay => Request::post(&["admin", "dead-letters", target, "replay"]),
    }
}

/// Walks the list (pages of 100 by cursor) for up to `limit` targets.
async fn targets(api: &Api, b: &BulkArgs) -> anyhow::Result<Result<Vec<String>, i32>> {
    let (list, field, key) = source(b);
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = list
            .clone()
            .param("per_page", Some(100))
            .param("after", after.as_deref());
        let (status, text) = match api.send(&page).await {
            Ok(a) => a,
            Err(code) => return Ok(Err(code)),
        };
        if !status.is_success() {
            eprintln!("{status}\n{text}");
            return Ok(Err(exit::of(status)));
        }
        let v: Value = serde_json::from_str(&text)?;
        for row in v[field].as_array().into_iter().flatten() {
            // a replayed dead letter is not replayed twice
            if b.action == Action::Replay && !row["replayed_at"].is_null() {
                continue;
            }
            if out.len() < b.limit {
                out.push(match &row[key] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            }
        }
        after = v["next"].as_str().map(String::from);
        if after.is_none() || out.len() >= b.limit {
            return Ok(Ok(out));
        }
    }
}

/// Runs the bulk action; prints each target's outcome and a summary; the exit status.
pub async fn run(api: &Api, b: &BulkArgs) -> anyhow::Result<i32> {
    if !(b.rate > 0.0 && b.rate <= 100.0) {
        eprintln!("--rate is above 0 and at most 100 actions a second");
        return Ok(exit::USAGE);
    }
    let found = match targets(api, b).await? {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    if b.dry_run {
        let summary = json!({ "action": format!("{:?}", b.action).to_lowercase(),
                              "dry_run": true, "targets": found });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(exit::OK);
    }
    let pause = Duration::from_secs_f64(1.0 / b.rate);
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut worst = exit::OK;
    for t in &found {
        let (kind, code) = match api.send(&act(b.action, t)).await {
            Ok((status, text)) => {
                let code = exit::of(status);
                if code != exit::OK {
                    eprintln!("{t}: {status} {text}");
                }
                (status.as_u16().to_string(), code)
            }
            Err(code) => ("unreachable".to_string(), code),
        };
        *outcomes.entry(kind).or_default() += 1;
        worst = worst.max(code);
        tokio::time::sleep(pause).await;
    }
    let summary = json!({ "action": format!("{:?}", b.action).to_lowercase(),
                          "targets": found.len(), "outcomes": outcomes });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(worst)
}
