//! Bodies of the program's endpoints: a campaign asked for, a campaign with its figures, the
//! program as a whole (spec/api.md, Campaigns and Program).

use super::ts;
use chrono::{DateTime, Utc};
use migrator_core::campaign::{on_track, projected_finish, CampaignState};
use migrator_core::ids::{CampaignId, ShopperId};
use migrator_core::MigrationStatus;
use migrator_store::queries::operators::program::{ByLane, Program};
use migrator_store::queries::workflow::campaigns::{Campaign, Members};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `POST /admin/campaigns`: every field optional but `deadline`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignRequest {
    /// Statuses selected (default: `not-started`, `channel-failure`,
    /// `recent-messages-failure`); 1 to 8 of them.
    pub statuses: Option<Vec<MigrationStatus>>,
    /// Only accounts created before this (RFC 3339).
    #[schema(format = DateTime)]
    pub created_before: Option<String>,
    /// Only these C1s (at most 10,000).
    pub shopper_ids: Option<Vec<String>>,
    /// Accounts started a second, > 0 and at most 10,000 (default 20).
    pub rate_per_sec: Option<f64>,
    /// The campaign's accounts migrating at once, 1 to 100,000 (default 200).
    pub max_in_flight: Option<i32>,
    /// When Conversations is switched off (RFC 3339, in the future).
    #[schema(format = DateTime)]
    pub deadline: String,
}

/// `POST /admin/campaigns/dry-run`: what a start of the same request would select now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DryRunBody {
    /// Accounts the selection takes now (at least this many when `exact` is false).
    pub accounts: i64,
    /// Whether `accounts` is exact (false: a selection by creation time looked at the first
    /// 100,000 accounts of its statuses only, `accounts` a lower bound).
    pub exact: bool,
    /// The statuses selected (the defaults filled in).
    pub statuses: Vec<String>,
    /// Accounts started a second.
    pub rate_per_sec: f64,
    /// The deadline (RFC 3339).
    pub deadline: String,
}

/// `PATCH /admin/campaigns/{id}`: the pace of a running or paused campaign, changed live (the
/// driver reads it at its next tick). A field left out keeps its value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignPace {
    /// Accounts started a second, > 0 and at most 10,000.
    #[schema(exclusive_minimum = 0.0, maximum = 10000.0)]
    pub rate_per_sec: Option<f64>,
    /// The campaign's accounts migrating at once, 1 to 100,000.
    #[schema(minimum = 1, maximum = 100000)]
    #[serde(default, deserialize_with = "crate::extract::whole_i32")]
    pub max_in_flight: Option<i32>,
}

/// A campaign with its figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignBody {
    pub id: CampaignId,
    pub state: CampaignState,
    /// Statuses selected.
    pub statuses: Vec<String>,
    #[schema(format = DateTime)]
    pub created_before: Option<String>,
    /// Accounts selected, fixed once `selecting` is false.
    pub selected: i64,
    /// The selection is still being taken (a large population: a batch at a time).
    pub selecting: bool,
    /// Accounts the campaign started, or found started or done when their turn came.
    pub enqueued: i64,
    /// Selected accounts migrating now (any path).
    pub in_flight: i64,
    /// Selected accounts `completed`, by any path.
    pub completed: i64,
    /// Selected accounts in a failure status, not given up.
    pub failed: i64,
    /// Selected accounts the campaign gave up after `campaign.max_attempts` (their runs
    /// parked).
    pub parked: i64,
    /// `selected` − settled (completed, given up, or `messages-failure`, which the app shows
    /// completed and the sweeper repairs).
    pub remaining: i64,
    pub rate_per_sec: f64,
    pub max_in_flight: i32,
    /// Campaign-lane completions a second over the last 10 minutes (or since it started).
    pub achieved_per_sec: f64,
    /// When `remaining` reaches 0 at `achieved_per_sec` (null until a rate is known).
    #[schema(format = DateTime)]
    pub projected_finish: Option<String>,
    #[schema(format = DateTime)]
    pub deadline: String,
    /// Whether `projected_finish` meets `deadline` (null until a rate is known).
    pub on_track: Option<bool>,
    /// Why the driver last started fewer accounts than its rate allows (null: it did not).
    pub held_back: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub created_by: String,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
}

impl CampaignBody {
    /// `c` with its members' figures and the campaign lane's completions since `since`.
    pub fn new(
        c: &Campaign,
        m: &Members,
        completed_recently: i64,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        let remaining = (c.selected - m.settled()).max(0);
        let window = (now - since).num_milliseconds().max(1) as f64 / 1000.0;
        let achieved = completed_recently as f64 / window;
        let state = c.state();
        let finish = match state {
            CampaignState::Done => c.finished_at,
            _ if c.selecting => None,
            _ => projected_finish(now, remaining, achieved),
        };
        Self {
            id: c.id,
            state,
            statuses: c.statuses.clone(),
            created_before: c.created_before.map(ts),
            selected: c.selected,
            selecting: c.selecting,
            enqueued: c.enqueued,
            in_flight: m.in_flight(),
            completed: m.get("completed"),
            failed: m.failed(),
            parked: m.get("parked"),
            remaining,
            rate_per_sec: c.rate_per_sec,
            max_in_flight: c.max_in_flight,
            achieved_per_sec: (achieved * 1000.0).round() / 1000.0,
            projected_finish: finish.map(ts),
            deadline: ts(c.deadline),
            on_track: on_track(finish, Some(c.deadline)),
            held_back: c.held_back.clone(),
            created_at: ts(c.created_at),
            created_by: c.created_by.clone(),
            finished_at: c.finished_at.map(ts),
        }
    }
}

/// `GET /admin/campaigns`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignsBody {
    /// Newest first (the newest 100).
    pub campaigns: Vec<CampaignBody>,
}

/// Completions on each lane.
#[derive(Debug, Serialize, ToSchema)]
pub struct LaneCounts {
    /// C1s who opened the app (and operators' starts).
    pub app: i64,
    /// Campaigns.
    pub campaign: i64,
}

impl From<ByLane> for LaneCounts {
    fn from(b: ByLane) -> Self {
        Self {
            app: b.app,
            campaign: b.campaign,
        }
    }
}

/// `GET /admin/program`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramBody {
    /// Accounts by real status, every status listed.
    pub accounts: BTreeMap<String, i64>,
    /// Every account.
    pub total: i64,
    /// Share of accounts `completed` (0–1).
    pub done_share: f64,
    /// Completions over the last hour, by lane.
    pub completed_per_hour: LaneCounts,
    /// Completions over the last day, by lane.
    pub completed_per_day: LaneCounts,
    /// When every account not yet `completed` is, at the last hour's rate (null without a
    /// rate).
    #[schema(format = DateTime)]
    pub projected_finish: Option<String>,
    /// The live campaign's deadline, else `program.deadline` (null: none).
    #[schema(format = DateTime)]
    pub deadline: Option<String>,
    /// Whether the projection meets the deadline (null without either).
    pub on_track: Option<bool>,
    /// Completed accounts still settling: their settle window is open (a catch-up pending),
    /// so items may still land for them.
    pub settling: i64,
}

/// The program's figures worked out: what the body and the gauges show.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramView {
    /// The figures read.
    pub program: Program,
    /// Share completed.
    pub done_share: f64,
    /// Projected finish.
    pub finish: Option<DateTime<Utc>>,
    /// Deadline in force.
    pub deadline: Option<DateTime<Utc>>,
    /// Whether it is met.
    pub on_track: Option<bool>,
}

impl ProgramView {
    /// From the figures, the deadline in force and the time.
    pub fn new(program: Program, deadline: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Self {
        let total = program.total();
        let completed = program.count(MigrationStatus::Completed);
        let per_sec = program.last_hour.total() as f64 / 3600.0;
        let finish = projected_finish(now, program.remaining(), per_sec);
        Self {
            done_share: if total == 0 {
                0.0
            } else {
                completed as f64 / total as f64
            },
            finish,
            deadline,
            on_track: on_track(finish, deadline),
            program,
        }
    }
}

impl From<&ProgramView> for ProgramBody {
    fn from(v: &ProgramView) -> Self {
        Self {
            accounts: v
                .program
                .accounts
                .iter()
                .map(|(s, n)| (s.as_str().to_string(), *n))
                .collect(),
            total: v.program.total(),
            done_share: (v.done_share * 10_000.0).round() / 10_000.0,
            completed_per_hour: v.program.last_hour.into(),
            completed_per_day: v.program.last_day.into(),
            projected_finish: v.finish.map(ts),
            deadline: v.deadline.map(ts),
            on_track: v.on_track,
            settling: v.program.settling,
        }
    }
}

/// A shopper id of a request's list, checked.
pub fn shopper_ids(ids: &[String]) -> Result<Vec<ShopperId>, String> {
    ids.iter()
        .map(|s| ShopperId::parse(s).map_err(|e| format!("{s:?}: {e}")))
        .collect()
}
