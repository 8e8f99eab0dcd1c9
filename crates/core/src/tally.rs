//! What this process did since its last heartbeat, for the fleet's per-minute history
//! (`fleet_minutes`, read by the console's charts and `GET /admin/program/history`): hops by
//! outcome, DynamoDB reads by purpose, refusals, dead letters and times to an inbox by bucket. Counted
//! next to the Prometheus metrics of the same events (which stay the source for alerts), taken
//! and zeroed by the heartbeat that writes them, given back when that write fails.

use crate::hop::Lane;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the time-to-inbox buckets, in milliseconds (the last bucket is open).
pub const INBOX_BOUNDS_MS: [u64; 14] = [
    100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 10_000, 30_000, 60_000, 300_000,
];

/// What a read of the source is for: the copy's phases, a catch-up (what landed after the
/// switch; a repair's threads), or a verification. Set for a task by
/// `migrator_source::purpose::scoped`; the `purpose` label of
/// `migrator_dynamodb_pages_total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReadPurpose {
    /// A phase's copy (the default).
    #[default]
    Copy,
    /// A catch-up.
    CatchUp,
    /// A verification.
    Verification,
}

impl ReadPurpose {
    /// Its label.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadPurpose::Copy => "copy",
            ReadPurpose::CatchUp => "catch_up",
            ReadPurpose::Verification => "verification",
        }
    }
}

/// A counted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A hop that did its work (done, covered, nothing to migrate, yielded).
    HopOk,
    /// A hop that failed and will be retried.
    HopRetried,
    /// A hop whose phase failed for good (dead-lettered, parked or not).
    HopFailed,
    /// A hop dropped unrun or unrecorded (a duplicate, stale, its lease lost).
    HopDropped,
    /// One DynamoDB Query page read by a phase's copy.
    DynamodbReadCopy,
    /// One read by a catch-up (what landed after the switch, or a repair's threads).
    DynamodbReadCatchUp,
    /// One read by a verification.
    DynamodbReadVerification,
    /// A refusal of our credentials by the media service.
    RefusedMedia,
    /// A refusal of our credentials by the REST API.
    RefusedRest,
    /// A dead letter written.
    DeadLetter,
}

impl Event {
    /// Every event, in `fleet_minutes` order.
    pub const ALL: [Event; 10] = [
        Event::HopOk,
        Event::HopRetried,
        Event::HopFailed,
        Event::HopDropped,
        Event::DynamodbReadCopy,
        Event::DynamodbReadCatchUp,
        Event::DynamodbReadVerification,
        Event::RefusedMedia,
        Event::RefusedRest,
        Event::DeadLetter,
    ];

    /// Its series name in `fleet_minutes`.
    pub fn series(self) -> &'static str {
        match self {
            Event::HopOk => "hops_ok",
            Event::HopRetried => "hops_retried",
            Event::HopFailed => "hops_failed",
            Event::HopDropped => "hops_dropped",
            Event::DynamodbReadCopy => "dynamodb_reads_copy",
            Event::DynamodbReadCatchUp => "dynamodb_reads_catch_up",
            Event::DynamodbReadVerification => "dynamodb_reads_verification",
            Event::RefusedMedia => "refusals_media",
            Event::RefusedRest => "refusals_rest",
            Event::DeadLetter => "dead_letters",
        }
    }

    /// The event of a DynamoDB page read for `purpose`.
    pub fn dynamodb_read(purpose: ReadPurpose) -> Event {
        match purpose {
            ReadPurpose::Copy => Event::DynamodbReadCopy,
            ReadPurpose::CatchUp => Event::DynamodbReadCatchUp,
            ReadPurpose::Verification => Event::DynamodbReadVerification,
        }
    }

    /// The group a hop's outcome label (`migrator_hops_finished_total{outcome}`) falls in.
    pub fn of_hop_outcome(outcome: &str) -> Event {
        match outcome {
            "done" | "covered" | "nothing_to_migrate" | "yielded" => Event::HopOk,
            "retried" => Event::HopRetried,
            "failed" | "parked" => Event::HopFailed,
            _ => Event::HopDropped,
        }
    }
}

/// The series name of time-to-inbox bucket `i` on `lane` (`inbox_app_le_500`, …,
/// `inbox_app_le_inf`).
pub fn inbox_series(lane: &str, i: usize) -> String {
    match INBOX_BOUNDS_MS.get(i) {
        Some(b) => format!("inbox_{lane}_le_{b}"),
        None => format!("inbox_{lane}_le_inf"),
    }
}

/// The bucket a time to an inbox of `ms` falls in.
pub fn inbox_bucket(ms: u64) -> usize {
    INBOX_BOUNDS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(INBOX_BOUNDS_MS.len())
}

/// Buckets of times to an inbox (the bounds and the open one above them).
pub const BUCKETS: usize = INBOX_BOUNDS_MS.len() + 1;

/// The `q` quantile (0 to 1) of times to an inbox counted by bucket, in milliseconds,
/// interpolated linearly within its bucket as Prometheus's `histogram_quantile` does (a
/// quantile in the open bucket is its lower bound); `None` without any count.
pub fn quantile_ms(counts: &[u64; BUCKETS], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0u64;
    for (i, n) in counts.iter().enumerate() {
        if *n > 0 && (below + n) as f64 >= rank {
            let lo = if i == 0 { 0 } else { INBOX_BOUNDS_MS[i - 1] } as f64;
            let Some(hi) = INBOX_BOUNDS_MS.get(i) else {
                return Some(lo);
            };
            let within = ((rank - below as f64) / *n as f64).clamp(0.0, 1.0);
            return Some(lo + (*hi as f64 - lo) * within);
        }
        below += n;
    }
    INBOX_BOUNDS_MS.last().map(|b| *b as f64)
}

/// The bucket of a series named by [`inbox_series`], and its lane.
pub fn parse_inbox_series(series: &str) -> Option<(&str, usize)> {
    let rest = series.strip_prefix("inbox_")?;
    let (lane, bound) = rest.split_once("_le_")?;
    let i = match bound {
        "inf" => INBOX_BOUNDS_MS.len(),
        b => INBOX_BOUNDS_MS.iter().position(|x| x.to_string() == b)?,
    };
    Some((lane, i))
}
/// The lanes times to an inbox are counted by, in the tally's order.
const LANES: [Lane; 2] = [Lane::App, Lane::Campaign];

/// The process's counters.
pub struct Tally {
    events: [AtomicU64; Event::ALL.len()],
    inbox: [[AtomicU64; BUCKETS]; LANES.len()],
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZERO_BUCKETS: [AtomicU64; BUCKETS] = [ZERO; BUCKETS];

static TALLY: Tally = Tally {
    events: [ZERO; Event::ALL.len()],
    inbox: [ZERO_BUCKETS; LANES.len()],
};

/// The process's tally.
pub fn tally() -> &'static Tally {
    &TALLY
}

/// Counts taken from a [`Tally`], as they were counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    events: [u64; Event::ALL.len()],
    inbox: [[u64; BUCKETS]; LANES.len()],
}

impl Taken {
    /// The non-zero counts by series name (`fleet_minutes`' `series`), events first.
    pub fn series(&self) -> Vec<(String, i64)> {
        let events = Event::ALL
            .iter()
            .zip(self.events)
            .map(|(e, n)| (e.series().to_string(), n));
        let inbox = LANES.iter().zip(&self.inbox).flat_map(|(lane, buckets)| {
            buckets
                .iter()
                .enumerate()
                .map(|(i, n)| (inbox_series(lane.as_str(), i), *n))
        });
        events
            .chain(inbox)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| (s, n.min(i64::MAX as u64) as i64))
            .collect()
    }
}

fn swap_all<const N: usize>(counters: &[AtomicU64; N]) -> [u64; N] {
    std::array::from_fn(|i| counters[i].swap(0, Ordering::Relaxed))
}

fn add_all<const N: usize>(counters: &[AtomicU64; N], counts: &[u64; N]) {
    for (c, n) in counters.iter().zip(counts) {
        c.fetch_add(*n, Ordering::Relaxed);
    }
}

impl Tally {
    /// Counts `n` of `e`.
    pub fn add(&self, e: Event, n: u64) {
        // `ALL` lists the events in their declared order
        self.events[e as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a time to an inbox of `ms` on `lane`.
    pub fn inbox(&self, lane: Lane, ms: u64) {
        self.inbox[lane as usize][inbox_bucket(ms)].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes every count, zeroing it.
    pub fn take(&self) -> Taken {
        Taken {
            events: swap_all(&self.events),
            inbox: std::array::from_fn(|l| swap_all(&self.inbox[l])),
        }
    }

    /// Gives back counts taken by [`Tally::take`] whose write failed (the next heartbeat
    /// writes them).
    pub fn give_back(&self, taken: &Taken) {
        add_all(&self.events, &taken.events);
        for (counters, counts) in self.inbox.iter().zip(&taken.inbox) {
            add_all(counters, counts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_fall_in_the_first_bucket_that_holds_them() {
        assert_eq!(inbox_bucket(0), 0);
        assert_eq!(inbox_bucket(100), 0);
        assert_eq!(inbox_bucket(101), 1);
        assert_eq!(inbox_bucket(300_001), INBOX_BOUNDS_MS.len());
        assert_eq!(inbox_series("app", 3), "inbox_app_le_500");
        assert_eq!(inbox_series("campaign", 14), "inbox_campaign_le_inf");
    }

    #[test]
    fn taking_zeroes_and_a_failed_write_gives_back() {
        let t = Tally {
            events: [ZERO; Event::ALL.len()],
            inbox: [ZERO_BUCKETS; LANES.len()],
        };
        t.add(Event::HopOk, 3);
        t.add(Event::dynamodb_read(ReadPurpose::Verification), 7);
        t.inbox(Lane::App, 450);
        t.inbox(Lane::Campaign, 5);
        let taken = t.take();
        assert_eq!(
            taken.series(),
            vec![
                ("hops_ok".to_string(), 3),
                ("dynamodb_reads_verification".to_string(), 7),
                ("inbox_app_le_500".to_string(), 1),
                ("inbox_campaign_le_100".to_string(), 1),
            ]
        );
        assert!(t.take().series().is_empty(), "taken once");
        t.give_back(&taken);
        assert_eq!(t.take(), taken);
    }

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let mut c = [0u64; BUCKETS];
        assert_eq!(quantile_ms(&c, 0.5), None);
        c[inbox_bucket(150)] = 100; // all in 100..=200
        assert_eq!(quantile_ms(&c, 0.5), Some(150.0));
        assert_eq!(quantile_ms(&c, 0.99), Some(199.0));
        c[BUCKETS - 1] = 100; // half past the last bound
        assert_eq!(quantile_ms(&c, 0.99), Some(300_000.0));
        assert_eq!(parse_inbox_series("inbox_app_le_500"), Some(("app", 3)));
        assert_eq!(
            parse_inbox_series("inbox_campaign_le_inf"),
            Some(("campaign", 14))
        );
        assert_eq!(parse_inbox_series("hops_ok"), None);
    }

    #[test]
    fn events_and_lanes_index_in_their_declared_order() {
        for (i, e) in Event::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i, "{e:?}");
        }
        for (i, l) in LANES.iter().enumerate() {
            assert_eq!(*l as usize, i, "{l:?}");
        }
    }

    #[test]
    fn hop_outcomes_group_as_the_chart_draws_them() {
        assert_eq!(Event::of_hop_outcome("covered"), Event::HopOk);
        assert_eq!(Event::of_hop_outcome("retried"), Event::HopRetried);
        assert_eq!(Event::of_hop_outcome("parked"), Event::HopFailed);
        assert_eq!(Event::of_hop_outcome("lease_lost"), Event::HopDropped);
    }
}
