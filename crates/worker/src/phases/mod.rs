//! One module per phase, each a [`PhaseRunner`] that only does the phase's work; [`run`] ends
//! every phase the same way: the step the phase table gives and the next hop, in one fenced
//! transaction. The consumer loop knows none of their details.

pub mod all_messages;
pub mod catch_up;
pub mod channels;
pub mod recent_messages;
mod threads;

use crate::context::Ctx;
use crate::error::WorkResult;
use migrator_core::hop::MigrationHop;
use migrator_core::ids::ShopperId;
use migrator_core::metrics;
use migrator_core::status::{Event, Phase};
use migrator_store::models::{Account, MigrationRun};
use migrator_store::queries::{
    workflow::lease, workflow::runs, workflow::settling, workflow::verifications,
};
use scoped_futures::{ScopedBoxFuture, ScopedFutureExt};

/// A leased hop: the run is ours until the lease is lost.
#[derive(Debug, Clone)]
pub struct LeasedHop {
    /// The hop.
    pub hop: MigrationHop,
    /// The run as leased (checkpoint included).
    pub run: MigrationRun,
    /// The C1.
    pub shopper_id: ShopperId,
    /// Lease owner string.
    pub owner: String,
    /// How much work this hop may do.
    pub budget: Budget,
}

/// A hop's budget: past it, a phase commits and yields to a continuation hop.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Work stops at the first commit after this instant.
    pub deadline: tokio::time::Instant,
    /// ... or after this many committed pages (0: no page limit).
    pub max_pages: u32,
}

impl Budget {
    /// Spent after `pages` committed pages?
    pub fn spent(&self, pages: u32) -> bool {
        (self.max_pages > 0 && pages >= self.max_pages)
            || tokio::time::Instant::now() >= self.deadline
    }
}

/// How a phase's work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseEnd {
    /// All of it is done.
    Done,
    /// All of it is done, and it was all the later phases had to do (see
    /// [`Event::Covered`]).
    Covered,
    /// Conversations has nothing to move for this C1.
    NothingToMigrate,
    /// The hop's budget is spent; the checkpoint is committed and a continuation goes on.
    Yielded,
}

impl PhaseEnd {
    /// The outcome label of metrics.
    pub fn label(self) -> &'static str {
        match self {
            PhaseEnd::Done => "done",
            PhaseEnd::Covered => "covered",
            PhaseEnd::NothingToMigrate => "nothing_to_migrate",
            PhaseEnd::Yielded => "yielded",
        }
    }

    /// The state machine's event for this end of `phase`.
    fn event(self, phase: Phase) -> Event {
        match self {
            PhaseEnd::Done => Event::Done(phase),
            PhaseEnd::Covered => Event::Covered(phase),
            PhaseEnd::NothingToMigrate => Event::NothingToMigrate,
            PhaseEnd::Yielded => Event::Yield(phase),
        }
    }
}

/// Writes a phase leaves to the transaction that ends its hop (after the fence, before the
/// status move), so that its last work and its end commit together.
pub type LastWrites = Box<
    dyn for<'c> FnOnce(
            &'c mut diesel_async::AsyncPgConnection,
        ) -> ScopedBoxFuture<'static, 'c, migrator_core::CoreResult<()>>
        + Send,
>;

/// How a phase's work ended, and what it left to write with its end.
pub struct Ended {
    /// How it ended.
    pub end: PhaseEnd,
    /// Written in the same transaction as the end.
    pub last_writes: Option<LastWrites>,
}

impl From<PhaseEnd> for Ended {
    fn from(end: PhaseEnd) -> Self {
        Ended {
            end,
            last_writes: None,
        }
    }
}

/// The next hop a phase's end recorded in the outbox, to publish after commit.
pub type NextHop = Option<migrator_store::queries::workflow::outbox::Recorded>;

/// A phase of the migration: its work, and nothing of what follows it.
#[async_trait::async_trait]
pub trait PhaseRunner: Send + Sync {
    /// Does the phase's work, committing as it goes; says how it ended (and may leave its last
    /// writes to the transaction that ends the hop).
    async fn perform(&self, ctx: &Ctx, leased: &LeasedHop) -> WorkResult<Ended>;
}

/// The runner of a phase.
pub fn runner(phase: Phase) -> &'static dyn PhaseRunner {
    match phase {
        Phase::Channels => &channels::ChannelsPhase,
        Phase::RecentMessages => &recent_messages::RecentMessagesPhase,
        Phase::AllMessages => &all_messages::AllMessagesPhase,
        Phase::CatchUp => &catch_up::CatchUpPhase,
    }
}

/// Runs the leased's phase, then ends its hop: status, run and next hop (the next phase's, or a
/// continuation of this one) as the phase table says, in one fenced transaction with the
/// phase's last writes.
pub async fn run_phase(ctx: &Ctx, leased: &LeasedHop) -> WorkResult<(PhaseEnd, NextHop)> {
    let Ended { end, last_writes } = runner(leased.hop.phase).perform(ctx, leased).await?;
    let event = end.event(leased.hop.phase);
    // the C1's waits, measured from the run's start: to an inbox, and to the end
    let timed = match event {
        Event::Done(Phase::Channels) => Some(metrics::TIME_TO_INBOX),
        e if e.completes() => Some(metrics::MIGRATION_DURATION),
        _ => None,
    };
    let run_id = leased.hop.run_id;
    let verify = ctx.settings.verify.after_migration;
    let window = chrono::Duration::seconds(
        ctx.settings
            .conversations
            .settle_window_secs
            .min(i64::MAX as u64) as i64,
    );
    let started = leased.run.started_at;
    let next = fenced(ctx, leased, move |c, account| {
        async move {
            if let Some(writes) = last_writes {
                writes(c).await?;
            }
            let next = runs::end_phase(c, &account, event).await?;
            // a completed copy settles: catch-ups through the window, then its verification;
            // the verification of a catch-up's end follows the window's last one (and every
            // repair)
            let settled = if event.completes() {
                settling::on_completion(c, &account, run_id, started, window).await?
                    == settling::Next::Settled
            } else if event == Event::Done(Phase::CatchUp) {
                let (next, moved) = settling::after_catch_up(c, run_id, account.id).await?;
                ::metrics::counter!(metrics::CATCH_UPS, "kind" => moved.kind).increment(1);
                ::metrics::counter!(metrics::CATCH_UP_MESSAGES)
                    .increment(moved.messages.max(0) as u64);
                next == settling::Next::Settled
            } else {
                false
            };
            if settled && verify {
                // the copy is checked against the source by a worker's verifier, soon after
                verifications::request(c, account.id, Some(run_id), "auto", true).await?;
            }
            Ok(next)
        }
        .scope_boxed()
    })
    .await?;
    if let Some(name) = timed {
        // the run as leased: its start does not move while the run is ours
        let secs = (chrono::Utc::now() - leased.run.started_at)
            .num_milliseconds()
            .max(0) as f64
            / 1000.0;
        ::metrics::histogram!(name).record(secs);
        if name == metrics::TIME_TO_INBOX {
            migrator_core::tally::tally().inbox(leased.hop.lane, (secs * 1000.0) as u64);
        }
    }
    Ok((end, next))
}

/// Runs `f` in a transaction that first checks the leased still holds its lease (the fence); `f`
/// gets the account as the fence locked it.
pub async fn fenced<T, F>(ctx: &Ctx, leased: &LeasedHop, f: F) -> WorkResult<T>
where
    T: Send,
    F: for<'c> FnOnce(
            &'c mut diesel_async::AsyncPgConnection,
            Account,
        ) -> ScopedBoxFuture<'static, 'c, migrator_core::CoreResult<T>>
        + Send,
{
    use diesel_async::AsyncConnection;
    let mut conn = ctx.conn().await?;
    let (hop, owner) = (leased.hop.clone(), leased.owner.clone());
    let out = conn
        .transaction::<T, migrator_core::CoreError, _>(async move |c| {
            let account = lease::fence(c, &hop, &owner).await?;
            f(c, account).await
        })
        .await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_end_of_a_phase_is_its_event() {
        let p = Phase::RecentMessages;
        assert_eq!(PhaseEnd::Done.event(p), Event::Done(p));
        assert_eq!(PhaseEnd::Covered.event(p), Event::Covered(p));
        assert_eq!(PhaseEnd::Yielded.event(p), Event::Yield(p));
        assert_eq!(PhaseEnd::NothingToMigrate.event(p), Event::NothingToMigrate);
        assert_eq!(PhaseEnd::Yielded.label(), "yielded");
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_is_spent_by_its_pages_or_its_deadline() {
        let now = tokio::time::Instant::now();
        let b = Budget {
            deadline: now + Duration::from_secs(20),
            max_pages: 3,
        };
        assert!(!b.spent(2) && b.spent(3));
        let unpaged = Budget { max_pages: 0, ..b };
        assert!(!unpaged.spent(1_000));
        tokio::time::advance(Duration::from_secs(21)).await;
        assert!(unpaged.spent(0), "the deadline passed");
    }
}
