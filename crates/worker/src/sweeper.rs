//! The sweeper: one worker of the fleet at a time (a fleet lock with expiry) re-enqueues runs
//! whose lease was lost or that sat idle without a hop (parking those past their attempts),
//! repairs failed phases whose restart is a repair, starts the catch-ups of completed
//! migrations that are due (the settle window), removes the stored files queued for removal,
//! prunes every growing table by its
//! retention rule, forgets workers long gone, and retries due attachments of finished
//! migrations, and samples the burn-downs the console draws. (The fleet's gauges are read
//! when the api's `/metrics` is scraped.)
//!
//! Every step is a bounded statement along a small index (a batch of [`BATCH`] rows), looped
//! while it finds a full batch and the sweep's time budget lasts: a sweep costs what there is
//! to do, never the number of accounts, and catches up over sweeps when there is more.

use crate::context::Ctx;
use migrator_store::queries::operators::retention::{self, Table};
use migrator_store::queries::workflow::outbox::Recorded;
use migrator_store::queries::{
    operators::fleet, operators::series, workflow::blob_removals, workflow::settling,
    workflow::sweeps,
};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Rows one statement of the sweeper touches at most.
pub const BATCH: i64 = 5_000;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Hops recorded again (stalled runs and repairs).
    pub hops: usize,
    /// Attachment downloads retried.
    pub attachments: usize,
    /// Rows pruned.
    pub pruned: usize,
    /// Stored files (runs' directories, attachments) removed.
    pub removed: usize,
}

/// Prunes `table` a batch at a time while it finds a full batch and `deadline` is ahead.
async fn prune(
    c: &mut migrator_store::DbConn,
    table: Table,
    keep: Duration,
    deadline: Instant,
) -> anyhow::Result<usize> {
    let mut done = 0;
    loop {
        let n = retention::prune(c, table, keep, BATCH).await?;
        done += n;
        if (n as i64) < BATCH || Instant::now() >= deadline {
            return Ok(done);
        }
    }
}

/// One sweep, if this worker holds the fleet lock.
pub async fn sweep_once(ctx: &Ctx) -> anyhow::Result<Swept> {
    let w = &ctx.settings.worker;
    let started = Instant::now();
    let period = Duration::from_secs(w.sweep_interval_secs.max(1));
    // half the period for the bookkeeping, the rest for downloads: well inside the lock's life
    let deadline = started + period / 2;
    let mut c = ctx.conn().await?;
    let ttl = (w.sweep_interval_secs as i64 * 3).max(5);
    if !sweeps::try_fleet_lock(&mut c, "sweeper", &ctx.worker_id, ttl).await? {
        return Ok(Swept::default());
    }
    let mut hops: Vec<Recorded> = Vec::new();
    let policy = w.retry_policy();
    loop {
        let batch = sweeps::enqueue_stalled(&mut c, w.stalled_after_secs, policy, BATCH).await?;
        let full = batch.len() as i64 >= BATCH;
        for r in &batch {
            let h = &r.hop;
            tracing::warn!(account = %h.account_id, phase = h.phase.as_str(), "re-enqueued a stalled migration");
        }
        hops.extend(batch);
        if !full || Instant::now() >= deadline {
            break;
        }
    }
    let repairs = sweeps::enqueue_repairs(&mut c, w.repair_interval_secs as i64, BATCH).await?;
    for r in &repairs {
        let h = &r.hop;
        tracing::warn!(account = %h.account_id, phase = h.phase.as_str(), "repairing a failed phase");
    }
    hops.extend(repairs);
    // completed migrations settling: the catch-ups (and repairs) due
    let catch_ups = settling::start_due(&mut c, BATCH).await?;
    if !catch_ups.is_empty() {
        tracing::info!(n = catch_ups.len(), "catch-ups started");
    }
    hops.extend(catch_ups);
    // the burn-downs' samples (the program's, each live campaign's), from summaries
    series::sample_burn_down(&mut c).await?;
    let mut pruned = fleet::prune_workers(&mut c, (w.fleet_poll_secs as i64 * 20).max(300)).await?;
    for table in Table::ALL {
        let n = prune(&mut c, table, table.kept(&ctx.settings), deadline).await?;
        if n > 0 {
            metrics::counter!(migrator_core::metrics::PRUNED, "table" => table.as_str())
                .increment(n as u64);
        }
        pruned += n;
    }
    let removed = remove_blobs(ctx, &mut c, deadline).await?;
    drop(c);
    abort_abandoned_uploads(ctx).await;
    for r in &hops {
        migrator_queue::relay::publish_recorded(&ctx.pool, &ctx.publisher, r).await;
    }
    let attachments = crate::attachments::retry_due(ctx, 200, started + period).await;
    Ok(Swept {
        hops: hops.len(),
        attachments,
        pruned,
        removed,
    })
}

/// Removes the stored files queued for removal (superseded runs, pruned runs, a repair's
/// replaced attachments), a batch at a time while the deadline lasts: each done is forgotten, a
/// failure tried again later (with backoff) or given up after its tries, each counted
/// (`migrator_blob_removals_total{outcome}`) and a failure logged.
async fn remove_blobs(
    ctx: &Ctx,
    c: &mut migrator_store::DbConn,
    deadline: Instant,
) -> anyhow::Result<usize> {
    use migrator_core::metrics::BLOB_REMOVALS;
    let mut removed = 0;
    loop {
        let due = blob_removals::due(c, 200).await?;
        let n = due.len();
        for d in due {
            match ctx.blobs.remove_prefix(&d.prefix).await {
                Ok(()) => {
                    blob_removals::done(c, d.id).await?;
                    metrics::counter!(BLOB_REMOVALS, "outcome" => "removed").increment(1);
                    removed += 1;
                }
                Err(e) => {
                    let error = e.to_string();
                    let given_up = blob_removals::failed(c, &d, &error).await?;
                    let outcome = if given_up { "given_up" } else { "failed" };
                    metrics::counter!(BLOB_REMOVALS, "outcome" => outcome).increment(1);
                    tracing::warn!(prefix = %d.prefix, attempts = d.attempts + 1, %error, given_up, "stored files not removed");
                }
            }
        }
        if n < 200 || Instant::now() >= deadline {
            return Ok(removed);
        }
    }
}

/// An upload older than this without its commit was abandoned (a download is bounded by the
/// media client's timeouts, minutes at most).
const ABANDONED_AFTER: Duration = Duration::from_secs(3600);

/// When this process next looks for abandoned uploads: [`ABANDONED_AFTER`] after its start, then
/// as often (the listing is one call; nothing is abandoned sooner).
static NEXT_ABANDONED_SWEEP: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);

/// Aborts object-store uploads a killed worker left behind (invisible, but billed): at most a
/// page each [`ABANDONED_AFTER`], counted (`migrator_blob_uploads_aborted_total`); a failure
/// is logged and tried at the next look.
async fn abort_abandoned_uploads(ctx: &Ctx) {
    {
        let mut next = NEXT_ABANDONED_SWEEP.lock().expect("not poisoned");
        let now = Instant::now();
        let due = next.get_or_insert(now + ABANDONED_AFTER);
        if now < *due {
            return;
        }
        *due = now + ABANDONED_AFTER;
    }
    match ctx.blobs.sweep_abandoned(ABANDONED_AFTER, 1000).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(n, "abandoned uploads aborted"),
        Err(e) => tracing::warn!(error = %e, "abandoned uploads not swept"),
    }
}

/// Sweeps every `sweep_interval_secs` (a sweep that ran long is followed by the next at once,
/// never by a burst) until `stop` flips: a sweep's bookkeeping uses at most half of each period.
pub async fn sweep_until_stopped(ctx: Ctx, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(ctx.settings.worker.sweep_interval_secs.max(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        match sweep_once(&ctx).await {
            Ok(s) if s != Swept::default() => tracing::info!(?s, "swept"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
    }
}
