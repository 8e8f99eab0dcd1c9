//! `GET /admin/program/history`'s body: the program's and the fleet's series over a window at
//! a step, each aligned with the buckets' starts — what the console draws, for any other tool.

pub use super::ts;
#[cfg(test)]
use chrono::{DateTime, Utc};
use migrator_core::tally::{parse_inbox_series, quantile_ms, BUCKETS};
use migrator_store::queries::operators::series::{CampaignEvent, Sample, Sum, Window};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// The series a body can hold (`series`' keys; all of them unless `?series=` names some).
pub const SERIES: [&str; 19] = [
    "remaining",
    "accounts",
    "completed_app",
    "completed_campaign",
    "inbox_app_p50_ms",
    "inbox_app_p99_ms",
    "inbox_campaign_p50_ms",
    "inbox_campaign_p99_ms",
    "hops_ok",
    "hops_retried",
    "hops_failed",
    "hops_dropped",
    "dynamodb_reads_per_sec",
    "dynamodb_reads_copy",
    "dynamodb_reads_catch_up",
    "dynamodb_reads_verification",
    "refusals_media",
    "refusals_rest",
    "dead_letters",
];

/// `?window=&step=&campaign=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgramHistoryQuery {
    /// How far back, as a duration (`1h`, `24h`, `48h`, `30d`); default `24h`, at most `400d`.
    pub window: Option<String>,
    /// The bucket's width, as a duration of whole minutes (`1m`, `5m`, `1h`, `1d`); default the
    /// window over 288; at most 1,500 buckets a window.
    pub step: Option<String>,
    /// A campaign's id: `remaining` and `accounts` are its burn-down, `events` its own.
    pub campaign: Option<String>,
    /// The series wanted, comma-separated (default: every one); only their tables are read.
    pub series: Option<String>,
    /// The window ends with the bucket holding this time (RFC 3339; default now): a tool
    /// reading the same window twice pins it.
    pub until: Option<String>,
}

/// A campaign's event on the time axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CampaignEventBody {
    /// The campaign.
    pub campaign_id: String,
    /// When (RFC 3339).
    pub at: String,
    /// `started`, `paused`, `resumed`, `finished`, `cancelled`, `held_back` or `released`.
    pub kind: String,
    /// Why it holds back (`held_back` only).
    pub detail: Option<String>,
}

/// The series over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProgramHistoryBody {
    /// The window's start (RFC 3339, inclusive; a multiple of the step since the epoch).
    pub from: String,
    /// Its end (exclusive): the end of the bucket holding now.
    pub to: String,
    /// The buckets' width, in seconds.
    pub step_secs: i64,
    /// Each bucket's start (RFC 3339); every series has one value per bucket.
    pub at: Vec<String>,
    /// By name (those asked for): `remaining` and `accounts` (the burn-down's last sample in the bucket: the
    /// program's, or the campaign's when one is asked for), `completed_app` and
    /// `completed_campaign` (completions in the bucket, three days kept),
    /// `inbox_{app,campaign}_{p50,p99}_ms` (time to an inbox, from a histogram),
    /// `hops_{ok,retried,failed,dropped}`, `dynamodb_reads_per_sec` (the bucket's mean) and
    /// `dynamodb_reads_{copy,catch_up,verification}` (pages read in the bucket, by purpose),
    /// `refusals_{media,rest}` and `dead_letters` (in the bucket; the fleet's, three days
    /// kept). Null where nothing was recorded.
    pub series: BTreeMap<String, Vec<Option<f64>>>,
    /// The app's time-to-inbox objective campaigns are held to (`campaign.max_inbox_p99_ms`).
    pub objective_inbox_p99_ms: u64,
    /// The fleet's cap on DynamoDB reads a second now (an operator's throttle, else the
    /// settings'), if any.
    pub dynamodb_read_cap_per_sec: Option<f64>,
    /// The deadline in force (the live campaign's, else `program.deadline`; the campaign's
    /// when one is asked for).
    pub deadline: Option<String>,
    /// When the scope's remaining accounts reach zero at the last hour's rate.
    pub projected_finish: Option<String>,
    /// When the scope's burn-down history starts (its first sample), if it has one.
    pub started_at: Option<String>,
    /// Campaigns' events within the window, oldest first (at most 500).
    pub events: Vec<CampaignEventBody>,
}

/// What the series are built from.
#[derive(Debug, Default)]
pub struct Read {
    /// Burn-down samples, one a bucket at most.
    pub burn_down: Vec<Sample>,
    /// Completions by lane.
    pub completions: Vec<Sum>,
    /// The fleet's tallies.
    pub fleet: Vec<Sum>,
    /// Campaigns' events.
    pub events: Vec<CampaignEvent>,
}

/// The series `wanted` (names of [`SERIES`]) of `read` over `w`, one value a bucket.
pub fn series(w: &Window, read: &Read, wanted: &[&str]) -> BTreeMap<String, Vec<Option<f64>>> {
    let n = w.buckets().len();
    let mut out: BTreeMap<String, Vec<Option<f64>>> = wanted
        .iter()
        .map(|s| (s.to_string(), vec![None; n]))
        .collect();
    let mut put = |name: &str, i: usize, v: f64| {
        if let Some(slot) = out.get_mut(name).and_then(|s| s.get_mut(i)) {
            *slot = Some(slot.unwrap_or(0.0) + v);
        }
    };
    for s in &read.burn_down {
        if let Some(i) = w.bucket_of(s.at) {
            put("remaining", i, s.remaining as f64);
            put("accounts", i, s.accounts as f64);
        }
    }
    let mut inbox: BTreeMap<(String, usize), [u64; BUCKETS]> = BTreeMap::new();
    for s in read.completions.iter().chain(&read.fleet) {
        let Some(i) = w.bucket_of(s.at) else { continue };
        if let Some((lane, b)) = parse_inbox_series(&s.series) {
            inbox.entry((lane.to_string(), i)).or_insert([0; BUCKETS])[b] += s.n.max(0) as u64;
        } else if s.series.starts_with("dynamodb_reads") {
            // by purpose, and all of them a second
            put(&s.series, i, s.n as f64);
            put("dynamodb_reads_per_sec", i, s.n as f64 / w.step_secs as f64);
        } else {
            put(&s.series, i, s.n as f64);
        }
    }
    for ((lane, i), counts) in inbox {
        for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
            if let Some(ms) = quantile_ms(&counts, q) {
                put(&format!("inbox_{lane}_{name}_ms"), i, ms.round());
            }
        }
    }
    // counts are zero, not unknown, in a bucket the fleet's history covers (the burn-down's
    // samples and the percentiles are unknown where nothing was recorded)
    let counts = SERIES
        .iter()
        .filter(|s| !matches!(**s, "remaining" | "accounts") && !s.starts_with("inbox_"));
    for name in counts.copied() {
        if let Some(v) = out.get_mut(name) {
            for x in v.iter_mut() {
                x.get_or_insert(0.0);
            }
        }
    }
    out
}

/// The events as the body lists them.
pub fn events(read: &Read) -> Vec<CampaignEventBody> {
    read.events
        .iter()
        .map(|e| CampaignEventBody {
            campaign_id: e.campaign_id.to_string(),
            at: ts(e.at),
            kind: e.kind.clone(),
            detail: e.detail.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sum(series: &str, at: DateTime<Utc>, n: i64) -> Sum {
        Sum {
            series: series.into(),
            at,
            n,
        }
    }

    #[test]
    fn tallies_become_series_aligned_with_the_buckets() {
        let from = Utc.with_ymd_and_hms(2026, 12, 8, 0, 0, 0).unwrap();
        let w = Window {
            from,
            to: from + chrono::Duration::minutes(3),
            step_secs: 60,
        };
        let m = |k| from + chrono::Duration::minutes(k);
        let read = Read {
            burn_down: vec![Sample {
                at: m(1),
                accounts: 10,
                remaining: 4,
            }],
            completions: vec![sum("completed_app", m(0), 2)],
            fleet: vec![
                sum("dynamodb_reads_copy", m(2), 100),
                sum("dynamodb_reads_verification", m(2), 20),
                sum("inbox_app_le_200", m(2), 10),
                sum("hops_ok", m(0), 3),
            ],
            events: vec![],
        };
        let s = series(&w, &read, &SERIES);
        assert_eq!(s.len(), SERIES.len());
        assert_eq!(
            series(&w, &read, &["hops_ok"]).len(),
            1,
            "only what is asked for"
        );
        assert_eq!(s["remaining"], vec![None, Some(4.0), None]);
        assert_eq!(s["completed_app"], vec![Some(2.0), Some(0.0), Some(0.0)]);
        assert_eq!(s["dynamodb_reads_per_sec"][2], Some(2.0));
        assert_eq!(s["dynamodb_reads_verification"][2], Some(20.0));
        assert_eq!(s["hops_ok"][0], Some(3.0));
        assert_eq!(s["inbox_app_p50_ms"], vec![None, None, Some(150.0)]);
        assert_eq!(s["inbox_campaign_p99_ms"], vec![None, None, None]);
    }
}
