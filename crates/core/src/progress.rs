//! Progress the app can draw, from the status view alone (no extra read): `percent` over the
//! whole migration, `phase_percent` of the phase running, `eta_seconds` from the run's own
//! measured rate, `inbox_ready`.
//!
//! Weights: the channels phase is one call and a few rows, [`CHANNELS_WEIGHT`] % of the bar;
//! the rest is threads (each thread with all its messages), whichever phase moves them. The
//! rate is the run's threads per second since its channels were in; no rate (no thread yet),
//! no estimate. Also the fleet's measured [`Rates`], which a preflight estimate is built on.

use crate::status::MigrationStatus;
use crate::status::MigrationStatus as S;
use chrono::{DateTime, Utc};
#[cfg(feature = "sql")]
use diesel::sql_types::{BigInt, Double, Nullable};

/// The figures `GET /check-migration-status` shows: one indexed read.
#[derive(Debug, Clone)]
pub struct StatusView {
    /// Real status (callers map it to app-facing).
    pub migration_status: MigrationStatus,
    /// Threads in Conversations.
    pub threads_total: i32,
    /// Threads written.
    pub threads_migrated: i32,
    /// Messages written.
    pub messages_migrated: i64,
    /// Attachments failed.
    pub attachments_failed: i32,
    /// Attachments waiting for a download (first try or a retry).
    pub attachments_pending: i32,
    /// When the run's channels were in (its thread phases' start).
    pub channels_at: Option<DateTime<Utc>>,
    /// Newest change of account or run.
    pub updated_at: DateTime<Utc>,
}

/// Rates of the runs completed in the window.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "sql", derive(diesel::QueryableByName))]
pub struct Rates {
    /// Runs the figures come from.
    #[cfg_attr(feature = "sql", diesel(sql_type = BigInt))]
    pub runs: i64,
    /// Mean time from a run's start to its channels (an inbox), seconds.
    #[cfg_attr(feature = "sql", diesel(sql_type = Nullable<Double>))]
    pub inbox_secs: Option<f64>,
    /// Messages per second of a run once its channels are in (all its messages over all its
    /// time after the channels, summed over the runs).
    #[cfg_attr(feature = "sql", diesel(sql_type = Nullable<Double>))]
    pub messages_per_sec: Option<f64>,
}

/// Share of the bar the channels phase takes.
pub const CHANNELS_WEIGHT: i64 = 5;

/// What the app draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    /// 0–100 over the whole migration; 100 only once the app sees `completed`.
    pub percent: u8,
    /// 0–100 of the phase running.
    pub phase_percent: u8,
    /// Seconds left at the run's measured rate; `None` until a rate is known.
    pub eta_seconds: Option<i64>,
    /// The inbox can be shown: from `channels-migrated` on.
    pub inbox_ready: bool,
}

/// `part / whole` in percent, at most `cap`.
fn pct(part: i64, whole: i64, cap: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    (part.max(0) * 100 / whole).min(cap)
}

/// The progress of `v` at `now`; the recent phase moves at most `recent_max_threads` threads.
pub fn draw(v: &StatusView, now: DateTime<Utc>, recent_max_threads: i64) -> Drawn {
    let (total, done) = (v.threads_total as i64, v.threads_migrated as i64);
    let status = v.migration_status;
    if status.app_facing() == S::Completed {
        return Drawn {
            percent: 100,
            phase_percent: 100,
            eta_seconds: Some(0),
            inbox_ready: true,
        };
    }
    let inbox_ready = matches!(
        status,
        S::ChannelsMigrated | S::RecentMessagesMigrated | S::RecentMessagesFailure
    );
    if !inbox_ready {
        // not started, the channels phase pending or running, or failed
        return Drawn {
            percent: 0,
            phase_percent: 0,
            eta_seconds: None,
            inbox_ready: false,
        };
    }
    let threads_share = pct(done, total, 99) * (100 - CHANNELS_WEIGHT) / 100;
    let percent = (CHANNELS_WEIGHT + threads_share).min(99);
    let phase_percent = match status {
        S::RecentMessagesMigrated => pct(done, total, 99),
        // the recent phase's own total is not known before it ends: its cap, or all threads
        _ => pct(done, total.min(recent_max_threads.max(1)), 99),
    };
    let eta_seconds = match (status, v.channels_at) {
        (S::RecentMessagesFailure, _) | (_, None) => None,
        (_, Some(since)) => {
            let secs = (now - since).num_milliseconds() as f64 / 1000.0;
            (done > 0 && secs >= 0.5).then(|| {
                let rate = done as f64 / secs;
                ((total - done).max(0) as f64 / rate).ceil() as i64
            })
        }
    };
    Drawn {
        percent: percent as u8,
        phase_percent: phase_percent as u8,
        eta_seconds,
        inbox_ready: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ALL_STATUSES;

    fn view(status: S, total: i32, done: i32, channels_secs_ago: Option<i64>) -> StatusView {
        let now = Utc::now();
        StatusView {
            migration_status: status,
            threads_total: total,
            threads_migrated: done,
            messages_migrated: 0,
            attachments_failed: 0,
            attachments_pending: 0,
            channels_at: channels_secs_ago.map(|s| now - chrono::Duration::seconds(s)),
            updated_at: now,
        }
    }

    #[test]
    fn every_status_draws_within_bounds_and_only_completed_is_full() {
        for s in ALL_STATUSES {
            for (total, done) in [(0, 0), (10, 0), (10, 5), (10, 10), (10, 12), (3, -1)] {
                let d = draw(&view(s, total, done, Some(10)), Utc::now(), 200);
                assert!(d.percent <= 100 && d.phase_percent <= 100, "{s:?} {d:?}");
                assert_eq!(
                    d.percent == 100,
                    s.app_facing() == S::Completed,
                    "{s:?} {d:?}"
                );
                assert!(d.eta_seconds.is_none_or(|e| e >= 0), "{s:?} {d:?}");
            }
        }
    }

    #[test]
    fn the_bar_follows_the_threads_after_the_channels() {
        let d = draw(&view(S::Migrating, 0, 0, None), Utc::now(), 200);
        assert_eq!((d.percent, d.inbox_ready, d.eta_seconds), (0, false, None));
        let d = draw(&view(S::ChannelsMigrated, 100, 0, Some(1)), Utc::now(), 200);
        assert_eq!((d.percent, d.phase_percent, d.inbox_ready), (5, 0, true));
        assert_eq!(d.eta_seconds, None, "no thread yet: no rate");
        // the recent phase: 20 of its at most 40 threads
        let d = draw(
            &view(S::ChannelsMigrated, 100, 20, Some(10)),
            Utc::now(),
            40,
        );
        assert_eq!((d.percent, d.phase_percent), (5 + 19, 50));
        // all messages: 50 of 100 threads in 10 s -> 10 s left
        let d = draw(
            &view(S::RecentMessagesMigrated, 100, 50, Some(10)),
            Utc::now(),
            40,
        );
        assert_eq!((d.percent, d.phase_percent), (5 + 47, 50));
        assert!(matches!(d.eta_seconds, Some(10 | 11)), "{d:?}");
        // every thread written but not yet completed: never 100
        let d = draw(
            &view(S::RecentMessagesMigrated, 10, 10, Some(5)),
            Utc::now(),
            40,
        );
        assert_eq!(
            (d.percent, d.phase_percent, d.eta_seconds),
            (99, 99, Some(0))
        );
        let d = draw(&view(S::MessagesFailure, 10, 3, Some(5)), Utc::now(), 40);
        assert_eq!(
            (d.percent, d.inbox_ready),
            (100, true),
            "the app sees completed"
        );
        let d = draw(
            &view(S::RecentMessagesFailure, 10, 3, Some(5)),
            Utc::now(),
            40,
        );
        assert_eq!((d.inbox_ready, d.eta_seconds), (true, None));
    }
}
