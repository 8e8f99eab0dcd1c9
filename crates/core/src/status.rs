//! The migration state machine: every status of `spec/api.md` and the legal moves between them.
//! The api and the worker both change a status only through [`MigrationStatus::can_move_to`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where an account's migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationStatus {
    /// Nothing done yet (set by the web chat initiative).
    NotStarted,
    /// `POST /migrate` accepted; the channels phase is pending or running.
    Migrating,
    /// Brands and channels are in re:amaze; recent messages are pending or running.
    ChannelsMigrated,
    /// Recent threads are in re:amaze; all messages are pending or running.
    RecentMessagesMigrated,
    /// Everything moved.
    Completed,
    /// The channels phase failed; `POST /migrate` restarts from the beginning.
    ChannelFailure,
    /// The recent-messages phase failed; `POST /migrate` resumes at that phase.
    RecentMessagesFailure,
    /// The all-messages phase failed; shown to the app as `completed`, repaired by operators/sweeper.
    MessagesFailure,
}

/// Every status, for exhaustive checks.
pub const ALL_STATUSES: [MigrationStatus; 8] = [
    MigrationStatus::NotStarted,
    MigrationStatus::Migrating,
    MigrationStatus::ChannelsMigrated,
    MigrationStatus::RecentMessagesMigrated,
    MigrationStatus::Completed,
    MigrationStatus::ChannelFailure,
    MigrationStatus::RecentMessagesFailure,
    MigrationStatus::MessagesFailure,
];

/// A move the state machine does not allow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("illegal migration status transition {from} -> {to}")]
pub struct IllegalTransition {
    /// The status the account was in.
    pub from: MigrationStatus,
    /// The status that was asked for.
    pub to: MigrationStatus,
}

impl MigrationStatus {
    /// The wire/database spelling.
    pub fn as_str(self) -> &'static str {
        use MigrationStatus::*;
        match self {
            NotStarted => "not-started",
            Migrating => "migrating",
            ChannelsMigrated => "channels-migrated",
            RecentMessagesMigrated => "recent-messages-migrated",
            Completed => "completed",
            ChannelFailure => "channel-failure",
            RecentMessagesFailure => "recent-messages-failure",
            MessagesFailure => "messages-failure",
        }
    }

    /// What the mobile app is shown: it never sees `messages-failure`.
    pub fn app_facing(self) -> MigrationStatus {
        match self {
            MigrationStatus::MessagesFailure => MigrationStatus::Completed,
            other => other,
        }
    }

    /// True while a phase is pending or running (a hop may be in flight).
    pub fn is_in_progress(self) -> bool {
        matches!(
            self,
            MigrationStatus::Migrating
                | MigrationStatus::ChannelsMigrated
                | MigrationStatus::RecentMessagesMigrated
        )
    }

    /// The one rule of legal moves. Forced re-migration (any status -> not-started) is legal
    /// from everywhere; everything else follows the seed's flow.
    pub fn can_move_to(self, to: MigrationStatus) -> bool {
        use MigrationStatus::*;
        if to == NotStarted {
            // forced re-migration resets from anywhere (a no-op reset is not a move)
            return self != NotStarted;
        }
        matches!(
            (self, to),
            // POST /migrate, and the restart after a channel failure
            (NotStarted, Migrating)
                | (ChannelFailure, Migrating)
                // nothing to migrate (GET /accounts or the channels phase finds so)
                | (NotStarted, Completed)
                | (Migrating, Completed)
                // channels phase
                | (Migrating, ChannelsMigrated)
                | (Migrating, ChannelFailure)
                // recent-messages phase, and its resume after a failure
                | (ChannelsMigrated, RecentMessagesMigrated)
                | (ChannelsMigrated, RecentMessagesFailure)
                | (RecentMessagesFailure, ChannelsMigrated)
                // all-messages phase, and its repair
                | (RecentMessagesMigrated, Completed)
                | (RecentMessagesMigrated, MessagesFailure)
                | (MessagesFailure, Completed)
        )
    }

    /// Checked move: `Ok(to)` when legal.
    pub fn move_to(self, to: MigrationStatus) -> Result<MigrationStatus, IllegalTransition> {
        if self.can_move_to(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }

    /// The statuses from which a move to `to` is legal (used to guard conditional UPDATEs).
    pub fn legal_sources(to: MigrationStatus) -> Vec<&'static str> {
        ALL_STATUSES
            .iter()
            .filter(|s| s.can_move_to(to))
            .map(|s| s.as_str())
            .collect()
    }
}

impl fmt::Display for MigrationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status string that is not one of the spec's.
#[derive(Debug, thiserror::Error)]
#[error("unknown migration status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for MigrationStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_STATUSES
            .iter()
            .copied()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::MigrationStatus::*;
    use super::*;

    /// The complete table of legal moves; every pair not listed must be illegal.
    const LEGAL: &[(MigrationStatus, MigrationStatus)] = &[
        (NotStarted, Migrating),
        (NotStarted, Completed),
        (Migrating, ChannelsMigrated),
        (Migrating, ChannelFailure),
        (Migrating, Completed),
        (Migrating, NotStarted),
        (ChannelsMigrated, RecentMessagesMigrated),
        (ChannelsMigrated, RecentMessagesFailure),
        (ChannelsMigrated, NotStarted),
        (RecentMessagesMigrated, Completed),
        (RecentMessagesMigrated, MessagesFailure),
        (RecentMessagesMigrated, NotStarted),
        (Completed, NotStarted),
        (ChannelFailure, Migrating),
        (ChannelFailure, NotStarted),
        (RecentMessagesFailure, ChannelsMigrated),
        (RecentMessagesFailure, NotStarted),
        (MessagesFailure, Completed),
        (MessagesFailure, NotStarted),
    ];

    #[test]
    fn every_pair_is_legal_exactly_when_listed() {
        for from in ALL_STATUSES {
            for to in ALL_STATUSES {
                let expected = LEGAL.contains(&(from, to));
                assert_eq!(from.can_move_to(to), expected, "{from} -> {to}");
                assert_eq!(from.move_to(to).is_ok(), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn strings_round_trip_and_match_the_spec() {
        let spec = [
            "not-started",
            "migrating",
            "channels-migrated",
            "recent-messages-migrated",
            "completed",
            "channel-failure",
            "recent-messages-failure",
            "messages-failure",
        ];
        for (st, s) in ALL_STATUSES.iter().zip(spec) {
            assert_eq!(st.as_str(), s);
            assert_eq!(s.parse::<MigrationStatus>().unwrap(), *st);
            assert_eq!(serde_json::to_string(st).unwrap(), format!("\"{s}\""));
        }
        assert!("SUCCESS".parse::<MigrationStatus>().is_err());
    }

    #[test]
    fn the_app_never_sees_messages_failure() {
        for st in ALL_STATUSES {
            assert_ne!(st.app_facing(), MessagesFailure);
        }
        assert_eq!(MessagesFailure.app_facing(), Completed);
        assert_eq!(ChannelFailure.app_facing(), ChannelFailure);
    }

    #[test]
    fn the_happy_path_is_legal_in_the_seed_order() {
        let path = [
            NotStarted,
            Migrating,
            ChannelsMigrated,
            RecentMessagesMigrated,
            Completed,
        ];
        for w in path.windows(2) {
            assert!(w[0].can_move_to(w[1]));
        }
        assert_eq!(
            MigrationStatus::legal_sources(Migrating),
            vec!["not-started", "channel-failure"]
        );
    }
}
