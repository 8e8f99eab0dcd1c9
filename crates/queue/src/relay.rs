//! The outbox relay: publishes hops whose immediate publish after commit did not happen (broker
//! down, process killed). Several relays may run: each claims its rows for a while in one short
//! statement, publishes them with no transaction open, then marks them published.

use crate::Publisher;
use migrator_core::error::CoreResult;
use migrator_store::queries::workflow::outbox::{self, Recorded};
use migrator_store::{self as db, DbPool};

/// How long a relay owns the rows it claimed (far longer than publishing a batch takes).
const CLAIM_SECS: i64 = 60;

/// Publishes a hop just recorded in the outbox (after its transaction committed), with its
/// delay, and marks the row published; when the broker is down the row stays for
/// [`relay_once`] to send later.
pub async fn publish_recorded(pool: &DbPool, publisher: &Publisher, r: &Recorded) {
    match publisher.publish_hop(&r.hop, r.delay_ms).await {
        Ok(()) => {
            if let Ok(mut c) = db::conn(pool).await {
                let _ = outbox::mark_published(&mut c, &[r.id]).await;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "broker unavailable; the outbox relay will publish the hop")
        }
    }
}

/// Relays up to `limit` unpublished rows older than `min_age_ms`; returns how many were sent.
pub async fn relay_once(
    pool: &DbPool,
    publisher: &Publisher,
    min_age_ms: i64,
    limit: i64,
) -> CoreResult<usize> {
    let rows = {
        let mut c = db::conn(pool).await?;
        outbox::claim_unpublished(&mut c, min_age_ms, CLAIM_SECS, limit).await?
    };
    let mut sent = Vec::with_capacity(rows.len());
    let mut unsent = Vec::new();
    for r in rows {
        if !unsent.is_empty() {
            unsent.push(r.id);
            continue;
        }
        match publisher.publish_hop(&r.hop, r.delay_ms).await {
            Ok(()) => sent.push(r.id),
            Err(e) => {
                tracing::debug!(error = %e, "relay stopped: broker unavailable");
                unsent.push(r.id);
            }
        }
    }
    let mut c = db::conn(pool).await?;
    outbox::mark_published(&mut c, &sent).await?;
    // what this pass could not send is anyone's again at once, not after the claim
    outbox::release(&mut c, &unsent).await?;
    Ok(sent.len())
}

/// Runs the relay every `period` until `stop` flips.
pub async fn run(
    pool: DbPool,
    publisher: std::sync::Arc<Publisher>,
    period: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match relay_once(&pool, &publisher, 1500, 200).await {
            Ok(n) if n > 0 => tracing::info!(relayed = n, "outbox relayed"),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "outbox relay pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
    }
}
