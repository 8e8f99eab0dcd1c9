//! The message of the work queue: one hop of a migration, its wire format fixed.

use crate::ids::{AccountId, HopId, RunId};
use crate::status::Phase;
use serde::{Deserialize, Serialize};

/// Which queue a hop goes to: the app's (a C1 waiting, operators) or the campaign's, which
/// workers take with fewer slots and whose source reads yield to the app's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    /// The on-demand path: the phase queues.
    #[default]
    App,
    /// A campaign's: the campaign queue, lowest priority.
    Campaign,
}

impl Lane {
    /// Its name in the database and in routing keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::App => "app",
            Lane::Campaign => "campaign",
        }
    }

    /// Parses a stored lane (anything else is the app's).
    pub fn parse(s: &str) -> Self {
        match s {
            "campaign" => Lane::Campaign,
            _ => Lane::App,
        }
    }
}

/// One unit of work: run `phase` of `run_id` for `account_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationHop {
    /// Unique per publication (logs, AMQP headers, dedup diagnostics).
    pub hop_id: HopId,
    /// The account.
    pub account_id: AccountId,
    /// The run this hop belongs to; hops of superseded runs are dropped.
    pub run_id: RunId,
    /// The phase to run.
    pub phase: Phase,
    /// Delivery attempt of this hop (1-based; a continuation starts again at 1).
    pub attempt: u32,
    /// Its queue (absent in hops published before campaigns: the app's).
    #[serde(default)]
    pub lane: Lane,
    /// The W3C `traceparent` of the span that recorded it, while spans are exported: the
    /// worker's span continues that trace (absent otherwise; checked before use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl MigrationHop {
    /// A first attempt.
    pub fn first(account_id: AccountId, run_id: RunId, phase: Phase) -> Self {
        Self {
            hop_id: HopId::new(),
            account_id,
            run_id,
            phase,
            attempt: 1,
            lane: Lane::App,
            traceparent: None,
        }
    }

    /// On `lane`.
    pub fn on(mut self, lane: Lane) -> Self {
        self.lane = lane;
        self
    }

    /// The same attempt again, under a new id (a delay that was not the hop's fault).
    pub fn again(&self) -> Self {
        Self {
            hop_id: HopId::new(),
            ..self.clone()
        }
    }

    /// The next attempt of this hop, under a new id.
    pub fn retry(&self) -> Self {
        Self {
            hop_id: HopId::new(),
            attempt: self.attempt + 1,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn hop_wire_format_is_stable() {
        let hop = MigrationHop {
            hop_id: HopId(Uuid::nil()),
            account_id: AccountId(Uuid::nil()),
            run_id: RunId(Uuid::nil()),
            phase: Phase::RecentMessages,
            attempt: 2,
            lane: Lane::Campaign,
            traceparent: None,
        };
        let v = serde_json::to_value(&hop).unwrap();
        assert_eq!(v["phase"], "recent-messages");
        assert_eq!(v["lane"], "campaign");
        // a hop published before lanes existed is the app's
        let mut old = v.clone();
        old.as_object_mut().unwrap().remove("lane");
        assert_eq!(
            serde_json::from_value::<MigrationHop>(old).unwrap().lane,
            Lane::App
        );
        assert_eq!(serde_json::from_value::<MigrationHop>(v).unwrap(), hop);
        assert_eq!(hop.retry().attempt, 3);
        assert_eq!(hop.again().attempt, 2);
        assert_ne!(hop.again().hop_id, hop.hop_id);
    }
}
