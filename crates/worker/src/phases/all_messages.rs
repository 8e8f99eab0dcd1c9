//! Phase 3: every thread and message, skipping what is already there.

use super::threads::{move_threads, Scope};
use super::{fenced, Job, NextHop, PhaseRunner};
use crate::context::Ctx;
use crate::error::HopResult;
use migrator_core::db::queries::runs;
use migrator_core::MigrationStatus;
use scoped_futures::ScopedFutureExt;

/// All threads -> `completed` (also the repair of `messages-failure`).
pub struct AllMessagesPhase;

#[async_trait::async_trait]
impl PhaseRunner for AllMessagesPhase {
    async fn run(&self, ctx: &Ctx, job: &Job) -> HopResult<NextHop> {
        move_threads(ctx, job, Scope::All).await?;
        let hop = job.hop.clone();
        fenced(ctx, job, move |c| {
            async move { runs::finish_phase(c, &hop, MigrationStatus::Completed, None).await }
                .scope_boxed()
        })
        .await
    }
}
