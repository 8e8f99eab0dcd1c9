//! What a step does besides moving the status: the data each kind of step carries to
//! [`crate::queries::workflow::transitions::apply`], and what it means for the run.

use migrator_core::hop::{Lane, MigrationHop};
use migrator_core::ids::CampaignId;

/// What a step does besides moving the status, one variant for each kind of step there is, each
/// with the data it needs (a wrong combination does not compile, as Temporal's state machines
/// attach data to their events).
#[derive(Debug, Clone, Copy, Default)]
pub enum Effects<'a> {
    /// A plain step: a phase done, a continuation, a re-migration, a repair, a catch-up (the
    /// run keeps its lane).
    #[default]
    Plain,
    /// The app asked for it (`POST /migrate`): the run on the app lane, its time to inbox
    /// counted from now.
    AppStart,
    /// A campaign started it: the run on the campaign lane.
    CampaignStart(CampaignId),
    /// An operator's restart (retry, un-park, a dead letter's replay): the run un-parked, its
    /// failed attempts counted afresh.
    OperatorRestart,
    /// A hop tried again: `hop` (its attempt as the retry rules say) after `delay_ms`;
    /// `failed`: the attempt failed (counted on the run, its error kept) — a hop that only
    /// went missing carries none.
    Retry {
        hop: &'a MigrationHop,
        delay_ms: u64,
        failed: Option<&'a str>,
    },
    /// A phase given up: the run held with `error`, one more failed attempt, parked when
    /// `park`, the hop a dead letter.
    GiveUp {
        error: &'a str,
        park: bool,
        dead_letter: &'a MigrationHop,
    },
    /// An operator stopped it: the run held and parked with `error`, no attempt counted, no
    /// dead letter.
    Cancel { error: &'a str },
}

impl<'a> Effects<'a> {
    /// The lane a start puts the run on, when it says (None: the run keeps its own).
    pub(super) fn lane(&self) -> Option<Lane> {
        match self {
            Effects::AppStart => Some(Lane::App),
            Effects::CampaignStart(_) => Some(Lane::Campaign),
            _ => None,
        }
    }

    /// The campaign a start names.
    pub(super) fn campaign(&self) -> Option<CampaignId> {
        match self {
            Effects::CampaignStart(c) => Some(*c),
            _ => None,
        }
    }

    /// The app asked: the run's `opened_at` is now.
    pub(super) fn opened(&self) -> bool {
        matches!(self, Effects::AppStart)
    }

    /// The run is un-parked with its attempts counted afresh.
    pub(super) fn unpark(&self) -> bool {
        matches!(self, Effects::OperatorRestart)
    }

    /// The error the run keeps.
    pub(super) fn error(&self) -> Option<&'a str> {
        match self {
            Effects::Retry { failed, .. } => *failed,
            Effects::GiveUp { error, .. } | Effects::Cancel { error } => Some(error),
            _ => None,
        }
    }

    /// One more failed attempt on the run.
    pub(super) fn failed_attempt(&self) -> bool {
        matches!(
            self,
            Effects::Retry {
                failed: Some(_),
                ..
            } | Effects::GiveUp { .. }
        )
    }

    /// The next hop to record instead of a first attempt of its phase, and its delay.
    pub(super) fn next(&self) -> Option<(&'a MigrationHop, u64)> {
        match self {
            Effects::Retry { hop, delay_ms, .. } => Some((hop, *delay_ms)),
            _ => None,
        }
    }

    /// The run is parked with its hold.
    pub(super) fn park(&self) -> bool {
        matches!(
            self,
            Effects::GiveUp { park: true, .. } | Effects::Cancel { .. }
        )
    }

    /// The given-up hop, recorded as a dead letter.
    pub(super) fn dead_letter(&self) -> Option<&'a MigrationHop> {
        match self {
            Effects::GiveUp { dead_letter, .. } => Some(dead_letter),
            _ => None,
        }
    }
}
