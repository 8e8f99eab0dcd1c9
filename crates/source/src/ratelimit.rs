//! A token bucket whose rate can change while it runs: each worker holds one per source (its
//! share of a fleet-wide cap, recomputed as workers come and go). Calls have a priority: a
//! campaign's ([`Priority::Low`], task-local) wait while app work is in flight in the process
//! ([`AppWork`], at most [`MAX_YIELD`] a call) and leave half the burst to the app's. Written here rather than taken
//! from `governor`, whose quotas are fixed at construction; this one is a few lines and async.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;

/// Whose source calls these are: the app's (a C1 waiting) or a campaign's, which yield.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Priority {
    /// On-demand work: takes any token.
    #[default]
    High,
    /// A campaign's hop: takes a token only while the bucket holds more than half its burst,
    /// so on-demand calls keep that half and come first whenever they want the budget.
    Low,
}

tokio::task_local! {
    static PRIORITY: Priority;
}

/// The priority of the calls made in this task (High outside [`scoped`]).
pub fn current() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or_default()
}

/// The longest a campaign's call waits for app work in its process to end.
pub const MAX_YIELD: Duration = Duration::from_secs(1);

/// App work in flight in this process, and a wake-up for when there is none.
static APP_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static APP_IDLE: Notify = Notify::const_new();

/// App work (a hop of the app's lane) in flight in this process while it lives: a campaign's
/// calls wait for none to be left before each source call, so a worker gives its CPU, its
/// connections and the source to the C1 who is waiting.
#[derive(Debug)]
pub struct AppWork(());

impl AppWork {
    /// Marks app work in flight until dropped.
    pub fn start() -> Self {
        APP_IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        AppWork(())
    }
}

impl Drop for AppWork {
    fn drop(&mut self) {
        if APP_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst) == 1 {
            APP_IDLE.notify_waiters();
        }
    }
}

/// Waits until no app work is in flight in this process (at once when there is none).
async fn app_idle() {
    loop {
        let idle = APP_IDLE.notified();
        if APP_IN_FLIGHT.load(Ordering::SeqCst) == 0 {
            return;
        }
        idle.await;
    }
}

/// Runs `f` with its source calls at `priority` (a task spawned inside takes it along only if
/// it is spawned through this again, with [`current`]).
pub async fn scoped<F: Future>(priority: Priority, f: F) -> F::Output {
    PRIORITY.scope(priority, f).await
}

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

    /// Waits for a token; a wait is recorded in `migrator_source_wait_seconds`. A campaign's
    /// call ([`Priority::Low`]) first waits while app work is in flight in this process.
    pub async fn acquire(&self) {
        let started = Instant::now();
        let mut waited = false;
        if current() == Priority::Low && APP_IN_FLIGHT.load(Ordering::SeqCst) > 0 {
            // bounded: under steady app work a campaign hop still makes a call a second,
            // never waits out its watchdog
            let _ = tokio::time::timeout(MAX_YIELD, app_idle()).await;
            waited = true;
        }
        loop {
            let wait = {
                let mut b = self.bucket.lock().await;
                let Some(rate) = b.rate else {
                    if waited {
                        metrics::histogram!(migrator_core::metrics::SOURCE_WAIT, "kind" => self.kind)
                            .record(started.elapsed().as_secs_f64());
                    }
                    return;
                };
                b.refill(Instant::now());
                // a low-priority call leaves half the burst to the app's
                let reserve = match current() {
                    Priority::High => 0.0,
                    Priority::Low => (rate.max(1.0) - 1.0) / 2.0,
                };
                if b.tokens >= 1.0 + reserve {
                    b.tokens -= 1.0;
                    if waited {
                        metrics::histogram!(migrator_core::metrics::SOURCE_WAIT, "kind" => self.kind)
                            .record(started.elapsed().as_secs_f64());
                    }
                    return;
                }
                Duration::from_secs_f64((1.0 + reserve - b.tokens) / rate)
            };
            waited = true;
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A campaign's call on `l` in a task of its own: when it got through.
    fn spawn_low(l: &std::sync::Arc<RateLimiter>) -> tokio::task::JoinHandle<Instant> {
        let l = l.clone();
        tokio::spawn(scoped(Priority::Low, async move {
            l.acquire().await;
            Instant::now()
        }))
    }

    /// The tests that use priorities, one at a time: app work in flight is process-wide.
    static PRIORITIES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[tokio::test(start_paused = true)]
    async fn low_priority_calls_yield_the_budget_to_the_app() {
        let _one = PRIORITIES.lock().await;
        let l = std::sync::Arc::new(RateLimiter::new(Some(10.0)));
        // alone, a campaign's calls get the whole rate: half the burst at once, then 10 a
        // second (20 more take 2 s)
        let start = Instant::now();
        scoped(Priority::Low, async {
            for _ in 0..25 {
                l.acquire().await;
            }
        })
        .await;
        let took = start.elapsed().as_secs_f64();
        assert!((1.9..2.1).contains(&took), "{took}");
        // beside the app's calls at the full rate, the campaign's wait: the app takes every
        // token and the bucket never holds more than the reserve
        let app = {
            let l = l.clone();
            tokio::spawn(async move {
                for _ in 0..30 {
                    l.acquire().await;
                }
            })
        };
        let low = spawn_low(&l);
        let start = Instant::now();
        app.await.unwrap();
        let app_done = start.elapsed();
        let low_at = low.await.unwrap().duration_since(start);
        assert!(
            low_at >= app_done,
            "{low_at:?} before the app's {app_done:?}"
        );
        assert_eq!(current(), Priority::High);
    }

    #[tokio::test(start_paused = true)]
    async fn a_campaign_call_waits_while_app_work_is_in_flight() {
        let _one = PRIORITIES.lock().await;
        let l = std::sync::Arc::new(RateLimiter::new(None));
        let app = AppWork::start();
        let low = spawn_low(&l);
        // the app's own calls go on
        let start = Instant::now();
        l.acquire().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!low.is_finished(), "a campaign call ran beside app work");
        let released = Instant::now();
        drop(app);
        assert!(low.await.unwrap() >= released);
        // under app work that never ends, a campaign call waits MAX_YIELD, no longer
        let _busy = AppWork::start();
        let waited = scoped(Priority::Low, async {
            let t = Instant::now();
            l.acquire().await;
            t.elapsed()
        })
        .await;
        assert_eq!(waited, MAX_YIELD);
        assert!(start.elapsed() >= MAX_YIELD);
    }

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
