//! Refusals of our credentials by the source: the media service refusing a cert JWT (401/403
//! after a fresh token) and Conversations REST refusing the service token. One refusal may be
//! the item's; many in a row are ours — a rotated key, a wrong token, a clock out of step —
//! and failing every attachment for good over them would lose data that a fixed key brings
//! back. So each worker counts what it met over the last minute, reports it with its fleet
//! heartbeat (`fleet_workers`), and learns the fleet's sum from the same poll; refusals are
//! **systemic** from `media.refusal_threshold` across the fleet in a minute, or when most of
//! this worker's recent downloads were refused. Operators see it in
//! `migrator_source_refusals_total`, `migrator_source_refusing`, a log line when it starts
//! and ends, and `GET /admin/fleet`.

use migrator_core::metrics::{SOURCE_REFUSALS, SOURCE_REFUSING};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Who refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The media service (cert JWT).
    Media,
    /// The Conversations REST API (service token).
    Rest,
}

impl Service {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Media => "media",
            Service::Rest => "rest",
        }
    }
}

/// How far back a window looks.
const WINDOW: Duration = Duration::from_secs(60);
/// Outcomes a window keeps at most (the oldest go first): memory stays flat under any load.
const MAX_KEPT: usize = 4096;
/// Outcomes of this worker from which "most of them refused" is systemic.
const MIN_LOCAL: u32 = 4;

/// One service's outcomes over the last minute: (when, refused).
#[derive(Default)]
struct Window(VecDeque<(Instant, bool)>);

impl Window {
    fn push(&mut self, now: Instant, refused: bool) {
        self.prune(now);
        if self.0.len() == MAX_KEPT {
            self.0.pop_front();
        }
        self.0.push_back((now, refused));
    }

    fn prune(&mut self, now: Instant) {
        while self
            .0
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > WINDOW)
        {
            self.0.pop_front();
        }
    }

    /// (refused, all) over the last minute.
    fn counts(&mut self, now: Instant) -> (u32, u32) {
        self.prune(now);
        let refused = self.0.iter().filter(|(_, r)| *r).count() as u32;
        (refused, self.0.len() as u32)
    }
}

/// Per service: this worker's window, the fleet's last known sum, and whether it is systemic.
#[derive(Default)]
struct Watch {
    window: Mutex<Window>,
    fleet: AtomicU32,
    systemic: AtomicBool,
}

/// This worker's view of refusals, shared by its hops, its sweeper and its steering poll.
pub struct Refusals {
    media: Watch,
    rest: Watch,
    threshold: u32,
}

/// Whether refusals are systemic: `fleet` across the fleet in a minute (this worker's own
/// included), or most of this worker's `local_all` outcomes of the last minute refused.
pub fn is_systemic(threshold: u32, fleet: u32, local_refused: u32, local_all: u32) -> bool {
    let threshold = threshold.max(1);
    fleet.max(local_refused) >= threshold
        || (local_all >= MIN_LOCAL && local_refused * 2 > local_all)
}

impl Refusals {
    /// A watch where `threshold` refusals a minute across the fleet are systemic.
    pub fn new(threshold: u32) -> Self {
        Self {
            media: Watch::default(),
            rest: Watch::default(),
            threshold,
        }
    }

    fn watch(&self, s: Service) -> &Watch {
        match s {
            Service::Media => &self.media,
            Service::Rest => &self.rest,
        }
    }

    /// Records one outcome of a call to `s` (`refused`: 401/403); returns whether refusals of
    /// `s` are systemic now.
    pub fn record(&self, s: Service, refused: bool) -> bool {
        if refused {
            metrics::counter!(SOURCE_REFUSALS, "service" => s.as_str()).increment(1);
            migrator_core::tally::tally().add(
                match s {
                    Service::Media => migrator_core::tally::Event::RefusedMedia,
                    Service::Rest => migrator_core::tally::Event::RefusedRest,
                },
                1,
            );
        }
        let w = self.watch(s);
        w.window
            .lock()
            .expect("refusals lock")
            .push(Instant::now(), refused);
        self.update(s)
    }

    /// Refusals of `s` this worker met in the last minute (what its heartbeat reports).
    pub fn local(&self, s: Service) -> u32 {
        let w = self.watch(s);
        let (refused, _) = w
            .window
            .lock()
            .expect("refusals lock")
            .counts(Instant::now());
        refused
    }

    /// The fleet's refusals of `s` in the last minute, as the steering poll read them.
    pub fn set_fleet(&self, s: Service, n: u32) {
        self.watch(s).fleet.store(n, Ordering::Relaxed);
        self.update(s);
    }

    /// Whether refusals of `s` are systemic now.
    pub fn systemic(&self, s: Service) -> bool {
        self.update(s)
    }

    /// Re-evaluates `s`; logs and sets the gauge when it changes.
    fn update(&self, s: Service) -> bool {
        let w = self.watch(s);
        let (refused, all) = w
            .window
            .lock()
            .expect("refusals lock")
            .counts(Instant::now());
        let fleet = w.fleet.load(Ordering::Relaxed);
        let now = is_systemic(self.threshold, fleet, refused, all);
        if w.systemic.swap(now, Ordering::Relaxed) != now {
            metrics::gauge!(SOURCE_REFUSING, "service" => s.as_str()).set(f64::from(u8::from(now)));
            if now {
                tracing::warn!(
                    service = s.as_str(),
                    fleet_last_minute = fleet,
                    here_last_minute = refused,
                    "the source is refusing our credentials (systemic): refused work waits and \
                     is retried instead of failing; check the key, token and clocks"
                );
            } else {
                tracing::info!(
                    service = s.as_str(),
                    "the source accepts our credentials again"
                );
            }
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemic_from_the_fleets_threshold_or_most_of_this_workers_calls() {
        assert!(!is_systemic(20, 19, 1, 100));
        assert!(is_systemic(20, 20, 0, 0), "the fleet's count");
        assert!(is_systemic(20, 3, 20, 400), "this worker alone");
        assert!(is_systemic(20, 3, 3, 4), "most of a few calls");
        assert!(!is_systemic(20, 3, 2, 4), "half is not most");
        assert!(!is_systemic(20, 3, 3, 3), "too few to judge");
    }

    #[test]
    fn a_window_forgets_what_is_older_than_a_minute_and_stays_bounded() {
        let mut w = Window::default();
        let t0 = Instant::now();
        w.push(t0, true);
        w.push(t0 + Duration::from_secs(30), false);
        assert_eq!(w.counts(t0 + Duration::from_secs(59)), (1, 2));
        assert_eq!(w.counts(t0 + Duration::from_secs(61)), (0, 1));
        for i in 0..(MAX_KEPT + 10) {
            w.push(
                t0 + Duration::from_secs(62) + Duration::from_micros(i as u64),
                true,
            );
        }
        assert_eq!(w.0.len(), MAX_KEPT);
    }

    #[test]
    fn recording_flips_the_state_both_ways() {
        let r = Refusals::new(20);
        for _ in 0..3 {
            r.record(Service::Media, false);
        }
        assert!(!r.record(Service::Media, true));
        assert!(!r.systemic(Service::Rest));
        r.set_fleet(Service::Media, 25);
        assert!(r.systemic(Service::Media));
        r.set_fleet(Service::Media, 0);
        assert!(!r.systemic(Service::Media));
    }
}
