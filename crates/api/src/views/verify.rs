//! Bodies of verifications (source and destination of an account compared) and of the
//! preflight estimate.

use super::ts;
use migrator_core::ids::VerificationId;
use migrator_store::queries::workflow::verifications::{Diff, Verification};
use serde::Serialize;
use utoipa::ToSchema;

/// A verification: asked for, running, or its result.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationBody {
    pub verification_id: VerificationId,
    /// `pending`, `running`, `done` or `failed` (tries used up; see `error`).
    pub status: String,
    /// `match` or `diff` once done; null before.
    pub result: Option<String>,
    pub checked: CheckedBody,
    /// Every difference found (`diffs` lists the first ones).
    pub diff_count: i64,
    pub diffs: Vec<DiffBody>,
    /// `auto` (after the all-messages phase) or the operator's token subject.
    pub requested_by: String,
    #[schema(format = DateTime)]
    pub requested_at: String,
    /// When it finished (done or failed).
    #[schema(format = DateTime)]
    pub verified_at: Option<String>,
    /// Tries so far.
    pub attempts: i32,
    /// Why the last try failed.
    pub error: Option<String>,
    /// Pending after a try that failed transiently: not tried again before this time.
    #[schema(format = DateTime)]
    pub retry_at: Option<String>,
    /// Its differences are repaired: the differing threads copied again from the source, then
    /// verified again (at most `verify.max_repairs` times; then the run is parked).
    pub repair: bool,
    /// The migration's settle window is still open (items may still land in the source until
    /// then, and catch-ups will copy them): a result now may differ from the settled one.
    /// Null once settled.
    #[schema(format = DateTime)]
    pub settling_until: Option<String>,
}

/// What was compared: source items, rejected ones aside.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckedBody {
    pub channels: i32,
    pub threads: i32,
    pub messages: i64,
    /// Attachments (compared by count per message).
    pub attachments: i64,
}

/// One difference.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffBody {
    /// `missing_thread`, `extra_thread`, `changed_thread`, `missing_message`,
    /// `extra_message`, `changed_message`, `missing_channel`, `changed_channel`,
    /// `changed_star`.
    pub kind: String,
    /// The source item's key: `thread_id`, `thread_id#sort_key`, `channel_id`.
    pub source_key: String,
    /// The fields that differ.
    pub detail: String,
}

impl From<&Verification> for VerificationBody {
    fn from(v: &Verification) -> Self {
        let diffs: Vec<Diff> = serde_json::from_value(v.diffs.clone()).unwrap_or_default();
        Self {
            verification_id: v.id,
            status: v.status.clone(),
            result: v.result.clone(),
            checked: CheckedBody {
                channels: v.channels_checked,
                threads: v.threads_checked,
                messages: v.messages_checked,
                attachments: v.attachments_checked,
            },
            diff_count: v.diff_count,
            diffs: diffs
                .into_iter()
                .map(|d| DiffBody {
                    kind: d.kind,
                    source_key: d.source_key,
                    detail: d.detail,
                })
                .collect(),
            requested_by: v.requested_by.clone(),
            requested_at: ts(v.requested_at),
            verified_at: v.finished_at.map(ts),
            attempts: v.attempts,
            error: v.error.clone(),
            retry_at: match v.status.as_str() {
                "pending" => v.claimed_until.map(ts),
                _ => None,
            },
            repair: v.repair,
            settling_until: None,
        }
    }
}

impl VerificationBody {
    /// With the run's settle window, when it is still open.
    pub fn settling(
        mut self,
        s: Option<&migrator_store::queries::workflow::settling::Settling>,
    ) -> Self {
        let now = chrono::Utc::now();
        self.settling_until = s
            .filter(|s| s.window_open(now))
            .map(|s| ts(s.settle_until.or(s.catch_up_at).unwrap_or(now)));
        self
    }
}

/// `GET /admin/accounts/{shopper_id}/preflight`: what a migration of the C1 would move and how
/// long it would take, from the source alone.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreflightBody {
    pub shopper_id: migrator_core::ids::ShopperId,
    #[serde(flatten)]
    pub estimate: migrator_source::preflight::Estimate,
    /// Runs the rates come from (completed in the last 7 days).
    pub measured_runs: i64,
}
