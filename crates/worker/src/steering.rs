//! The fleet's steering as operators set it (`fleet_settings`), read every
//! `worker.fleet_poll_secs`: paused or not, and this worker's share of the fleet-wide caps on
//! the source — an operator's throttle, else `source.max_*_per_sec` — divided by the workers
//! alive (each says so in `fleet_workers` at the same time). Throttling slows every worker.
//! The same heartbeat reports the refusals of our credentials this worker met and reads the
//! fleet's ([`crate::refusals`]), and adds what the process did since the last one (its
//! [`migrator_core::tally`]) to the fleet's minutes the console draws.

use crate::refusals::{Refusals, Service};
use migrator_runtime::settings::Settings;
use migrator_source::ratelimit::RateLimiter;
use migrator_store::queries::operators::{fleet, series};
use migrator_store::DbPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What this worker obeys now.
pub struct Steering {
    paused: watch::Sender<bool>,
    /// This worker's share of the fleet's DynamoDB read cap.
    pub reads: Arc<RateLimiter>,
    /// This worker's share of the fleet's REST cap.
    pub rest: Arc<RateLimiter>,
    /// Refusals of our credentials, here and across the fleet.
    pub refusals: Refusals,
}

impl Steering {
    /// Not paused, no caps, until the first poll; refusals systemic from `refusal_threshold`
    /// a minute across the fleet.
    pub fn new(refusal_threshold: u32) -> Self {
        Self {
            paused: watch::channel(false).0,
            reads: Arc::new(RateLimiter::new(None).with_kind("reads")),
            rest: Arc::new(RateLimiter::new(None).with_kind("rest")),
            refusals: Refusals::new(refusal_threshold),
        }
    }
}

/// Adds what the process did since the last call to the fleet's minutes; a failed write
/// gives the counts back for the next (and is said, never in the way of the steering).
async fn flush_tally(c: &mut migrator_store::DbConn, worker_id: &str) {
    let tally = migrator_core::tally::tally();
    let taken = tally.take();
    if let Err(e) = series::add_minute(c, shard_of(worker_id), &taken.series()).await {
        tally.give_back(&taken);
        tracing::warn!(error = %e, "the fleet's minutes not written; kept for the next heartbeat");
    }
}

/// The `fleet_minutes` shard of a worker: its id's bytes summed (any spread will do).
fn shard_of(worker_id: &str) -> i16 {
    (worker_id.bytes().map(u32::from).sum::<u32>() % series::SHARDS as u32) as i16
}

/// A fleet-wide cap (0 or none: no cap) shared by `workers`.
fn share(cap: Option<i32>, configured: u32, workers: i64) -> Option<f64> {
    let cap = cap
        .map(f64::from)
        .or((configured > 0).then_some(configured as f64))?;
    Some(cap / workers.max(1) as f64)
}

impl Steering {
    /// Whether the fleet is paused, as it changes.
    pub fn paused(&self) -> watch::Receiver<bool> {
        self.paused.subscribe()
    }

    /// Reads the steering once, and says this worker is alive.
    pub async fn poll(
        &self,
        pool: &DbPool,
        settings: &Settings,
        worker_id: &str,
    ) -> anyhow::Result<()> {
        let mut c = migrator_store::conn(pool).await?;
        let window = (settings.worker.fleet_poll_secs.max(1) * 3) as i64;
        let mine = fleet::Refusals {
            media: self.refusals.local(Service::Media) as i32,
            rest: self.refusals.local(Service::Rest) as i32,
        };
        let health = fleet::heartbeat(&mut c, worker_id, window, mine).await?;
        // what this process did since the last heartbeat, into the fleet's minutes
        flush_tally(&mut c, worker_id).await;
        let workers = health.workers;
        self.refusals
            .set_fleet(Service::Media, health.refusals.media.max(0) as u32);
        self.refusals
            .set_fleet(Service::Rest, health.refusals.rest.max(0) as u32);
        let s = fleet::state(&mut c).await?;
        let src = &settings.source;
        self.reads
            .set_rate(share(s.max_reads_per_sec, src.max_reads_per_sec, workers))
            .await;
        self.rest
            .set_rate(share(s.max_rest_per_sec, src.max_rest_per_sec, workers))
            .await;
        self.paused
            .send_if_modified(|p| std::mem::replace(p, s.paused) != s.paused);
        metrics::gauge!(migrator_core::metrics::FLEET_PAUSED).set(if s.paused { 1.0 } else { 0.0 });
        Ok(())
    }

    /// Polls until `stop` flips, then leaves the fleet (the others' shares grow at once).
    pub async fn run(
        self: Arc<Self>,
        pool: DbPool,
        settings: Arc<Settings>,
        worker_id: String,
        mut stop: watch::Receiver<bool>,
    ) {
        let period = Duration::from_secs(settings.worker.fleet_poll_secs.max(1));
        loop {
            if let Err(e) = self.poll(&pool, &settings, &worker_id).await {
                tracing::warn!(error = %e, "fleet steering not read; keeping the last");
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stop.changed() => break,
            }
        }
        if let Ok(mut c) = migrator_store::conn(&pool).await {
            // what it did since its last heartbeat, then its share to the others
            flush_tally(&mut c, &worker_id).await;
            let _ = fleet::leave(&mut c, &worker_id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_is_shared_by_the_live_workers() {
        assert_eq!(share(None, 0, 4), None, "no cap");
        assert_eq!(share(None, 100, 4), Some(25.0), "the settings' cap");
        assert_eq!(
            share(Some(40), 100, 4),
            Some(10.0),
            "an operator's throttle wins"
        );
        assert_eq!(share(Some(40), 0, 0), Some(40.0));
    }
}
