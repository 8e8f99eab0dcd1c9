//! The migration state machine, whole: every status of `spec/api.md`, the three phases of a
//! migration and the catch-up that settles a completed one, and the one table that says, for
//! each phase, in which statuses its hop runs, where it leads when it is done, where when it
//! fails, what follows it and how it is restarted. [`MigrationStatus::on`]
//! derives every move from that table; the api and the worker change a status only through it.

#[cfg(feature = "sql")]
use diesel::{
    deserialize::{self, FromSql, FromSqlRow},
    expression::AsExpression,
    pg::{Pg, PgValue},
    serialize::{self, Output, ToSql},
    sql_types::Text,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where an account's migration stands (stored as its spec spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "sql", derive(AsExpression, FromSqlRow))]
#[cfg_attr(feature = "sql", diesel(sql_type = Text))]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The three phases of a migration, each its own message hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Phase {
    /// configs-migration: brands and channels.
    Channels,
    /// Recent threads and their messages.
    RecentMessages,
    /// Every thread and message.
    AllMessages,
    /// On a completed migration: what landed in the source after the switch (the settle window,
    /// `spec/source-contract.md` section 5), or the threads a verification found different,
    /// copied as the phases copy. The app keeps `completed` throughout.
    CatchUp,
}

/// Every phase of a migration, in order (the catch-up, which follows a completed one, aside).
pub const ALL_PHASES: [Phase; 3] = [Phase::Channels, Phase::RecentMessages, Phase::AllMessages];

/// What `POST /migrate` (or the fleet) does after a phase failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// The app's retry starts a new run from the first phase.
    NewRun,
    /// The app's retry resumes the same run at this phase, from its checkpoint.
    Resume,
    /// The app is shown `completed`; the sweeper or an operator re-runs the phase.
    Repair,
}

/// One row of the phase graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseSpec {
    /// The phase.
    pub phase: Phase,
    /// Statuses in which a hop of this phase may run; the first is the one it is entered with.
    pub runs_in: &'static [MigrationStatus],
    /// The status when it is done.
    pub done: MigrationStatus,
    /// The status when it gives up.
    pub failure: MigrationStatus,
    /// The phase that follows (`None`: the migration is over).
    pub next: Option<Phase>,
    /// How it starts again after failing.
    pub restart: Restart,
}

/// The phase graph: the one place that says what follows what.
pub const PHASES: [PhaseSpec; 3] = [
    PhaseSpec {
        phase: Phase::Channels,
        runs_in: &[MigrationStatus::Migrating],
        done: MigrationStatus::ChannelsMigrated,
        failure: MigrationStatus::ChannelFailure,
        next: Some(Phase::RecentMessages),
        restart: Restart::NewRun,
    },
    PhaseSpec {
        phase: Phase::RecentMessages,
        runs_in: &[MigrationStatus::ChannelsMigrated],
        done: MigrationStatus::RecentMessagesMigrated,
        failure: MigrationStatus::RecentMessagesFailure,
        next: Some(Phase::AllMessages),
        restart: Restart::Resume,
    },
    PhaseSpec {
        phase: Phase::AllMessages,
        runs_in: &[
            MigrationStatus::RecentMessagesMigrated,
            MigrationStatus::MessagesFailure,
        ],
        done: MigrationStatus::Completed,
        failure: MigrationStatus::MessagesFailure,
        next: None,
        restart: Restart::Repair,
    },
];

/// The catch-up's row: it runs on a completed migration and ends there; when it gives up the
/// account shows `messages-failure` to operators (the app keeps `completed`), and the repair of
/// that status (the all-messages phase again, which reads everything) covers what it missed.
pub const CATCH_UP: PhaseSpec = PhaseSpec {
    phase: Phase::CatchUp,
    runs_in: &[MigrationStatus::Completed],
    done: MigrationStatus::Completed,
    failure: MigrationStatus::MessagesFailure,
    next: None,
    restart: Restart::Repair,
};

/// Something that happens to a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `POST /migrate` by the app.
    Migrate,
    /// Conversations has nothing to move for this C1 (`GET /accounts`, or the channels phase).
    NothingToMigrate,
    /// A phase finished.
    Done(Phase),
    /// A phase finished and its work was all the later phases had to do (the recent threads
    /// were every thread of the C1): the migration is complete without their hops.
    Covered(Phase),
    /// A phase's hop used its time or page budget: the phase goes on in a continuation hop,
    /// from its checkpoint.
    Yield(Phase),
    /// A phase's hop failed and is tried again (after a delay), or its lease was lost to a
    /// dead worker and the sweeper sends it again: the phase goes on from its checkpoint.
    Retry(Phase),
    /// A phase gave up.
    Failed(Phase),
    /// The sweeper or an operator re-runs a phase whose restart rule is [`Restart::Repair`].
    Repair,
    /// Forced re-migration: what the migration created is removed and a new run starts.
    Remigrate,
    /// A completed migration catches up with the source (what landed after the switch, or the
    /// threads a verification found different): a hop of [`Phase::CatchUp`].
    CatchUp,
}

impl Event {
    /// Whether this event completes a migration with everything moved (the end of its last
    /// phase, or a phase whose work covered the rest).
    pub fn completes(self) -> bool {
        matches!(self, Event::Done(Phase::LAST) | Event::Covered(_))
    }
}

/// What an event does to the account's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAction {
    /// No run is involved (`not-started` -> `completed`).
    None,
    /// A new run starts with a hop of this phase (the old one, if any, is closed).
    NewRun(Phase),
    /// The same run goes on with a hop of this phase, from its checkpoint.
    Hop(Phase),
    /// The run is over.
    Finish,
    /// The run stays as it is, with its error, until a restart.
    Hold,
}

/// A legal move: the status it leads to and what happens to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The status after the event.
    pub to: MigrationStatus,
    /// What the run does.
    pub action: RunAction,
}

/// An event the state machine does not allow in a status.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("illegal migration event {event:?} in status {from}")]
pub struct IllegalTransition {
    /// The status the account was in.
    pub from: MigrationStatus,
    /// What was asked for.
    pub event: Event,
}

impl Phase {
    /// The spelling stored in `migration_runs.phase` and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Channels => "channels",
            Phase::RecentMessages => "recent-messages",
            Phase::AllMessages => "all-messages",
            Phase::CatchUp => "catch-up",
        }
    }

    /// Parses the stored spelling (`done` and anything else: `None`).
    pub fn parse(s: &str) -> Option<Phase> {
        ALL_PHASES
            .into_iter()
            .chain([Phase::CatchUp])
            .find(|p| p.as_str() == s)
    }

    /// Whether this is one of a migration's phases (not the catch-up after it).
    pub fn is_migration(self) -> bool {
        self != Phase::CatchUp
    }

    /// The first phase of every run.
    pub const FIRST: Phase = Phase::Channels;

    /// The phase whose end completes a migration.
    pub const LAST: Phase = Phase::AllMessages;

    /// This phase and every phase after it, in order.
    pub fn through_last(self) -> impl Iterator<Item = Phase> {
        ALL_PHASES.into_iter().skip_while(move |p| *p != self)
    }

    /// This phase's row of the graph.
    pub fn spec(self) -> &'static PhaseSpec {
        PHASES
            .iter()
            .chain([&CATCH_UP])
            .find(|s| s.phase == self)
            .expect("every phase has a row")
    }

    /// The status the account takes when this phase is entered.
    pub fn entry(self) -> MigrationStatus {
        self.spec().runs_in[0]
    }

    /// Whether a hop of this phase may run while the account is in `status`.
    pub fn runs_in(self, status: MigrationStatus) -> bool {
        self.spec().runs_in.contains(&status)
    }

    /// The phase pending or running while the account is in an in-progress `status`.
    pub fn pending_in(status: MigrationStatus) -> Option<Phase> {
        ALL_PHASES.into_iter().find(|p| p.entry() == status)
    }
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

    /// What the mobile app is shown: it never sees a failure whose restart is a repair.
    pub fn app_facing(self) -> MigrationStatus {
        match PHASES
            .iter()
            .find(|s| s.failure == self && s.restart == Restart::Repair)
        {
            Some(_) => MigrationStatus::Completed,
            None => self,
        }
    }

    /// The phase whose failure this status is (`None` for a status that is not a failure).
    pub fn failed_phase(self) -> Option<Phase> {
        PHASES.iter().find(|s| s.failure == self).map(|s| s.phase)
    }

    /// True while a phase is pending or running (a hop may be in flight).
    pub fn is_in_progress(self) -> bool {
        Phase::pending_in(self).is_some()
    }

    /// The state machine: what `event` does in this status. `Ok(None)`: the event is accepted
    /// and changes nothing (`POST /migrate` on a running or finished migration). `Err`: the
    /// event is illegal here.
    pub fn on(self, event: Event) -> Result<Option<Step>, IllegalTransition> {
        use MigrationStatus::*;
        let step = |to, action| Ok(Some(Step { to, action }));
        let illegal = Err(IllegalTransition { from: self, event });
        let failed_phase = PHASES.iter().find(|s| s.failure == self);
        match event {
            Event::Migrate => match (self, failed_phase) {
                (NotStarted, _) => step(Phase::FIRST.entry(), RunAction::NewRun(Phase::FIRST)),
                (_, Some(s)) => match s.restart {
                    Restart::NewRun => step(Phase::FIRST.entry(), RunAction::NewRun(Phase::FIRST)),
                    Restart::Resume => step(s.phase.entry(), RunAction::Hop(s.phase)),
                    Restart::Repair => Ok(None),
                },
                _ => Ok(None),
            },
            Event::NothingToMigrate => match self {
                NotStarted => step(Completed, RunAction::None),
                s if Phase::FIRST.entry() == s => step(Completed, RunAction::Finish),
                _ => illegal,
            },
            Event::Done(p) if p.runs_in(self) => {
                let s = p.spec();
                let action = s.next.map(RunAction::Hop).unwrap_or(RunAction::Finish);
                step(s.done, action)
            }
            Event::Covered(p) if p.is_migration() && p.runs_in(self) => {
                step(Phase::LAST.spec().done, RunAction::Finish)
            }
            Event::Yield(p) | Event::Retry(p) if p.runs_in(self) => step(self, RunAction::Hop(p)),
            Event::Failed(p) if p.runs_in(self) => step(p.spec().failure, RunAction::Hold),
            Event::Repair => match failed_phase {
                Some(s) if s.restart == Restart::Repair => step(self, RunAction::Hop(s.phase)),
                _ => illegal,
            },
            Event::Remigrate => step(Phase::FIRST.entry(), RunAction::NewRun(Phase::FIRST)),
            Event::CatchUp if Phase::CatchUp.runs_in(self) => {
                step(self, RunAction::Hop(Phase::CatchUp))
            }
            Event::CatchUp
            | Event::Done(_)
            | Event::Covered(_)
            | Event::Yield(_)
            | Event::Retry(_)
            | Event::Failed(_) => illegal,
        }
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

#[cfg(feature = "sql")]
impl ToSql<Text, Pg> for MigrationStatus {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
    }
}

#[cfg(feature = "sql")]
impl FromSql<Text, Pg> for MigrationStatus {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let s = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
        Ok(s.parse()?)
    }
}

#[cfg(test)]
mod tests {
    use super::MigrationStatus::*;
    use super::*;

    fn events() -> Vec<Event> {
        let mut all = vec![
            Event::Migrate,
            Event::NothingToMigrate,
            Event::Repair,
            Event::Remigrate,
            Event::CatchUp,
        ];
        for p in ALL_PHASES.into_iter().chain([Phase::CatchUp]) {
            all.push(Event::Done(p));
            all.push(Event::Covered(p));
            all.push(Event::Yield(p));
            all.push(Event::Retry(p));
            all.push(Event::Failed(p));
        }
        all
    }

    /// The whole machine written out by hand, independently of the table: every (status,
    /// event) pair not listed here must be illegal; `None` = accepted without a change.
    fn expected(from: MigrationStatus, e: Event) -> Option<Option<Step>> {
        use Phase::*;
        use RunAction as A;
        let s = |to, action| Some(Some(Step { to, action }));
        // a retry moves as a continuation does
        let e = match e {
            Event::Retry(p) => Event::Yield(p),
            e => e,
        };
        match (from, e) {
            (NotStarted | ChannelFailure, Event::Migrate) => s(Migrating, A::NewRun(Channels)),
            (RecentMessagesFailure, Event::Migrate) => s(ChannelsMigrated, A::Hop(RecentMessages)),
            (_, Event::Migrate) => Some(None),
            (NotStarted, Event::NothingToMigrate) => s(Completed, A::None),
            (Migrating, Event::NothingToMigrate) => s(Completed, A::Finish),
            (Migrating, Event::Done(Channels)) => s(ChannelsMigrated, A::Hop(RecentMessages)),
            (Migrating, Event::Failed(Channels)) => s(ChannelFailure, A::Hold),
            (Migrating, Event::Yield(Channels)) => s(Migrating, A::Hop(Channels)),
            (ChannelsMigrated, Event::Yield(RecentMessages)) => {
                s(ChannelsMigrated, A::Hop(RecentMessages))
            }
            (st @ (RecentMessagesMigrated | MessagesFailure), Event::Yield(AllMessages)) => {
                s(st, A::Hop(AllMessages))
            }
            (ChannelsMigrated, Event::Done(RecentMessages)) => {
                s(RecentMessagesMigrated, A::Hop(AllMessages))
            }
            (ChannelsMigrated, Event::Failed(RecentMessages)) => s(RecentMessagesFailure, A::Hold),
            (RecentMessagesMigrated | MessagesFailure, Event::Done(AllMessages)) => {
                s(Completed, A::Finish)
            }
            (RecentMessagesMigrated | MessagesFailure, Event::Failed(AllMessages)) => {
                s(MessagesFailure, A::Hold)
            }
            (Migrating, Event::Covered(Channels)) => s(Completed, A::Finish),
            (ChannelsMigrated, Event::Covered(RecentMessages)) => s(Completed, A::Finish),
            (RecentMessagesMigrated | MessagesFailure, Event::Covered(AllMessages)) => {
                s(Completed, A::Finish)
            }
            (MessagesFailure, Event::Repair) => s(MessagesFailure, A::Hop(AllMessages)),
            (_, Event::Remigrate) => s(Migrating, A::NewRun(Channels)),
            // the catch-up: on a completed migration only, never moving what the app sees
            // unless it gives up (operators then see messages-failure; the app, completed)
            (Completed, Event::CatchUp) => s(Completed, A::Hop(CatchUp)),
            (Completed, Event::Yield(CatchUp)) => s(Completed, A::Hop(CatchUp)),
            (Completed, Event::Done(CatchUp)) => s(Completed, A::Finish),
            (Completed, Event::Failed(CatchUp)) => s(MessagesFailure, A::Hold),
            _ => None,
        }
    }

    #[test]
    fn every_status_event_pair_is_as_written_out() {
        let mut legal = 0;
        for from in ALL_STATUSES {
            for e in events() {
                let got = from.on(e);
                match expected(from, e) {
                    Some(step) => {
                        assert_eq!(got, Ok(step), "{from} on {e:?}");
                        legal += 1;
                    }
                    None => assert_eq!(
                        got,
                        Err(IllegalTransition { from, event: e }),
                        "{from} on {e:?} must be illegal"
                    ),
                }
            }
        }
        assert_eq!(
            legal,
            8 + 2 + 2 + 2 + 2 + 2 + 4 + 4 + 4 + 1 + 8 + 5,
            "legal pairs"
        );
    }

    #[test]
    fn the_table_is_a_chain_and_pending_phases_are_unique() {
        // each phase is entered with the status its predecessor finishes in
        for w in PHASES.windows(2) {
            assert_eq!(w[0].next, Some(w[1].phase));
            assert_eq!(w[0].done, w[1].phase.entry());
        }
        assert_eq!(Phase::FIRST, PHASES[0].phase);
        assert_eq!(PHASES[2].next, None);
        assert_eq!(Phase::LAST, PHASES[2].phase);
        assert_eq!(
            Phase::RecentMessages.through_last().collect::<Vec<_>>(),
            [Phase::RecentMessages, Phase::AllMessages]
        );
        assert!(Event::Covered(Phase::RecentMessages).completes());
        assert!(Event::Done(Phase::AllMessages).completes());
        assert!(!Event::Done(Phase::RecentMessages).completes());
        for st in ALL_STATUSES {
            let n = ALL_PHASES.iter().filter(|p| p.entry() == st).count();
            assert!(n <= 1, "{st} is the entry of one phase at most");
        }
        assert!(Migrating.is_in_progress() && RecentMessagesMigrated.is_in_progress());
        assert!(!Completed.is_in_progress() && !MessagesFailure.is_in_progress());
        // the catch-up is no migration phase: a completed account stays not in progress
        assert_eq!(Phase::pending_in(Completed), None);
        assert_eq!(MessagesFailure.failed_phase(), Some(Phase::AllMessages));
        assert_eq!(
            Phase::pending_in(ChannelsMigrated),
            Some(Phase::RecentMessages)
        );
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
        for p in ALL_PHASES.into_iter().chain([Phase::CatchUp]) {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
        assert_eq!(Phase::parse("done"), None);
        assert_eq!(Phase::CatchUp.as_str(), "catch-up");
    }

    #[test]
    fn the_app_never_sees_messages_failure() {
        for st in ALL_STATUSES {
            assert_ne!(st.app_facing(), MessagesFailure);
        }
        assert_eq!(MessagesFailure.app_facing(), Completed);
        assert_eq!(ChannelFailure.app_facing(), ChannelFailure);
        assert_eq!(RecentMessagesFailure.app_facing(), RecentMessagesFailure);
    }
}
