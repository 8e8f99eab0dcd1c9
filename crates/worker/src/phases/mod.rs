//! One module per phase, each a [`PhaseRunner`]; the consumer loop knows none of their details.

pub mod all_messages;
pub mod channels;
pub mod recent_messages;
mod threads;

use crate::context::Ctx;
use crate::error::HopResult;
use migrator_core::db::models::MigrationRun;
use migrator_core::queue::{MigrationHop, Phase};
use scoped_futures::ScopedFutureExt;

/// A leased hop: the run is ours until the lease is lost.
#[derive(Debug, Clone)]
pub struct Job {
    /// The hop.
    pub hop: MigrationHop,
    /// The run as leased (checkpoint included).
    pub run: MigrationRun,
    /// The C1.
    pub shopper_id: String,
    /// Lease owner string.
    pub owner: String,
}

/// The next hop a phase recorded in the outbox, to publish after commit.
pub type NextHop = Option<(i64, MigrationHop)>;

/// A phase of the migration.
#[async_trait::async_trait]
pub trait PhaseRunner: Send + Sync {
    /// Runs the phase to its end (status moved, next hop in the outbox) or fails.
    async fn run(&self, ctx: &Ctx, job: &Job) -> HopResult<NextHop>;
}

/// The runner of a phase.
pub fn runner(phase: Phase) -> &'static dyn PhaseRunner {
    match phase {
        Phase::Channels => &channels::ChannelsPhase,
        Phase::RecentMessages => &recent_messages::RecentMessagesPhase,
        Phase::AllMessages => &all_messages::AllMessagesPhase,
    }
}

/// Runs `f` in a transaction that first checks the job still holds its lease (the fence).
pub async fn fenced<T, F>(ctx: &Ctx, job: &Job, f: F) -> HopResult<T>
where
    T: Send,
    F: for<'c> FnOnce(
            &'c mut diesel_async::AsyncPgConnection,
        )
            -> scoped_futures::ScopedBoxFuture<'static, 'c, migrator_core::CoreResult<T>>
        + Send,
{
    use diesel_async::AsyncConnection;
    let mut conn = ctx.conn().await?;
    let (account, run, owner) = (job.hop.account_id.0, job.hop.run_id.0, job.owner.clone());
    let out = conn
        .transaction::<T, migrator_core::CoreError, _>(|c| {
            async move {
                migrator_core::db::queries::runs::fence(c, account, run, &owner).await?;
                f(c).await
            }
            .scope_boxed()
        })
        .await?;
    Ok(out)
}
