//! Bodies of the fleet's endpoints: counts, and the steering operators set.

use migrator_core::db::queries::fleet::FleetState;
use migrator_core::db::queries::overview::Counts;
use migrator_core::MigrationStatus;
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
}

impl From<&FleetState> for FleetBody {
    fn from(f: &FleetState) -> Self {
        Self {
            paused: f.paused,
            max_reads_per_sec: f.max_reads_per_sec,
            max_rest_per_sec: f.max_rest_per_sec,
            updated_at: super::ts(f.updated_at),
            updated_by: f.updated_by.clone(),
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
