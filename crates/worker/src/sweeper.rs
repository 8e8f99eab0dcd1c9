//! The sweeper: one worker of the fleet at a time (a fleet lock with expiry) re-enqueues runs
//! whose lease expired or that sat idle without a hop, and repairs `messages-failure` accounts.

use crate::consumer::relay_now;
use crate::context::Ctx;
use migrator_core::db::queries::sweeps;
use std::time::Duration;
use tokio::sync::watch;

/// One sweep, if this worker holds the fleet lock; returns the hops enqueued.
pub async fn sweep_once(ctx: &Ctx) -> anyhow::Result<usize> {
    let w = &ctx.settings.worker;
    let mut c = ctx.conn().await?;
    let ttl = (w.sweep_interval_secs as i64 * 3).max(5);
    if !sweeps::try_fleet_lock(&mut c, "sweeper", &ctx.worker_id, ttl).await? {
        return Ok(0);
    }
    let mut hops = sweeps::enqueue_stalled(&mut c, w.stalled_after_secs).await?;
    for (_, h) in &hops {
        tracing::warn!(account = %h.account_id, phase = h.phase.as_str(), "re-enqueued a stalled migration");
    }
    let repairs = sweeps::enqueue_repairs(&mut c, w.repair_interval_secs as i64).await?;
    for (_, h) in &repairs {
        tracing::warn!(account = %h.account_id, "repairing a messages-failure migration");
    }
    hops.extend(repairs);
    drop(c);
    for (id, hop) in &hops {
        relay_now(ctx, *id, hop).await;
    }
    Ok(hops.len())
}

/// Sweeps every `sweep_interval_secs` until `stop` flips.
pub async fn run(ctx: Ctx, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(ctx.settings.worker.sweep_interval_secs.max(1));
    loop {
        if let Err(e) = sweep_once(&ctx).await {
            tracing::debug!(error = %e, "sweep failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
    }
}
