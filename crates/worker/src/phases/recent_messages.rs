//! Phase 2: the recent threads (by `last_message_at`, newest first) with all their messages.

use super::threads::{move_threads, Scope};
use super::{fenced, Job, NextHop, PhaseRunner};
use crate::context::Ctx;
use crate::error::HopResult;
use migrator_core::db::queries::runs;
use migrator_core::queue::Phase;
use migrator_core::MigrationStatus;
use scoped_futures::ScopedFutureExt;

/// Recent threads -> `recent-messages-migrated`.
pub struct RecentMessagesPhase;

#[async_trait::async_trait]
impl PhaseRunner for RecentMessagesPhase {
    async fn run(&self, ctx: &Ctx, job: &Job) -> HopResult<NextHop> {
        let w = &ctx.settings.worker;
        let since = job.run.started_at - chrono::Duration::days(w.recent_days);
        move_threads(
            ctx,
            job,
            Scope::Recent {
                since_ms: since.timestamp_millis(),
                max: w.recent_max_threads,
            },
        )
        .await?;
        let hop = job.hop.clone();
        fenced(ctx, job, move |c| {
            async move {
                runs::finish_phase(
                    c,
                    &hop,
                    MigrationStatus::RecentMessagesMigrated,
                    Some(Phase::AllMessages),
                )
                .await
            }
            .scope_boxed()
        })
        .await
    }
}
