//! Per-C1 request limits on the app endpoints, keyed by the verified token's `sub` (the
//! shopper id), so one app token can neither hold the pool with status polls nor write without
//! end: every app request counts against `api.app_requests_per_sec` (burst `api.app_burst`),
//! every write (a request that is not a GET) also against `api.app_writes_per_min`; past either
//! the answer is 429 with `Retry-After`, counted in `migrator_http_rate_limited_total{limit}`.
//! `GET /accounts` asks Conversations about a not-started C1 at most once per
//! `api.eligibility_every_secs`. The app's polling (a status poll every 0.5 s until the inbox,
//! then every 2 s; capacity.md) uses a tenth of the default rate.
//!
//! Each api process counts on its own (a C1's requests spread over N replicas get N times the
//! rate): the limit protects a process's pool, not a fleet-wide quota. Keys idle for a while
//! are forgotten every minute, so memory follows the C1s active now.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use migrator_core::ids::ShopperId;
use migrator_core::metrics::HTTP_RATE_LIMITED;
use migrator_runtime::settings::ApiSettings;
use std::num::NonZeroU32;
use std::time::Duration;

/// The app's limits, one state per C1 each.
pub struct AppLimits {
    requests: DefaultKeyedRateLimiter<ShopperId>,
    writes: DefaultKeyedRateLimiter<ShopperId>,
    eligibility: DefaultKeyedRateLimiter<ShopperId>,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least 1")
}

impl AppLimits {
    /// The limits the settings give.
    pub fn new(a: &ApiSettings) -> Self {
        let requests = Quota::per_second(nonzero(a.app_requests_per_sec))
            .allow_burst(nonzero(a.app_burst.max(a.app_requests_per_sec)));
        let writes = Quota::per_minute(nonzero(a.app_writes_per_min));
        let eligibility = Quota::with_period(Duration::from_secs(a.eligibility_every_secs.max(1)))
            .expect("a period of at least a second");
        Self {
            requests: RateLimiter::keyed(requests),
            writes: RateLimiter::keyed(writes),
            eligibility: RateLimiter::keyed(eligibility),
        }
    }

    /// Counts a request of `who` (a write when `write`); `Err` holds how long to wait.
    pub fn admit(&self, who: &ShopperId, write: bool) -> Result<(), Duration> {
        check(&self.requests, who, "requests")?;
        if write {
            check(&self.writes, who, "writes")?;
        }
        Ok(())
    }

    /// Whether `GET /accounts` may ask Conversations about `who` now.
    pub fn eligibility_due(&self, who: &ShopperId) -> bool {
        self.eligibility.check_key(who).is_ok()
    }

    /// Forgets C1s whose every limit is back to full.
    pub fn prune(&self) {
        for l in [&self.requests, &self.writes, &self.eligibility] {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// C1s tracked now (all limits).
    pub fn tracked(&self) -> usize {
        self.requests.len() + self.writes.len() + self.eligibility.len()
    }

    /// Prunes every minute until `stop` flips.
    pub async fn prune_every_minute(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => self.prune(),
                _ = stop.changed() => return,
            }
        }
    }
}

fn check(
    l: &DefaultKeyedRateLimiter<ShopperId>,
    who: &ShopperId,
    limit: &'static str,
) -> Result<(), Duration> {
    l.check_key(who).map_err(|not_until| {
        metrics::counter!(HTTP_RATE_LIMITED, "limit" => limit).increment(1);
        not_until.wait_time_from(DefaultClock::default().now())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ApiSettings {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");
        migrator_runtime::settings::Settings::load_from(std::path::Path::new(dir))
            .expect("config/default.toml")
            .api
    }

    #[test]
    fn a_c1_gets_its_burst_then_waits_and_others_are_not_affected() {
        let mut a = settings();
        a.app_requests_per_sec = 2;
        a.app_burst = 5;
        a.app_writes_per_min = 3;
        let l = AppLimits::new(&a);
        let (s1, s2) = (
            ShopperId::parse("s1").unwrap(),
            ShopperId::parse("s2").unwrap(),
        );
        for _ in 0..5 {
            assert!(l.admit(&s1, false).is_ok());
        }
        let wait = l.admit(&s1, false).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(l.admit(&s2, true).is_ok(), "another C1 has its own budget");
        for _ in 0..2 {
            assert!(l.admit(&s2, true).is_ok());
        }
        assert!(l.admit(&s2, true).is_err(), "three writes a minute");
        assert!(l.eligibility_due(&s1) && !l.eligibility_due(&s1));
        assert!(l.tracked() >= 3);
    }
}
