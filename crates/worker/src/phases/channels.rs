//! Phase 1: brands and channels through configs-migration.

use super::{fenced, Job, NextHop, PhaseRunner};
use crate::context::Ctx;
use crate::error::HopResult;
use migrator_core::db::queries::{runs, writes};
use migrator_core::queue::Phase;
use migrator_core::MigrationStatus;
use scoped_futures::ScopedFutureExt;

/// configs-migration -> brands/channels -> `channels-migrated`.
pub struct ChannelsPhase;

#[async_trait::async_trait]
impl PhaseRunner for ChannelsPhase {
    async fn run(&self, ctx: &Ctx, job: &Job) -> HopResult<NextHop> {
        let hop = job.hop.clone();
        // the app may call /migrate without /accounts: check there is something to move
        let eligibility = ctx.conversations.eligibility(&job.shopper_id).await?;
        let Some(e) = eligibility.filter(|e| e.needs_migration) else {
            tracing::info!(shopper_id = %job.shopper_id, "nothing to migrate");
            return fenced(ctx, job, move |c| {
                async move { runs::finish_phase(c, &hop, MigrationStatus::Completed, None).await }
                    .scope_boxed()
            })
            .await;
        };
        let brands = ctx.conversations.configs(&job.shopper_id).await?;
        let secrets = ctx.secrets.clone();
        let account = job.hop.account_id.0;
        let run = job.hop.run_id.0;
        let total = e.thread_count.unwrap_or(0).clamp(0, i32::MAX as i64) as i32;
        fenced(ctx, job, move |c| {
            async move {
                let n = writes::upsert_brands_and_channels(c, account, &brands, &secrets).await?;
                runs::set_threads_total(c, run, total).await?;
                runs::set_channels_migrated(c, run, n).await?;
                runs::finish_phase(
                    c,
                    &hop,
                    MigrationStatus::ChannelsMigrated,
                    Some(Phase::RecentMessages),
                )
                .await
            }
            .scope_boxed()
        })
        .await
    }
}
