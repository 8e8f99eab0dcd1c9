//! A token bucket whose rate can change while it runs: each worker holds one per source (its
//! share of a fleet-wide cap, recomputed as workers come and go). Written here rather than taken
//! from `governor`, whose quotas are fixed at construction; this one is a few lines and async.

use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Calls per second allowed (None: unlimited), with a burst of one second's worth.
#[derive(Debug)]
pub struct RateLimiter {
    bucket: Mutex<Bucket>,
    /// The `kind` label of the wait metric.
    kind: &'static str,
}

#[derive(Debug)]
struct Bucket {
    rate: Option<f64>,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        if let Some(rate) = self.rate {
            let earned = now.duration_since(self.last).as_secs_f64() * rate;
            self.tokens = (self.tokens + earned).min(rate.max(1.0));
        }
        self.last = now;
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(None)
    }
}

impl RateLimiter {
    /// A limiter at `rate` calls per second (None: unlimited).
    pub fn new(rate: Option<f64>) -> Self {
        Self {
            bucket: Mutex::new(Bucket {
                rate: rate.filter(|r| *r > 0.0),
                tokens: rate.unwrap_or(0.0).max(1.0),
                last: Instant::now(),
            }),
            kind: "other",
        }
    }

    /// Names what it limits in `migrator_source_wait_seconds{kind}`.
    pub fn with_kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    /// Changes the rate (None: unlimited); tokens already earned stay within the new burst.
    pub async fn set_rate(&self, rate: Option<f64>) {
        let mut b = self.bucket.lock().await;
        b.refill(Instant::now());
        b.rate = rate.filter(|r| *r > 0.0);
        if let Some(r) = b.rate {
            b.tokens = b.tokens.min(r.max(1.0));
        }
    }

    /// The rate in force.
    pub async fn rate(&self) -> Option<f64> {
        self.bucket.lock().await.rate
    }

    /// Waits for a token; a wait is recorded in `migrator_source_wait_seconds`.
    pub async fn acquire(&self) {
        let started = Instant::now();
        let mut waited = false;
        loop {
            let wait = {
                let mut b = self.bucket.lock().await;
                let Some(rate) = b.rate else {
                    return;
                };
                b.refill(Instant::now());
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    if waited {
                        metrics::histogram!(migrator_core::metrics::SOURCE_WAIT, "kind" => self.kind)
                            .record(started.elapsed().as_secs_f64());
                    }
                    return;
                }
                Duration::from_secs_f64((1.0 - b.tokens) / rate)
            };
            waited = true;
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn holds_the_rate_and_follows_a_change() {
        let l = RateLimiter::new(Some(10.0));
        let start = Instant::now();
        for _ in 0..30 {
            l.acquire().await;
        }
        // a burst of 10, then 20 more at 10/s: two seconds of the (paused) clock
        let took = start.elapsed().as_secs_f64();
        assert!((1.9..2.2).contains(&took), "{took}");
        l.set_rate(Some(100.0)).await;
        let start = Instant::now();
        for _ in 0..100 {
            l.acquire().await;
        }
        let took = start.elapsed().as_secs_f64();
        assert!((0.9..1.1).contains(&took), "{took}");
        l.set_rate(None).await;
        let start = Instant::now();
        for _ in 0..1000 {
            l.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "unlimited");
    }
}
