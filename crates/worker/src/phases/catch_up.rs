//! The catch-up (on a completed migration; `spec/source-contract.md` section 5): what landed
//! in the source after the switch — the threads the GSI lists with `last_message_at` since 15
//! minutes before it, and of each its messages from then on — or the threads a verification
//! found different, copied again in full. Both are written exactly as the phases write (same
//! checks, rejects, attachments, upserts keyed by source id), so a redelivered or resumed hop
//! writes nothing twice. The plan is the run's settling record (`run_settling.plan`).

use super::threads::{move_threads, Scope};
use super::{fenced, Ended, LeasedHop, PhaseRunner};
use crate::context::Ctx;
use crate::error::{WorkError, WorkResult};
use migrator_store::queries::destination::conversations;
use migrator_store::queries::workflow::runs;
use migrator_store::queries::workflow::settling::{self, Plan};
use scoped_futures::ScopedFutureExt;

/// The catch-up's hop.
pub struct CatchUpPhase;

#[async_trait::async_trait]
impl PhaseRunner for CatchUpPhase {
    async fn perform(&self, ctx: &Ctx, leased: &LeasedHop) -> WorkResult<Ended> {
        let plan = {
            let mut c = ctx.conn().await?;
            settling::get(&mut c, leased.hop.run_id)
                .await?
                .and_then(|s| s.plan())
        };
        let scope = match plan {
            Some(Plan::Late { since_ms, .. }) => Scope::Since { since_ms },
            Some(Plan::Repair { threads, .. }) => {
                if leased.run.checkpoint.is_none() {
                    clear_for_repair(ctx, leased, &threads).await?;
                }
                Scope::Threads(threads)
            }
            None => {
                return Err(WorkError::Permanent(
                    "a catch-up hop without a plan (the run's settling record has none)".into(),
                ))
            }
        };
        move_threads(ctx, leased, scope).await.map(Ended::from)
    }
}

/// Before a repair copies its threads again: their migrated messages removed (rows re:amaze
/// made itself — native web chat, a reply written after the switch — stay), their
/// conversations opened again, those the source no longer has removed when nothing of
/// re:amaze's own is in them; the run's figures lose what was removed. One fenced
/// transaction, on the repair's first hop only (a continuation resumes the copy).
async fn clear_for_repair(ctx: &Ctx, leased: &LeasedHop, threads: &[String]) -> WorkResult<()> {
    let shopper = leased.shopper_id.as_str().to_string();
    let mut in_source = Vec::new();
    for id in threads {
        if ctx.sources.dynamo.thread(&shopper, id).await?.is_some() {
            in_source.push(id.clone());
        }
    }
    let (account, run, threads) = (leased.hop.account_id, leased.hop.run_id, threads.to_vec());
    fenced(ctx, leased, move |c, _| {
        async move {
            let removed = conversations::clear_for_repair(c, account, &threads, &in_source).await?;
            runs::subtract_removed(c, run, removed).await
        }
        .scope_boxed()
    })
    .await?;
    Ok(())
}
