//! Bodies of the operators' endpoints: real statuses, runs with their attempts and errors,
//! parked runs, dead letters, the audit log.

use super::{ts, PageInfo};
use migrator_core::ids::*;
use migrator_core::MigrationStatus;
use migrator_store::models::{Account, Attachment, AuditEntry, DeadLetter, MigrationRun};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /admin/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub shopper_id: ShopperId,
    /// 1 to 256 characters, not only spaces, no NUL.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000]*[^\\u0000 \\t\\n\\r][^\\u0000]*$"
    )]
    pub name: String,
}

/// `GET /admin/accounts/{shopper_id}/migration`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MigrationBody {
    pub shopper_id: ShopperId,
    /// The real status.
    pub migration_status: MigrationStatus,
    /// What the app is shown.
    pub app_migration_status: MigrationStatus,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub run: Option<RunBody>,
}

/// A migration run: phase, attempts, lease, timings, figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunBody {
    pub run_id: RunId,
    /// `channels`, `recent-messages`, `all-messages`, `catch-up` (a completed migration
    /// copying what landed after the switch, or repairing) or `done`.
    pub phase: String,
    pub cancelled: bool,
    /// Delivery attempt of the hop in force.
    pub attempts: i32,
    /// Failed attempts across deliveries, re-enqueues and repairs.
    pub total_attempts: i32,
    #[schema(format = DateTime)]
    pub parked_at: Option<String>,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    #[schema(format = DateTime)]
    pub lease_expires_at: Option<String>,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub channels_migrated_at: Option<String>,
    #[schema(format = DateTime)]
    pub recent_messages_migrated_at: Option<String>,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub figures: FiguresBody,
    /// The latest verification of this run: `match`, `diff`, or null (none finished yet).
    pub verification: Option<String>,
    #[schema(format = DateTime)]
    pub verified_at: Option<String>,
    /// Settling until then: the C1's settle window is open, items may still land in the
    /// source and catch-ups copy them; the verification follows the last. Null once settled
    /// (or before completion).
    #[schema(format = DateTime)]
    pub settling_until: Option<String>,
    /// The next catch-up is due then (null: none pending).
    #[schema(format = DateTime)]
    pub next_catch_up_at: Option<String>,
    /// Catch-ups done (what landed after the switch, copied).
    pub catch_ups: i32,
    /// Repairs done (threads a verification found different, copied again).
    pub repairs: i32,
}

impl RunBody {
    /// With the run's settling (catch-ups, repairs, the window while it is open).
    pub fn settling(
        mut self,
        s: Option<&migrator_store::queries::workflow::settling::Settling>,
    ) -> Self {
        let now = chrono::Utc::now();
        if let Some(s) = s {
            self.settling_until = s
                .window_open(now)
                .then(|| ts(s.settle_until.or(s.catch_up_at).unwrap_or(now)));
            self.next_catch_up_at = s.catch_up_at.map(ts);
            self.catch_ups = s.catch_ups;
            self.repairs = s.repairs;
        }
        self
    }
}

/// What a run moved.
#[derive(Debug, Serialize, ToSchema)]
pub struct FiguresBody {
    pub channels_migrated: i32,
    pub threads_total: i32,
    pub threads_migrated: i32,
    pub messages_migrated: i64,
    pub attachments_stored: i32,
    pub attachments_failed: i32,
    pub attachments_pending: i32,
    /// Source items that broke the contract (kept in `rejects`).
    pub rejects: i32,
}

impl From<&MigrationRun> for RunBody {
    fn from(r: &MigrationRun) -> Self {
        Self {
            run_id: r.id,
            phase: r.phase.clone(),
            cancelled: r.cancelled,
            attempts: r.hop_attempts,
            total_attempts: r.total_attempts,
            parked_at: r.parked_at.map(ts),
            last_error: r.last_error.clone(),
            lease_owner: r.lease_owner.clone(),
            lease_expires_at: r.lease_expires_at.map(ts),
            started_at: ts(r.started_at),
            channels_migrated_at: r.channels_at.map(ts),
            recent_messages_migrated_at: r.recent_at.map(ts),
            completed_at: r.completed_at.map(ts),
            finished_at: r.finished_at.map(ts),
            updated_at: ts(r.updated_at),
            figures: FiguresBody {
                channels_migrated: r.channels_migrated,
                threads_total: r.threads_total,
                threads_migrated: r.threads_migrated,
                messages_migrated: r.messages_migrated,
                attachments_stored: r.attachments_stored,
                attachments_failed: r.attachments_failed,
                attachments_pending: r.attachments_pending,
                rejects: r.rejects,
            },
            verification: r.verification.clone(),
            verified_at: r.verified_at.map(ts),
            settling_until: None,
            next_catch_up_at: None,
            catch_ups: 0,
            repairs: 0,
        }
    }
}

/// `GET /admin/migrations`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountsPage {
    pub accounts: Vec<AccountSummary>,
    #[serde(flatten)]
    pub paging: PageInfo,
}

/// An account in a list, with its run in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountSummary {
    pub shopper_id: ShopperId,
    pub name: String,
    pub migration_status: MigrationStatus,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The run's phase (`done` when over).
    pub phase: Option<String>,
    pub total_attempts: Option<i32>,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub run_updated_at: Option<String>,
}

impl From<&(Account, Option<MigrationRun>)> for AccountSummary {
    fn from((a, r): &(Account, Option<MigrationRun>)) -> Self {
        Self {
            shopper_id: a.shopper_id.clone(),
            name: a.name.clone(),
            migration_status: a.migration_status,
            updated_at: ts(a.updated_at),
            phase: r.as_ref().map(|r| r.phase.clone()),
            total_attempts: r.as_ref().map(|r| r.total_attempts),
            last_error: r.as_ref().and_then(|r| r.last_error.clone()),
            run_updated_at: r.as_ref().map(|r| ts(r.updated_at)),
        }
    }
}

/// `POST /admin/migrations/repair`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepairBody {
    /// Hops recorded.
    pub enqueued: usize,
}

/// `GET /admin/parked`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParkedPage {
    pub parked: Vec<ParkedBody>,
    #[serde(flatten)]
    pub paging: PageInfo,
}

/// A parked run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParkedBody {
    pub shopper_id: ShopperId,
    pub migration_status: MigrationStatus,
    pub run_id: RunId,
    pub phase: String,
    pub total_attempts: i32,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub parked_at: Option<String>,
}

impl From<&(Account, MigrationRun)> for ParkedBody {
    fn from((a, r): &(Account, MigrationRun)) -> Self {
        Self {
            shopper_id: a.shopper_id.clone(),
            migration_status: a.migration_status,
            run_id: r.id,
            phase: r.phase.clone(),
            total_attempts: r.total_attempts,
            last_error: r.last_error.clone(),
            parked_at: r.parked_at.map(ts),
        }
    }
}

/// `GET /admin/dead-letters`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLettersPage {
    pub dead_letters: Vec<DeadLetterBody>,
    #[serde(flatten)]
    pub paging: PageInfo,
}

/// A hop that was given up: the row (`migrator_store::models::DeadLetter`) as the api shows
/// it, times in RFC 3339 — the view and the row are kept apart on purpose (the row is no API).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterBody {
    pub id: i64,
    pub account_id: Option<AccountId>,
    pub run_id: Option<RunId>,
    /// The hop's phase (`unknown` for an unreadable message).
    pub phase: String,
    /// The hop as published (or the unreadable body, as text).
    pub hop: serde_json::Value,
    pub error: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub replayed_at: Option<String>,
}

impl From<&DeadLetter> for DeadLetterBody {
    fn from(d: &DeadLetter) -> Self {
        Self {
            id: d.id,
            account_id: d.account_id,
            run_id: d.run_id,
            phase: d.phase.clone(),
            hop: d.hop.clone(),
            error: d.error.clone(),
            created_at: ts(d.created_at),
            replayed_at: d.replayed_at.map(ts),
        }
    }
}

/// `GET /admin/audit-log`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditBody>,
    #[serde(flatten)]
    pub paging: PageInfo,
}

/// An operator's write.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditBody {
    pub id: i64,
    /// The operator token's `sub`.
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&AuditEntry> for AuditBody {
    fn from(e: &AuditEntry) -> Self {
        Self {
            id: e.id,
            actor: e.actor.clone(),
            action: e.action.clone(),
            target: e.target.clone(),
            detail: e.detail.clone(),
            created_at: ts(e.created_at),
        }
    }
}

/// `GET /admin/accounts/{shopper_id}/attachments`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentsPage {
    pub attachments: Vec<AdminAttachmentBody>,
    #[serde(flatten)]
    pub paging: PageInfo,
}

/// An attachment with its full failure reason (operators only).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminAttachmentBody {
    pub id: AttachmentId,
    pub message_id: MessageId,
    pub file_name: Option<String>,
    pub media_url: Option<String>,
    pub status: String,
    pub failure: Option<String>,
    pub failure_reason: Option<String>,
    pub attempts: i32,
    /// Refusals of our cert JWT counted against it (a second is final; refusals while the media
    /// service refuses the whole fleet are not counted).
    pub refusals: i32,
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
}

impl From<&Attachment> for AdminAttachmentBody {
    fn from(a: &Attachment) -> Self {
        Self {
            id: a.id,
            message_id: a.message_id,
            file_name: a.file_name.clone().map(String::from),
            media_url: a.media_url.clone().map(String::from),
            status: a.status.clone(),
            failure: a.failure.clone(),
            failure_reason: a.failure_reason.clone(),
            attempts: a.attempts,
            refusals: a.refusals,
            next_attempt_at: a.next_attempt_at.map(ts),
        }
    }
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok`.
    pub status: String,
}

/// `GET /readyz`: the database decides readiness; the broker is reported (the outbox covers
/// an outage).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyBody {
    pub database: bool,
    pub broker: bool,
}
