//! One delivery, start to end: decode, lease, heartbeat, run the phase within its budget, and
//! record the outcome — ack after the outcome is committed, a delayed retry through a tier
//! queue, or, when the attempts are used up, the phase's failure status, a dead letter (and a
//! parked run past `worker.max_total_attempts`).
//!
//! A hop is bounded: the phase works for `worker.max_hop_secs` and yields with a continuation;
//! a hop that overruns that budget by `worker.lease_secs` (a call that never answers) is cut
//! off by the watchdog. The heartbeat ends with the hop however it ends, panics included.

use crate::context::Ctx;
use crate::error::WorkError;
use crate::phases::{self, Budget, LeasedHop};
use crate::refusals::Service;
use futures::FutureExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use migrator_core::hop::MigrationHop;
use migrator_core::metrics::{
    DEAD_LETTERS, HOPS_FINISHED, HOPS_IN_FLIGHT, HOPS_STARTED, HOP_DURATION, LEASE_LOSSES,
};
use migrator_core::setback::{Failure, Setback};
use migrator_store::queries::workflow::runs::{self, Settled};
use migrator_store::queries::{workflow::dead_letters, workflow::lease};
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

/// Handles one delivery and acks it, or requeues it when its outcome could not be recorded.
/// Everything it logs carries the hop's span: hop id, phase, run, account and shopper.
pub async fn handle(ctx: &Ctx, delivery: Delivery) {
    let hop: MigrationHop = match serde_json::from_slice(&delivery.data) {
        Ok(h) => h,
        Err(e) => return unreadable(ctx, delivery, &e.to_string()).await,
    };
    let span = tracing::info_span!(
        "hop",
        hop_id = %hop.hop_id,
        phase = hop.phase.as_str(),
        run_id = %hop.run_id,
        account_id = %hop.account_id,
        attempt = hop.attempt,
        shopper_id = tracing::field::Empty,
    );
    // the trace of the request (or hop) that recorded this one goes on here
    if let Some(tp) = &hop.traceparent {
        migrator_runtime::trace_context::follow(&span, tp);
    }
    // a campaign's hop reads the source at low priority: the app's calls come first
    let priority = match hop.lane {
        migrator_core::hop::Lane::App => migrator_source::ratelimit::Priority::High,
        migrator_core::hop::Lane::Campaign => migrator_source::ratelimit::Priority::Low,
    };
    // an app hop in flight holds the campaign's source calls in this worker back
    let _app = (priority == migrator_source::ratelimit::Priority::High)
        .then(migrator_source::ratelimit::AppWork::start);
    // a catch-up's reads are counted apart from the copy's
    let purpose = match hop.phase {
        migrator_core::Phase::CatchUp => migrator_source::purpose::ReadPurpose::CatchUp,
        _ => migrator_source::purpose::ReadPurpose::Copy,
    };
    let work = migrator_source::purpose::scoped(purpose, work_hop(ctx, &hop, delivery.redelivered));
    let ran = migrator_source::ratelimit::scoped(priority, work);
    match ran.instrument(span).await {
        Ok(()) => {
            let _ = delivery.ack(BasicAckOptions::default()).await;
        }
        Err(e) => {
            tracing::warn!(hop = %hop.hop_id, error = %e, "hop not settled; requeueing");
            tokio::time::sleep(Duration::from_millis(500)).await;
            let requeue = BasicNackOptions {
                requeue: true,
                ..Default::default()
            };
            let _ = delivery.nack(requeue).await;
        }
    }
}

/// A message that is not a hop: kept as a dead letter (Postgres and the dead-letter queue).
async fn unreadable(ctx: &Ctx, delivery: Delivery, error: &str) {
    tracing::error!(%error, "undecodable hop; dead-lettering it");
    let recorded = match ctx.conn().await {
        Ok(mut c) => dead_letters::record_unreadable(&mut c, &delivery.data, error)
            .await
            .is_ok(),
        Err(_) => false,
    };
    let _ = ctx.publisher.publish_dead(&delivery.data).await;
    if recorded {
        let _ = delivery.ack(BasicAckOptions::default()).await;
    } else {
        let requeue = BasicNackOptions {
            requeue: true,
            ..Default::default()
        };
        let _ = delivery.nack(requeue).await;
    }
}

/// Renews the lease every third of its life until dropped.
struct Heartbeat(JoinHandle<()>);

impl Heartbeat {
    fn start(ctx: &Ctx, leased: &LeasedHop) -> Self {
        let (ctx, owner, run_id) = (ctx.clone(), leased.owner.clone(), leased.hop.run_id);
        let ttl = ctx.settings.worker.lease_secs;
        let every = Duration::from_millis((ttl.max(3) as u64 * 1000) / 3);
        Self(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Ok(mut c) = ctx.conn().await {
                    // lost (superseded or taken over): the fence stops the hop's writes
                    if let Ok(false) = lease::heartbeat(&mut c, run_id, &owner, ttl).await {
                        return;
                    }
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often, and how far apart, a redelivered hop asks again for a lease held by a worker that
/// may have just died: the broker can hand the hop over a few milliseconds before Postgres has
/// noticed the dead worker's session close and released its liveness lock.
const REDELIVERED_LOOKS: u32 = 3;
const REDELIVERED_WAIT: Duration = Duration::from_millis(500);

/// Runs one hop; `Err` only when the outcome could not be recorded (the delivery is requeued).
async fn work_hop(ctx: &Ctx, hop: &MigrationHop, redelivered: bool) -> Result<(), WorkError> {
    let w = &ctx.settings.worker;
    // unique per delivery: a hop delivered twice (the relay and the immediate publish) must
    // not pass for its own twin at the lease
    let delivery = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let owner = format!("{}/{}/{delivery}", ctx.worker_id, hop.hop_id);
    let (run, shopper_id) = match take_lease(ctx, hop, &owner, redelivered).await? {
        lease::LeaseOutcome::Leased { run, shopper_id } => (run, shopper_id),
        lease::LeaseOutcome::Busy => {
            tracing::info!("duplicate hop: run is leased elsewhere; dropped");
            finished(hop, "duplicate", None);
            return Ok(());
        }
        lease::LeaseOutcome::Stale => {
            tracing::info!("stale hop dropped");
            finished(hop, "stale", None);
            return Ok(());
        }
    };
    tracing::Span::current().record("shopper_id", shopper_id.as_str());
    metrics::counter!(HOPS_STARTED, "phase" => hop.phase.as_str()).increment(1);
    let _in_flight = InFlight::new(hop.phase);
    let started = Instant::now();
    let leased = LeasedHop {
        hop: hop.clone(),
        run: *run,
        shopper_id,
        owner: owner.clone(),
        budget: Budget {
            deadline: started + Duration::from_secs(w.max_hop_secs.max(1)),
            max_pages: w.max_hop_pages,
        },
    };
    tracing::info!("hop started");
    let result = watched(ctx, &leased, started).await;
    match result {
        Ok((end, next)) => {
            if let Some(next) = next {
                migrator_queue::relay::publish_recorded(&ctx.pool, &ctx.publisher, &next).await;
            }
            let ms = started.elapsed().as_millis() as u64;
            tracing::info!(outcome = end.label(), ms, "hop done");
            finished(hop, end.label(), Some(started));
            Ok(())
        }
        Err(WorkError::LeaseLost) => {
            tracing::info!("lease lost (superseded or taken over); hop dropped");
            metrics::counter!(LEASE_LOSSES).increment(1);
            finished(hop, "lease_lost", Some(started));
            Ok(())
        }
        Err(e) => {
            let outcome = failed(ctx, &leased, e).await?;
            finished(hop, outcome, Some(started));
            Ok(())
        }
    }
}

/// Leases the hop's run for `owner`; a redelivered hop looks again a few times while the run
/// is busy (its former worker may have just died).
async fn take_lease(
    ctx: &Ctx,
    hop: &MigrationHop,
    owner: &str,
    redelivered: bool,
) -> Result<lease::LeaseOutcome, WorkError> {
    let looks = if redelivered { REDELIVERED_LOOKS } else { 1 };
    let mut leased = lease::LeaseOutcome::Busy;
    for look in 1..=looks {
        if look > 1 {
            tokio::time::sleep(REDELIVERED_WAIT).await;
        }
        let mut c = ctx.conn().await?;
        leased = lease::lease(&mut c, hop, owner, ctx.settings.worker.lease_secs).await?;
        if !matches!(leased, lease::LeaseOutcome::Busy) {
            break;
        }
    }
    Ok(leased)
}

/// The phase's work under its heartbeat and the watchdog: a panic or a cut-off is a transient
/// failure.
async fn watched(
    ctx: &Ctx,
    leased: &LeasedHop,
    started: Instant,
) -> Result<(phases::PhaseEnd, phases::NextHop), WorkError> {
    let _heartbeat = Heartbeat::start(ctx, leased);
    let lease_secs = ctx.settings.worker.lease_secs.max(1) as u64;
    let watchdog = leased.budget.deadline + Duration::from_secs(lease_secs);
    let work = AssertUnwindSafe(phases::run_phase(ctx, leased)).catch_unwind();
    match tokio::time::timeout_at(watchdog, work).await {
        Ok(Ok(r)) => r,
        Ok(Err(panic)) => Err(WorkError::Transient(format!(
            "hop panicked: {}",
            panic_text(&panic)
        ))),
        Err(_) => Err(WorkError::Transient(format!(
            "hop cut off after {:?}: a call did not answer",
            started.elapsed()
        ))),
    }
}

/// Counts an ended hop, with its duration when it ran.
fn finished(hop: &MigrationHop, outcome: &'static str, started: Option<Instant>) {
    let phase = hop.phase.as_str();
    metrics::counter!(HOPS_FINISHED, "phase" => phase, "outcome" => outcome).increment(1);
    let tally = migrator_core::tally::tally();
    tally.add(migrator_core::tally::Event::of_hop_outcome(outcome), 1);
    if let Some(t) = started {
        metrics::histogram!(HOP_DURATION, "phase" => phase, "outcome" => outcome)
            .record(t.elapsed().as_secs_f64());
    }
}

/// This worker's hops in flight, by phase, for as long as the guard lives.
struct InFlight(&'static str);

impl InFlight {
    fn new(phase: migrator_core::Phase) -> Self {
        metrics::gauge!(HOPS_IN_FLIGHT, "phase" => phase.as_str()).increment(1.0);
        Self(phase.as_str())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(HOPS_IN_FLIGHT, "phase" => self.0).decrement(1.0);
    }
}

/// A failed attempt, settled in one transaction (counted; retried after a delay through the
/// outbox, or given up), then published; returns the outcome.
async fn failed(ctx: &Ctx, leased: &LeasedHop, e: WorkError) -> Result<&'static str, WorkError> {
    let hop = &leased.hop;
    let reason = e.to_string();
    if matches!(e, WorkError::Refused(_)) {
        ctx.steering.refusals.record(Service::Rest, true);
    }
    let setback = Setback::Failed(failure_of(&e));
    let policy = ctx.settings.worker.retry_policy();
    let settled = {
        let mut c = ctx.conn().await?;
        runs::fail_hop(&mut c, hop, &leased.owner, setback, &reason, policy).await?
    };
    match settled {
        Settled::LeaseLost => {
            tracing::info!("failed after losing its lease; dropped");
            metrics::counter!(LEASE_LOSSES).increment(1);
            Ok("lease_lost")
        }
        Settled::Retried(next) => {
            let delay = Duration::from_millis(next.delay_ms);
            tracing::warn!(error = %reason, "hop failed; redelivery in {delay:?}");
            migrator_queue::relay::publish_recorded(&ctx.pool, &ctx.publisher, &next).await;
            Ok("retried")
        }
        Settled::GaveUp { parked } => {
            tracing::error!(park = parked, error = %reason, "phase failed");
            metrics::counter!(DEAD_LETTERS, "phase" => hop.phase.as_str()).increment(1);
            migrator_core::tally::tally().add(migrator_core::tally::Event::DeadLetter, 1);
            let mut body = serde_json::to_value(hop).expect("hop serialises");
            body["error"] = serde_json::Value::String(reason);
            if let Err(e) = ctx
                .publisher
                .publish_dead(body.to_string().as_bytes())
                .await
            {
                // Postgres holds the dead letter; the queue's copy is for broker-side tooling
                tracing::warn!(error = %e, "dead letter not copied to the dead-letter queue");
            }
            Ok(if parked { "parked" } else { "failed" })
        }
    }
}

/// The kind of a failure, as the retry rules see it ([`migrator_core::setback`]).
fn failure_of(e: &WorkError) -> Failure {
    match e {
        WorkError::Permanent(_) => Failure::Permanent,
        WorkError::Throttled(_) => Failure::Throttled,
        WorkError::Refused(_) => Failure::Refused,
        WorkError::Transient(_) | WorkError::LeaseLost => Failure::Transient,
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_kind_for_the_retry_rules() {
        let t = |s: &str| s.to_string();
        assert_eq!(
            failure_of(&WorkError::Permanent(t("404"))),
            Failure::Permanent
        );
        assert_eq!(
            failure_of(&WorkError::Throttled(t("slow"))),
            Failure::Throttled
        );
        assert_eq!(failure_of(&WorkError::Refused(t("401"))), Failure::Refused);
        assert_eq!(
            failure_of(&WorkError::Transient(t("503"))),
            Failure::Transient
        );
        let p: Box<dyn std::any::Any + Send> = Box::new("boom");
        assert_eq!(panic_text(p.as_ref()), "boom");
        let p: Box<dyn std::any::Any + Send> = Box::new(7u8);
        assert_eq!(panic_text(p.as_ref()), "non-text panic");
    }
}
