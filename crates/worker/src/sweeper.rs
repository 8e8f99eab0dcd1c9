//! The sweeper: one worker of the fleet at a time (a fleet lock with expiry) re-enqueues runs
//! whose lease expired or that sat idle without a hop (parking those past their attempts),
//! repairs failed phases whose restart is a repair, retries due attachments of finished
//! migrations, prunes the outbox, old dead letters, old audit entries, old verifications and
//! workers long gone. (The fleet's gauges are read when the api's `/metrics` is scraped.)

use crate::context::Ctx;
use migrator_store::queries::{audit, dead_letters, fleet, outbox, sweeps, verifications};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Hops recorded again (stalled runs and repairs).
    pub hops: usize,
    /// Attachment downloads retried.
    pub attachments: usize,
    /// Outbox rows and dead letters deleted.
    pub pruned: usize,
}

/// One sweep, if this worker holds the fleet lock.
pub async fn sweep_once(ctx: &Ctx) -> anyhow::Result<Swept> {
    let w = &ctx.settings.worker;
    let started = Instant::now();
    let mut c = ctx.conn().await?;
    let ttl = (w.sweep_interval_secs as i64 * 3).max(5);
    if !sweeps::try_fleet_lock(&mut c, "sweeper", &ctx.worker_id, ttl).await? {
        return Ok(Swept::default());
    }
    let mut hops = sweeps::enqueue_stalled(&mut c, w.stalled_after_secs, w.retry_policy()).await?;
    for r in &hops {
        let h = &r.hop;
        tracing::warn!(account = %h.account_id, phase = h.phase.as_str(), "re-enqueued a stalled migration");
    }
    let repairs = sweeps::enqueue_repairs(&mut c, w.repair_interval_secs as i64).await?;
    for r in &repairs {
        let h = &r.hop;
        tracing::warn!(account = %h.account_id, phase = h.phase.as_str(), "repairing a failed phase");
    }
    hops.extend(repairs);
    let pruned = outbox::prune_published(&mut c, w.outbox_retention_secs, 10_000).await?
        + dead_letters::prune(&mut c, w.dead_letter_retention_days).await?
        + audit::prune(&mut c, ctx.settings.api.audit_retention_days).await?
        + fleet::prune_workers(&mut c, (w.fleet_poll_secs as i64 * 20).max(300)).await?
        + verifications::prune(&mut c, ctx.settings.verify.retention_days).await?;
    drop(c);
    for r in &hops {
        migrator_queue::relay::publish_recorded(&ctx.pool, &ctx.publisher, r).await;
    }
    // downloads share the sweep's period, well inside the fleet lock's lifetime
    let budget = Duration::from_secs(w.sweep_interval_secs.max(1));
    let attachments = crate::attachments::retry_due(ctx, 200, started + budget).await;
    Ok(Swept {
        hops: hops.len(),
        attachments,
        pruned,
    })
}

/// Sweeps every `sweep_interval_secs` until `stop` flips.
pub async fn run(ctx: Ctx, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(ctx.settings.worker.sweep_interval_secs.max(1));
    loop {
        match sweep_once(&ctx).await {
            Ok(s) if s != Swept::default() => tracing::info!(?s, "swept"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
    }
}
