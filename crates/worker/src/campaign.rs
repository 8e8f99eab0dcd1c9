//! The campaign driver: one worker of the fleet at a time (a fleet lock with expiry, like the
//! sweeper) finishes a live campaign's selection, then every `campaign.tick_ms` drives its
//! failed members again and starts the next accounts of its selection, as many as its rate
//! and in-flight cap allow and nothing while the app needs the fleet
//! ([`migrator_core::campaign::Pace`]); it marks the campaign done once nothing remains. Its
//! place in the selection is written with the starts, so another worker takes over after a
//! kill without starting an account twice or skipping one.

use crate::context::Ctx;
use migrator_core::campaign::{CampaignMove, CampaignState, Load, Pace};
use migrator_core::ids::CampaignId;
use migrator_core::metrics::{CAMPAIGN_ACCOUNTS, CAMPAIGN_HELD_BACK};
use migrator_store::queries::workflow::campaign_drive::{self, Drove};
use migrator_store::queries::{workflow::campaigns, workflow::sweeps};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The driver's memory between ticks: its bucket, for the campaign it drives.
#[derive(Debug, Default)]
pub struct Driver {
    campaign: Option<CampaignId>,
    pace: Pace,
    last: Option<Instant>,
}

impl Driver {
    /// One tick, if this worker holds the campaign lock: returns the accounts it started.
    pub async fn tick(&mut self, ctx: &Ctx) -> anyhow::Result<usize> {
        let s = &ctx.settings.campaign;
        let mut c = ctx.conn().await?;
        let ttl = ((s.tick_ms as i64 * 5) / 1000).max(5);
        if !sweeps::try_fleet_lock(&mut c, "campaign", &ctx.worker_id, ttl).await? {
            self.last = None;
            return Ok(0);
        }
        let Some(camp) = campaigns::live(&mut c).await? else {
            return Ok(0);
        };
        if self.campaign != Some(camp.id) {
            // a new campaign (or a driver taking over) starts with an empty bucket
            *self = Driver {
                campaign: Some(camp.id),
                ..Default::default()
            };
        }
        if camp.selecting {
            campaigns::select_batch(&mut c, camp.id, s.select_batch).await?;
            return Ok(0);
        }
        if camp.state() != CampaignState::Running {
            self.last = None;
            return Ok(0);
        }
        let now = Instant::now();
        let elapsed = self.last.map_or(Duration::ZERO, |l| now - l);
        self.last = Some(now);
        let members = campaigns::members(&mut c, camp.id).await?;
        if camp.walked && members.settled() >= camp.selected {
            campaigns::change(&mut c, camp.id, CampaignMove::Finish).await?;
            tracing::info!(campaign = %camp.id, selected = camp.selected, "campaign done");
            return Ok(0);
        }
        let fleet_paused = *ctx.steering.paused().borrow();
        let load = Load {
            fleet_paused,
            inbox_p99_ms: campaign_drive::inbox_p99_ms(&mut c).await?,
            max_inbox_p99_ms: s.max_inbox_p99_ms,
            in_flight: members.in_flight(),
            max_in_flight: i64::from(camp.max_in_flight),
        };
        let n = match self
            .pace
            .allow(elapsed, camp.rate_per_sec, load, s.max_batch)
        {
            Ok(n) => {
                campaign_drive::held_back(&mut c, camp.id, None).await?;
                n
            }
            Err(why) => {
                metrics::counter!(CAMPAIGN_HELD_BACK, "reason" => why.label()).increment(1);
                campaign_drive::held_back(&mut c, camp.id, Some(&why.to_string())).await?;
                return Ok(0);
            }
        };
        if n == 0 {
            return Ok(0);
        }
        let redriven =
            campaign_drive::redrive(&mut c, camp.id, n, s.max_attempts, s.redrive_after_secs)
                .await?;
        let left = n - redriven.visited;
        let walked = if left > 0 && !camp.walked {
            campaign_drive::walk(&mut c, camp.id, left).await?
        } else {
            Drove::default()
        };
        drop(c);
        self.pace.spend(redriven.visited + walked.visited);
        count("redriven", redriven.visited);
        count("given_up", redriven.given_up);
        count("visited", walked.visited);
        count("started", walked.hops.len() as i64);
        let hops: Vec<_> = redriven.hops.into_iter().chain(walked.hops).collect();
        for r in &hops {
            migrator_queue::relay::publish_recorded(&ctx.pool, &ctx.publisher, r).await;
        }
        Ok(hops.len())
    }
}

fn count(how: &'static str, n: i64) {
    if n > 0 {
        metrics::counter!(CAMPAIGN_ACCOUNTS, "how" => how).increment(n as u64);
    }
}

/// Drives campaigns every `campaign.tick_ms` until `stop` flips.
pub async fn drive_until_stopped(ctx: Ctx, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_millis(ctx.settings.campaign.tick_ms.max(50));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut driver = Driver::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        match driver.tick(&ctx).await {
            Ok(n) if n > 0 => tracing::debug!(started = n, "campaign tick"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "campaign tick failed"),
        }
    }
}
