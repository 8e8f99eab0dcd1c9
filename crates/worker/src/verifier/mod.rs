//! The verifier: each worker runs at most one verification at a time, claimed from Postgres
//! under a lease (renewed while it runs), so a verification whose worker died is taken again;
//! tries are capped (`verify.max_attempts`). It reads the source through the same rate-limited
//! clients as the phases, stops taking work while the fleet is paused, and never changes what
//! the app sees: it writes only its own result and the run's verification columns.

mod check;
mod compare;
mod repair;

use crate::context::Ctx;
use crate::error::WorkError;
use migrator_core::metrics::{VERIFICATIONS, VERIFICATION_DIFFS};
use migrator_store::queries::workflow::verifications::{self, Retry, Verification};
use std::time::Duration;
use tokio::sync::watch;

/// Polls for verifications until `stop` flips.
pub async fn verify_until_stopped(ctx: Ctx, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(ctx.settings.verify.poll_secs.max(1));
    let paused = ctx.steering.paused();
    loop {
        if !*paused.borrow() {
            // stopping drops a running verification: its lease runs out and another worker
            // takes it again
            let taken = tokio::select! {
                t = take_one(&ctx) => t,
                _ = stop.changed() => return,
            };
            match taken {
                // another may be waiting: look again at once
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "verifier could not take work"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Claims and runs one verification; false when there was none.
pub async fn take_one(ctx: &Ctx) -> anyhow::Result<bool> {
    let v = &ctx.settings.verify;
    let claimed = {
        let mut c = ctx.conn().await?;
        verifications::give_up_stale(&mut c, v.max_attempts).await?;
        verifications::claim(&mut c, &ctx.worker_id, v.lease_secs, v.max_attempts).await?
    };
    let Some((verification, shopper)) = claimed else {
        return Ok(false);
    };
    let span = tracing::info_span!("verification", id = %verification.id, shopper = %shopper);
    let _ = tracing::Instrument::instrument(verify(ctx, &verification, &shopper), span).await;
    Ok(true)
}

async fn verify(ctx: &Ctx, verification: &Verification, shopper: &str) -> anyhow::Result<()> {
    let v = &ctx.settings.verify;
    let work = migrator_source::purpose::scoped(
        migrator_source::purpose::ReadPurpose::Verification,
        check::account(ctx, verification.account_id, shopper, v.max_listed),
    );
    let heartbeat = async {
        let every = Duration::from_secs((v.lease_secs.max(3) / 3) as u64);
        loop {
            tokio::time::sleep(every).await;
            let mut c = ctx.conn().await?;
            if !verifications::heartbeat(&mut c, verification.id, &ctx.worker_id, v.lease_secs)
                .await?
            {
                return Ok::<_, anyhow::Error>(());
            }
        }
    };
    let outcome = tokio::select! {
        out = work => out,
        lost = heartbeat => {
            lost?;
            tracing::warn!("verification taken over by another worker; dropped");
            return Ok(());
        }
    };
    let mut c = ctx.conn().await?;
    match outcome {
        Ok(o) => {
            if verifications::finish(&mut c, verification.id, &ctx.worker_id, &o).await? {
                metrics::counter!(VERIFICATIONS, "result" => o.result()).increment(1);
                metrics::counter!(VERIFICATION_DIFFS).increment(o.diff_count as u64);
                tracing::info!(
                    result = o.result(),
                    diffs = o.diff_count,
                    threads = o.threads,
                    messages = o.messages,
                    "verification done"
                );
                if o.diff_count > 0 && verification.repair {
                    repair::after_diff(ctx, &mut c, verification, &o).await?;
                }
            }
        }
        Err(e) => {
            let error = e.to_string();
            let retry = retry_after(&e, verification.attempts, v.retry_secs);
            tracing::warn!(%error, attempt = verification.attempts, ?retry, "verification failed");
            verifications::attempt_failed(
                &mut c,
                verification.id,
                &ctx.worker_id,
                &error,
                v.max_attempts,
                retry,
            )
            .await?;
            if retry == Retry::Never || verification.attempts >= v.max_attempts {
                metrics::counter!(VERIFICATIONS, "result" => "failed").increment(1);
            }
        }
    }
    Ok(())
}

/// The longest wait between two tries of a verification.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(3600);

/// What follows a failed try: none after a permanent failure (the source does not know the
/// C1, or answered outside the contract: another try meets the same answer); otherwise a wait
/// of `retry_secs`, doubling with each try, so a source outage does not use up the tries in
/// seconds.
fn retry_after(e: &WorkError, attempts: i32, retry_secs: u64) -> Retry {
    match e {
        WorkError::Permanent(_) => Retry::Never,
        _ => {
            let doublings = attempts.saturating_sub(1).clamp(0, 16) as u32;
            let wait = Duration::from_secs(retry_secs.saturating_mul(1 << doublings));
            Retry::After(wait.min(MAX_RETRY_WAIT))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_failures_are_not_tried_again_and_others_wait_longer_each_time() {
        let perm = WorkError::Permanent("configs-migration: 404".into());
        assert_eq!(retry_after(&perm, 1, 30), Retry::Never);
        let t = WorkError::Transient("HTTP 502".into());
        let secs = |n| Retry::After(Duration::from_secs(n));
        assert_eq!(retry_after(&t, 1, 30), secs(30));
        assert_eq!(retry_after(&t, 2, 30), secs(60));
        assert_eq!(retry_after(&t, 3, 30), secs(120));
        assert_eq!(retry_after(&t, 40, 30), Retry::After(MAX_RETRY_WAIT));
        let th = WorkError::Throttled("slow down".into());
        assert_eq!(retry_after(&th, 1, 0), secs(0));
    }
}
