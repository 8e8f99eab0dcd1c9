//! The program's settings: the campaign driver, and the sunset date.

use serde::{Deserialize, Serialize};

/// The campaign driver (one in the fleet at a time, like the sweeper).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CampaignSettings {
    /// How often the driver starts the next accounts, in ms.
    pub tick_ms: u64,
    /// Accounts one tick starts at most (a transaction each tick).
    pub max_batch: i64,
    /// Times a campaign starts one account (its first start and drives after a failure the
    /// app path left) before it gives the account up and parks its run.
    pub max_attempts: i16,
    /// Wait after a member's failure before the campaign drives it again, in seconds.
    pub redrive_after_secs: i64,
    /// Time to inbox p99 of the app's C1s over the last minute past which the campaign starts
    /// nothing, in ms (gh-ost's `max-load`).
    pub max_inbox_p99_ms: u64,
    /// Accounts looked at per batch while a campaign's selection is taken (a transaction
    /// each; status moves wait for it).
    pub select_batch: i64,
}

/// The program: moving every C1 before Conversations is switched off.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ProgramSettings {
    /// The sunset date (RFC 3339), used by `GET /admin/program` when no campaign is live.
    #[serde(default)]
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
}
