//! Bodies of the fleet's endpoints: counts, and the steering operators set.

use migrator_core::MigrationStatus;
use migrator_store::queries::operators::fleet::{FleetHealth, FleetState};
use migrator_store::queries::operators::overview::Counts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /admin/counts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountsBody {
    /// Accounts by real status, every status listed.
    pub accounts: Vec<StatusCount>,
    /// Runs parked after their attempts.
    pub parked: i64,
    /// Dead letters not replayed.
    pub dead_letters: i64,
    /// Outbox rows not yet published.
    pub outbox_backlog: i64,
    /// The work queues (each phase's, the campaigns') and the dead-letter queue as RabbitMQ
    /// has them now; null when the broker could not be asked.
    pub queues: Option<Vec<QueueDepth>>,
}

/// One queue's depth.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueDepth {
    pub queue: String,
    /// Messages ready (null: not read, e.g. the queue is not declared yet).
    pub messages: Option<u32>,
    pub consumers: Option<u32>,
}

/// Accounts in one status.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusCount {
    pub status: MigrationStatus,
    pub count: i64,
}

impl From<&Counts> for CountsBody {
    fn from(c: &Counts) -> Self {
        Self {
            accounts: c
                .by_status
                .iter()
                .map(|(status, count)| StatusCount {
                    status: *status,
                    count: *count,
                })
                .collect(),
            parked: c.parked,
            dead_letters: c.dead_letters,
            outbox_backlog: c.outbox_backlog,
            queues: None,
        }
    }
}

/// The fleet's steering.
#[derive(Debug, Serialize, ToSchema)]
pub struct FleetBody {
    /// Workers take no hops while paused.
    pub paused: bool,
    /// Fleet-wide cap on DynamoDB reads per second (null: the settings' own).
    pub max_reads_per_sec: Option<i32>,
    /// Fleet-wide cap on Conversations REST calls per second (null: the settings' own).
    pub max_rest_per_sec: Option<i32>,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub updated_by: Option<String>,
    /// Workers whose heartbeat was seen in the last three `worker.fleet_poll_secs`.
    pub workers_live: i64,
    /// Refusals of our credentials the live workers met in the last minute.
    pub refusals_last_minute: RefusalCounts,
    /// The media service refuses our cert JWTs across the fleet (at least
    /// `media.refusal_threshold` a minute): refused attachments wait, pending, instead of
    /// failing; check the signing key and the clocks.
    pub media_refusing: bool,
    /// Conversations REST refuses our service token (any refusal in the last minute): hops
    /// wait and retry; check `conversations.token`.
    pub rest_refusing: bool,
}

/// Refusals (401/403) by service.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalCounts {
    /// By the media service.
    pub media: i32,
    /// By Conversations REST.
    pub rest: i32,
}

impl FleetBody {
    /// The steering, and the live workers' health against `media.refusal_threshold`.
    pub fn new(f: &FleetState, h: &FleetHealth, refusal_threshold: u32) -> Self {
        Self {
            paused: f.paused,
            max_reads_per_sec: f.max_reads_per_sec,
            max_rest_per_sec: f.max_rest_per_sec,
            updated_at: super::ts(f.updated_at),
            updated_by: f.updated_by.clone(),
            workers_live: h.workers,
            refusals_last_minute: RefusalCounts {
                media: h.refusals.media,
                rest: h.refusals.rest,
            },
            media_refusing: h.refusals.media as i64 >= i64::from(refusal_threshold.max(1)),
            rest_refusing: h.refusals.rest > 0,
        }
    }
}

/// `POST /admin/fleet/throttle`: caps on the source, shared by the live workers; null removes
/// a cap.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    #[schema(minimum = 1, maximum = 1000000)]
    #[serde(default, deserialize_with = "crate::extract::whole_i32")]
    pub max_reads_per_sec: Option<i32>,
    #[schema(minimum = 1, maximum = 1000000)]
    #[serde(default, deserialize_with = "crate::extract::whole_i32")]
    pub max_rest_per_sec: Option<i32>,
}
