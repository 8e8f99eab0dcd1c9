//! What follows a setback of a hop — it failed, its worker lost the lease, it went missing —
//! decided from facts alone (no I/O): the setback's kind, the hop's attempt and the run's
//! failed attempts ([`RetryPolicy::decide`]). The hop's worker and the sweeper both have it
//! written by one store function (`migrator_store::queries::workflow::runs::record_setback`),
//! one transaction through the state machine's writer, the next hop in the outbox.

use crate::hop::MigrationHop;
use crate::retry::Backoff;
use std::time::Duration;

/// How a hop failed, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt (5xx, timeouts, database or broker hiccups).
    Transient,
    /// The source asked us to slow down: not the hop's fault.
    Throttled,
    /// The source refused our credentials: our configuration's fault, not the hop's.
    Refused,
    /// Retrying cannot help (the C1 is unknown, a contract breach).
    Permanent,
}

/// What happened to a hop that did not end its phase's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setback {
    /// Its attempt failed, the worker says how.
    Failed(Failure),
    /// Its worker died or hung and the lease ran out (the sweeper found it): a failed attempt.
    LeaseLost,
    /// No worker holds it and none was sent for a while (the sweeper found it): sent again, not
    /// the run's fault, no attempt counted.
    HopMissing,
}

impl Setback {
    /// Counts as one of the run's failed attempts.
    pub fn counts(&self) -> bool {
        !matches!(self, Setback::HopMissing)
    }
}

/// The retry rules (`worker.*` settings).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts of one hop before its phase fails (`worker.max_hop_attempts`).
    pub max_hop_attempts: u32,
    /// Failed attempts of a run before it is parked (`worker.max_total_attempts`).
    pub max_total_attempts: i32,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// The longest delay of a retry that is not the hop's fault (throttled, refused).
    pub max_patient_ms: u64,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// The hop runs again, after `delay`.
    Retry {
        /// The hop to publish (a new id; its attempt number as the rules say).
        hop: MigrationHop,
        /// How long it waits first.
        delay: Duration,
    },
    /// The phase fails; `park`: the run has used up its attempts and the fleet leaves it alone
    /// until an operator un-parks it.
    GiveUp {
        /// Parked (past `max_total_attempts`).
        park: bool,
    },
}

impl RetryPolicy {
    /// What follows `setback` of `hop`, the run having failed `failed_before` attempts before
    /// it (the setback itself is counted here when it [counts](Setback::counts)). A failure is
    /// retried as [`Self::after_failure`] says, a stall as [`Self::after_stall`] (its phase's
    /// hop from the first attempt).
    pub fn decide(&self, setback: Setback, hop: &MigrationHop, failed_before: i32) -> AfterFailure {
        let total = failed_before + i32::from(setback.counts());
        match setback {
            Setback::Failed(kind) => self.after_failure(kind, hop, total),
            Setback::LeaseLost | Setback::HopMissing => self.after_stall(
                MigrationHop::first(hop.account_id, hop.run_id, hop.phase),
                total,
            ),
        }
    }

    /// After `hop` failed with `kind`, the run's failed attempts now `total` (this one
    /// included). A failure that is not the hop's fault keeps the hop's attempt and waits
    /// longer each time (up to `max_patient_ms`); every failure counts on the run, so even those
    /// end, parked, after `max_total_attempts`.
    pub fn after_failure(&self, kind: Failure, hop: &MigrationHop, total: i32) -> AfterFailure {
        let park = total >= self.max_total_attempts;
        let patient = Backoff {
            max_ms: self.max_patient_ms,
            ..self.backoff
        };
        let retry = match kind {
            Failure::Permanent => None,
            Failure::Throttled | Failure::Refused => {
                Some((hop.again(), patient.delay(total.max(1) as u32)))
            }
            Failure::Transient if hop.attempt < self.max_hop_attempts => {
                Some((hop.retry(), self.backoff.delay(hop.attempt)))
            }
            Failure::Transient => None,
        };
        match retry {
            Some((hop, delay)) if !park => AfterFailure::Retry { hop, delay },
            _ => AfterFailure::GiveUp { park },
        }
    }

    /// After a run's lease was lost to a dead or hung worker, or its hop went missing (the
    /// sweeper), its failed attempts now `total`: its phase's hop runs again from the start of
    /// the hop's attempts, or the run is parked.
    pub fn after_stall(&self, hop: MigrationHop, total: i32) -> AfterFailure {
        if total >= self.max_total_attempts {
            AfterFailure::GiveUp { park: true }
        } else {
            AfterFailure::Retry {
                hop,
                delay: Duration::ZERO,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Phase;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_hop_attempts: 3,
            max_total_attempts: 10,
            backoff: Backoff {
                base_ms: 100,
                max_ms: 1_000,
                retries: 0,
            },
            max_patient_ms: 20_000,
        }
    }

    fn hop(attempt: u32) -> MigrationHop {
        MigrationHop {
            attempt,
            ..MigrationHop::first(Default::default(), Default::default(), Phase::Channels)
        }
    }

    #[test]
    fn a_transient_failure_is_retried_until_the_hop_has_used_its_attempts() {
        let p = policy();
        match p.after_failure(Failure::Transient, &hop(1), 1) {
            AfterFailure::Retry { hop: h, delay } => {
                assert_eq!(h.attempt, 2);
                assert!(delay <= Duration::from_millis(100), "{delay:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            p.after_failure(Failure::Transient, &hop(3), 3),
            AfterFailure::GiveUp { park: false }
        );
    }

    #[test]
    fn throttling_and_refusals_keep_the_hops_attempt_and_wait_longer() {
        let p = policy();
        for kind in [Failure::Throttled, Failure::Refused] {
            match p.after_failure(kind, &hop(3), 8) {
                AfterFailure::Retry { hop: h, delay } => {
                    assert_eq!(h.attempt, 3, "{kind:?} is not the hop's fault");
                    assert!(delay > Duration::from_millis(1_000), "{delay:?}");
                    assert!(delay <= Duration::from_millis(20_000));
                }
                other => panic!("{kind:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn permanent_failures_give_up_and_every_failure_parks_past_the_runs_limit() {
        let p = policy();
        assert_eq!(
            p.after_failure(Failure::Permanent, &hop(1), 1),
            AfterFailure::GiveUp { park: false }
        );
        for kind in [
            Failure::Transient,
            Failure::Throttled,
            Failure::Refused,
            Failure::Permanent,
        ] {
            assert_eq!(
                p.after_failure(kind, &hop(1), 10),
                AfterFailure::GiveUp { park: true },
                "{kind:?}"
            );
        }
        assert_eq!(
            p.after_stall(hop(1), 10),
            AfterFailure::GiveUp { park: true }
        );
        assert!(matches!(
            p.after_stall(hop(1), 9),
            AfterFailure::Retry { delay, .. } if delay == Duration::ZERO
        ));
    }

    #[test]
    fn a_setback_counts_unless_the_hop_only_went_missing() {
        let p = policy();
        // nine failed before: a lost lease is the tenth and parks, a missing hop is not counted
        assert_eq!(
            p.decide(Setback::LeaseLost, &hop(2), 9),
            AfterFailure::GiveUp { park: true }
        );
        match p.decide(Setback::HopMissing, &hop(2), 9) {
            AfterFailure::Retry { hop: h, delay } => {
                assert_eq!(
                    (h.attempt, delay),
                    (1, Duration::ZERO),
                    "from the first attempt"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            p.decide(Setback::Failed(Failure::Transient), &hop(1), 9),
            AfterFailure::GiveUp { park: true }
        );
        assert!(matches!(
            p.decide(Setback::Failed(Failure::Transient), &hop(1), 0),
            AfterFailure::Retry { .. }
        ));
    }
}
