//! Phase 1: brands and channels through configs-migration.

use super::{Ended, LastWrites, LeasedHop, PhaseEnd, PhaseRunner};
use crate::context::Ctx;
use crate::error::WorkResult;
use migrator_store::queries::{destination::brands, workflow::runs, workflow::settling};
use scoped_futures::ScopedFutureExt;

/// configs-migration -> brands and channels.
pub struct ChannelsPhase;

#[async_trait::async_trait]
impl PhaseRunner for ChannelsPhase {
    async fn perform(&self, ctx: &Ctx, leased: &LeasedHop) -> WorkResult<Ended> {
        // the app may call /migrate without /accounts: check there is something to move
        let eligibility = ctx.sources.rest.eligibility(&leased.shopper_id).await?;
        let Some(e) = eligibility.filter(|e| e.needs_migration) else {
            tracing::info!(shopper_id = %leased.shopper_id, "nothing to migrate");
            return Ok(PhaseEnd::NothingToMigrate.into());
        };
        // configs-migration switches the C1's channels: items keep landing for the settle
        // window after it, dated from 15 minutes before it (spec/source-contract.md 5); the
        // instant before the call is the switch's, at the latest
        let switch = chrono::Utc::now();
        let source = ctx.sources.rest.configs(&leased.shopper_id).await?;
        let secrets = ctx.secrets.clone();
        let (account, run) = (leased.hop.account_id, leased.hop.run_id);
        let total = e.thread_count.unwrap_or(0).clamp(0, i32::MAX as i64) as i32;
        // written in the transaction that ends the hop: one commit from configs to inbox
        let writes: LastWrites = Box::new(move |c| {
            async move {
                let n = brands::upsert_brands_and_channels(c, account, &source, &secrets).await?;
                settling::record_switch(c, account, switch).await?;
                runs::set_channel_figures(c, run, n, total).await
            }
            .scope_boxed()
        });
        Ok(Ended {
            end: PhaseEnd::Done,
            last_writes: Some(writes),
        })
    }
}
