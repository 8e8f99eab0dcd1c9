//! Bodies of an account's history (`GET /admin/accounts/{shopper_id}/history`) and its rejects
//! (`GET /admin/accounts/{shopper_id}/rejects`): the runs with their lane and lease, one
//! timeline merged from the runs' phase times, the operators' writes on the account and its
//! dead letters, and the rejected source items with their raw bodies.

use super::admin::{AuditBody, DeadLetterBody, RunBody};
use super::{ts, PageInfo};
use chrono::{DateTime, Utc};
use migrator_core::ids::{CampaignId, RunId, ShopperId};
use migrator_core::MigrationStatus;
use migrator_store::queries::operators::history::{History, RejectRow, RunRow};
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /admin/accounts/{shopper_id}/history`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryBody {
    pub shopper_id: ShopperId,
    /// The real status now.
    pub migration_status: MigrationStatus,
    /// The account's runs, newest first (at most 20; superseded ones are pruned after
    /// `worker.runs_retention_days`).
    pub runs: Vec<HistoryRunBody>,
    /// Everything that happened, newest first: each run's phases, parking and verification,
    /// the operators' writes on the account (at most 50) and its dead letters (at most 20).
    pub events: Vec<EventBody>,
    pub dead_letters: Vec<DeadLetterBody>,
    pub operator_actions: Vec<AuditBody>,
}

/// A run in an account's history: the run's body with how it came and whether it is in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryRunBody {
    #[serde(flatten)]
    pub run: RunBody,
    /// `app` (the C1 opened the app) or `campaign`.
    pub lane: String,
    pub campaign_id: Option<CampaignId>,
    /// Whether a re-migration replaced it.
    pub superseded: bool,
    /// Whether a worker may still take a hop of it.
    pub active: bool,
}

/// One moment of an account's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventBody {
    #[schema(format = DateTime)]
    pub at: String,
    /// `run_started`, `channels_migrated`, `recent_messages_migrated`,
    /// `all_messages_migrated`, `caught_up` (what landed after the switch, copied),
    /// `repaired` (threads a verification found different, copied again), `parked`,
    /// `verified`, `run_finished`, `dead_letter`, `dead_letter_replayed` or `operator_action`.
    pub kind: String,
    pub run_id: Option<RunId>,
    /// What happened, in words (an error's text, who did what).
    pub detail: String,
}

impl HistoryBody {
    /// The body of `h`, for the account `shopper_id` in `status`.
    pub fn new(shopper_id: ShopperId, status: MigrationStatus, h: &History) -> Self {
        let mut t = Timeline::default();
        for row in &h.runs {
            t.run(row);
        }
        t.others(h);
        let mut events = t.0;
        events.sort_by_key(|e| std::cmp::Reverse(e.0));
        Self {
            shopper_id,
            migration_status: status,
            runs: h
                .runs
                .iter()
                .map(|r| HistoryRunBody {
                    run: RunBody::from(&r.run),
                    lane: r.lane.clone(),
                    campaign_id: r.campaign_id,
                    superseded: r.superseded,
                    active: r.active,
                })
                .collect(),
            events: events.into_iter().map(|(_, e)| e).collect(),
            dead_letters: h.dead_letters.iter().map(DeadLetterBody::from).collect(),
            operator_actions: h.audit.iter().map(AuditBody::from).collect(),
        }
    }
}

/// The timeline's events as they are found, each with its time (sorted newest first after).
#[derive(Default)]
struct Timeline(Vec<(DateTime<Utc>, EventBody)>);

impl Timeline {
    fn push(&mut self, at: DateTime<Utc>, kind: &str, run_id: Option<RunId>, detail: String) {
        let body = EventBody {
            at: ts(at),
            kind: kind.into(),
            run_id,
            detail,
        };
        self.0.push((at, body));
    }

    /// A run's events: its start, phases, parking, verification and end.
    fn run(&mut self, row: &RunRow) {
        let r = &row.run;
        let id = Some(r.id);
        self.push(
            r.started_at,
            "run_started",
            id,
            format!("on the {} lane", row.lane),
        );
        if let Some(t) = r.channels_at {
            let n = r.channels_migrated;
            self.push(t, "channels_migrated", id, format!("{n} channels"));
        }
        if let Some(t) = r.recent_at {
            self.push(
                t,
                "recent_messages_migrated",
                id,
                "the inbox is open".into(),
            );
        }
        if let Some(t) = r.completed_at {
            let detail = format!(
                "{} threads, {} messages, {} attachments stored, {} failed, {} rejects",
                r.threads_migrated,
                r.messages_migrated,
                r.attachments_stored,
                r.attachments_failed,
                r.rejects
            );
            self.push(t, "all_messages_migrated", id, detail);
        }
        if let Some(t) = r.parked_at {
            let error = r.last_error.as_deref().unwrap_or("no error recorded");
            let detail = format!("after {} attempts: {error}", r.total_attempts);
            self.push(t, "parked", id, detail);
        }
        if let (Some(t), Some(v)) = (r.verified_at, &r.verification) {
            self.push(t, "verified", id, v.clone());
        }
        if let Some(t) = r.finished_at {
            let how = match (row.superseded, r.cancelled) {
                (true, _) => "superseded by a re-migration",
                (false, true) => "cancelled",
                _ => "finished",
            };
            self.push(t, "run_finished", id, how.into());
        }
    }

    /// The account's dead letters (and replays), settling events and operators' writes.
    fn others(&mut self, h: &History) {
        for d in &h.dead_letters {
            let detail = format!("{} hop given up: {}", d.phase, d.error);
            self.push(d.created_at, "dead_letter", d.run_id, detail);
            if let Some(t) = d.replayed_at {
                let detail = format!("dead letter {} replayed", d.id);
                self.push(t, "dead_letter_replayed", d.run_id, detail);
            }
        }
        for e in &h.settle {
            let (kind, what) = match e.kind.as_str() {
                "repair" => ("repaired", "repaired"),
                _ => ("caught_up", "caught up"),
            };
            let last = if e.detail["final"] == true {
                " (the window's last)"
            } else {
                ""
            };
            let detail = format!(
                "{what}{last}: {} new threads, {} new messages",
                e.threads, e.messages
            );
            self.push(e.at, kind, Some(e.run_id), detail);
        }
        for a in &h.audit {
            let detail = format!("{} by {}", a.action, a.actor);
            self.push(a.created_at, "operator_action", None, detail);
        }
    }
}

/// `GET /admin/accounts/{shopper_id}/rejects`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectsPage {
    pub rejects: Vec<RejectBody>,
    #[serde(flatten)]
    pub paging: PageInfo,
}

/// A source item refused: why, and the item as it came.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectBody {
    pub id: i64,
    pub run_id: Option<RunId>,
    /// The source's table.
    pub source_table: String,
    /// The item's key there.
    pub source_key: String,
    pub reason: String,
    /// The item, raw (bounded by `worker.write_batch_bytes`).
    pub raw: serde_json::Value,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&RejectRow> for RejectBody {
    fn from(r: &RejectRow) -> Self {
        Self {
            id: r.id,
            run_id: r.run_id,
            source_table: r.source_table.clone(),
            source_key: r.source_key.clone(),
            reason: r.reason.clone(),
            raw: r.raw.clone(),
            created_at: ts(r.created_at),
        }
    }
}
