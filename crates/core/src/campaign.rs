//! Campaigns, the program's backstop (spec/api.md, Campaigns): a campaign's states and the
//! moves between them, and the pace of its driver — how many accounts a tick may start, and
//! when the campaign gives way to the app. Pure functions; the driver and the store do the I/O.

use crate::error::{CoreError, CoreResult};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A campaign's state, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CampaignState {
    /// The driver starts accounts.
    Running,
    /// Nothing is started; migrations in flight go on.
    Paused,
    /// Every selected account is settled.
    Done,
    /// Stopped for good by an operator; nothing in flight was undone.
    Cancelled,
}

/// What moves a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignMove {
    /// An operator's pause.
    Pause,
    /// An operator's resume.
    Resume,
    /// An operator's cancel.
    Cancel,
    /// The driver found nothing remaining.
    Finish,
}

impl CampaignState {
    /// Its name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored state.
    pub fn parse(s: &str) -> CoreResult<Self> {
        Ok(match s {
            "running" => Self::Running,
            "paused" => Self::Paused,
            "done" => Self::Done,
            "cancelled" => Self::Cancelled,
            other => {
                return Err(CoreError::Invalid(format!(
                    "unknown campaign state {other:?}"
                )))
            }
        })
    }

    /// Running or paused: the one campaign that may be live at a time.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Running | Self::Paused)
    }

    /// The state after `m`, or a conflict (409) for an illegal move (e.g. resume a cancelled
    /// campaign). Pausing a paused campaign or resuming a running one is accepted, unchanged.
    pub fn on(self, m: CampaignMove) -> CoreResult<Self> {
        use CampaignMove as M;
        use CampaignState as S;
        match (self, m) {
            (S::Running | S::Paused, M::Pause) => Ok(S::Paused),
            (S::Running | S::Paused, M::Resume) => Ok(S::Running),
            (S::Running | S::Paused, M::Cancel) => Ok(S::Cancelled),
            (S::Running | S::Paused, M::Finish) => Ok(S::Done),
            (s, m) => Err(CoreError::Conflict(format!(
                "the campaign is {s}: it cannot {}",
                match m {
                    M::Pause => "be paused",
                    M::Resume => "be resumed",
                    M::Cancel => "be cancelled",
                    M::Finish => "finish",
                }
            ))),
        }
    }
}

impl fmt::Display for CampaignState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the driver starts fewer accounts than its rate allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveWay {
    /// Operators paused the fleet.
    FleetPaused,
    /// Time to inbox of the app's C1s over the last minute is past `campaign.max_inbox_p99_ms`.
    InboxSlow {
        /// The p99 measured, in ms.
        p99_ms: u64,
        /// The limit, in ms.
        max_ms: u64,
    },
    /// `max_in_flight` of the campaign's accounts are migrating.
    InFlightCap,
}

impl fmt::Display for GiveWay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FleetPaused => f.write_str("the fleet is paused"),
            Self::InboxSlow { p99_ms, max_ms } => write!(
                f,
                "time to inbox p99 {p99_ms} ms over the last minute is past {max_ms} ms"
            ),
            Self::InFlightCap => f.write_str("max_in_flight accounts are migrating"),
        }
    }
}

impl GiveWay {
    /// The `reason` label of `migrator_campaign_held_back_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::FleetPaused => "fleet_paused",
            Self::InboxSlow { .. } => "inbox_slow",
            Self::InFlightCap => "in_flight_cap",
        }
    }
}

/// What the driver sees at a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// The fleet is paused.
    pub fleet_paused: bool,
    /// Time to inbox p99 of the app's C1s over the last minute, in ms (None: none measured).
    pub inbox_p99_ms: Option<u64>,
    /// The limit past which the campaign gives way, in ms.
    pub max_inbox_p99_ms: u64,
    /// The campaign's accounts migrating now.
    pub in_flight: i64,
    /// The campaign's cap on them.
    pub max_in_flight: i64,
}

/// The driver's pace: a token bucket of `rate_per_sec` accounts a second (a burst of one
/// second's worth, at least one account), and its cap on accounts in flight, which grows and
/// gives way as TCP's window does (AIMD): from one account, one more at each tick the app's
/// time to inbox is within its limit, up to the campaign's `max_in_flight`; halved at each
/// tick it is past it. A new driver (or one taking over) starts from one again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    tokens: f64,
    cap: Option<f64>,
}

impl Default for Pace {
    fn default() -> Self {
        Self::new()
    }
}

impl Pace {
    /// An empty bucket (a new driver starts slowly, never with a burst).
    pub fn new() -> Self {
        Self {
            tokens: 0.0,
            cap: None,
        }
    }

    /// The cap on accounts in flight in force (None before the first tick).
    pub fn cap(&self) -> Option<i64> {
        self.cap.map(|c| c.floor() as i64)
    }

    #[cfg(test)]
    fn warmed(cap: f64) -> Self {
        Self {
            tokens: 0.0,
            cap: Some(cap),
        }
    }

    /// Accounts that may be started now, after `elapsed` at `rate_per_sec` under `load`
    /// (at most `max_batch`), or why none may. Tokens are not earned while giving way.
    pub fn allow(
        &mut self,
        elapsed: std::time::Duration,
        rate_per_sec: f64,
        load: Load,
        max_batch: i64,
    ) -> Result<i64, GiveWay> {
        if load.fleet_paused {
            return Err(GiveWay::FleetPaused);
        }
        let max = load.max_in_flight.max(1) as f64;
        let cap = self.cap.get_or_insert(0.0);
        if let Some(p99) = load.inbox_p99_ms.filter(|p| *p > load.max_inbox_p99_ms) {
            *cap = (*cap / 2.0).max(1.0);
            self.tokens = 0.0;
            return Err(GiveWay::InboxSlow {
                p99_ms: p99,
                max_ms: load.max_inbox_p99_ms,
            });
        }
        *cap = (*cap + 1.0).min(max);
        let room = cap.floor() as i64 - load.in_flight;
        if room <= 0 {
            return Err(GiveWay::InFlightCap);
        }
        let burst = rate_per_sec.max(1.0);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * rate_per_sec).min(burst);
        Ok((self.tokens.floor() as i64).min(room).min(max_batch).max(0))
    }

    /// `n` accounts were started (or found started): their tokens are spent.
    pub fn spend(&mut self, n: i64) {
        self.tokens = (self.tokens - n as f64).max(0.0);
    }
}

/// When `remaining` accounts are done at `per_sec`, from `now` (None: no rate yet).
pub fn projected_finish(now: DateTime<Utc>, remaining: i64, per_sec: f64) -> Option<DateTime<Utc>> {
    if remaining <= 0 {
        return Some(now);
    }
    if per_sec <= 0.0 || !per_sec.is_finite() {
        return None;
    }
    let secs = remaining as f64 / per_sec;
    // past ten thousand years the projection is "never"; keep it printable
    let secs = secs.min(86_400.0 * 365.0 * 1000.0);
    Some(now + Duration::milliseconds((secs * 1000.0) as i64))
}

/// Whether `finish` meets `deadline` (None when either is unknown).
pub fn on_track(finish: Option<DateTime<Utc>>, deadline: Option<DateTime<Utc>>) -> Option<bool> {
    Some(finish? <= deadline?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    fn load() -> Load {
        Load {
            fleet_paused: false,
            inbox_p99_ms: Some(200),
            max_inbox_p99_ms: 1000,
            in_flight: 0,
            max_in_flight: 100,
        }
    }

    #[test]
    fn moves_between_states_as_the_contract_says() {
        use CampaignMove as M;
        use CampaignState as S;
        let all = [S::Running, S::Paused, S::Done, S::Cancelled];
        let moves = [M::Pause, M::Resume, M::Cancel, M::Finish];
        let expected = |s: S, m: M| -> Option<S> {
            match (s, m) {
                (S::Running, M::Pause) | (S::Paused, M::Pause) => Some(S::Paused),
                (S::Running, M::Resume) | (S::Paused, M::Resume) => Some(S::Running),
                (S::Running, M::Cancel) | (S::Paused, M::Cancel) => Some(S::Cancelled),
                (S::Running, M::Finish) | (S::Paused, M::Finish) => Some(S::Done),
                _ => None,
            }
        };
        for s in all {
            assert_eq!(CampaignState::parse(s.as_str()).unwrap(), s);
            for m in moves {
                match (s.on(m), expected(s, m)) {
                    (Ok(got), Some(want)) => assert_eq!(got, want, "{s} {m:?}"),
                    (Err(CoreError::Conflict(_)), None) => {}
                    (got, want) => panic!("{s} {m:?}: {got:?}, expected {want:?}"),
                }
            }
        }
        assert!(CampaignState::parse("gone").is_err());
    }

    #[test]
    fn pace_holds_the_rate_and_the_cap() {
        let mut p = Pace::warmed(100.0);
        // 20/s over half a second: 10
        assert_eq!(p.allow(Std::from_millis(500), 20.0, load(), 500), Ok(10));
        p.spend(10);
        // a long gap earns one second's worth, no more
        assert_eq!(p.allow(Std::from_secs(60), 20.0, load(), 500), Ok(20));
        // the cap on migrations in flight
        let capped = Load {
            in_flight: 95,
            ..load()
        };
        assert_eq!(p.allow(Std::ZERO, 20.0, capped, 500), Ok(5));
        let full = Load {
            in_flight: 100,
            ..load()
        };
        assert_eq!(
            p.allow(Std::ZERO, 20.0, full, 500),
            Err(GiveWay::InFlightCap)
        );
        // a fractional rate: one every two seconds
        let mut slow = Pace::warmed(100.0);
        assert_eq!(slow.allow(Std::from_secs(1), 0.5, load(), 500), Ok(0));
        assert_eq!(slow.allow(Std::from_secs(1), 0.5, load(), 500), Ok(1));
    }

    #[test]
    fn gives_way_to_the_app_and_the_operators() {
        let mut p = Pace::warmed(100.0);
        let paused = Load {
            fleet_paused: true,
            ..load()
        };
        assert_eq!(
            p.allow(Std::from_secs(1), 20.0, paused, 500),
            Err(GiveWay::FleetPaused)
        );
        let slow = Load {
            inbox_p99_ms: Some(1500),
            ..load()
        };
        let e = p.allow(Std::from_secs(1), 20.0, slow, 500).unwrap_err();
        assert_eq!(e.label(), "inbox_slow");
        assert!(e.to_string().contains("1500 ms"), "{e}");
        // once the inbox is fast again it starts from an empty bucket, no burst, and a cap
        // on accounts in flight halved (100 → 50), growing by one a tick
        assert_eq!(p.cap(), Some(50));
        assert_eq!(p.allow(Std::from_millis(100), 20.0, load(), 500), Ok(2));
        assert_eq!(p.cap(), Some(51));
        let busy = Load {
            in_flight: 49,
            ..load()
        };
        assert_eq!(p.allow(Std::from_secs(1), 20.0, busy, 500), Ok(3));
        // each slow tick halves it again, never below one
        for _ in 0..10 {
            let _ = p.allow(Std::from_secs(1), 20.0, slow, 500);
        }
        assert_eq!(p.cap(), Some(1));
        // no app C1s measured: nothing to give way to; the cap recovers a step a tick
        let none = Load {
            inbox_p99_ms: None,
            ..load()
        };
        assert_eq!(p.allow(Std::from_secs(1), 20.0, none, 500), Ok(2));
        // a new driver starts from one account in flight, one more a tick while the app is
        // fine
        let mut fresh = Pace::new();
        for want in [1, 2, 3] {
            assert_eq!(fresh.allow(Std::from_secs(1), 20.0, none, 500), Ok(want));
        }
        assert_eq!(fresh.cap(), Some(3));
    }

    #[test]
    fn projects_the_finish_against_the_deadline() {
        let now = DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let f = projected_finish(now, 3600, 1.0).unwrap();
        assert_eq!(f, now + Duration::hours(1));
        assert_eq!(projected_finish(now, 0, 0.0), Some(now));
        assert_eq!(projected_finish(now, 10, 0.0), None);
        assert_eq!(
            on_track(Some(f), Some(now + Duration::hours(2))),
            Some(true)
        );
        assert_eq!(
            on_track(Some(f), Some(now + Duration::minutes(30))),
            Some(false)
        );
        assert_eq!(on_track(None, Some(now)), None);
        assert_eq!(on_track(Some(f), None), None);
        // a vanishing rate stays printable
        assert!(projected_finish(now, i64::MAX, 1e-12).is_some());
    }
}
