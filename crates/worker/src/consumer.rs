//! The RabbitMQ consumer loop, written once: lease, heartbeat, run the phase, publish the next
//! hop, ack — or redeliver with delay, or dead-letter and set the phase's failure status.
//! It knows no phase's details.

use crate::context::Ctx;
use crate::error::HopError;
use crate::phases::{self, Job};
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use migrator_core::db::queries::{lease, runs};
use migrator_core::queue::{self, MigrationHop};
use migrator_core::retry::Backoff;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// Consumes hops until `shutdown` flips; reconnects after broker trouble. In-flight hops are
/// finished before this returns.
pub async fn run(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let names = ctx.publisher.names().clone();
    let slots = Arc::new(Semaphore::new(
        ctx.settings.worker.concurrency.max(1) as usize
    ));
    let mut reconnects = 0u32;
    while !*shutdown.borrow() {
        let session = async {
            let conn = queue::connect(&ctx.settings.amqp.url).await?;
            let ch = conn.create_channel().await?;
            queue::declare_topology(&ch, &names).await?;
            ch.basic_qos(
                ctx.settings.worker.concurrency.max(1),
                BasicQosOptions::default(),
            )
            .await?;
            let consumer = ch
                .basic_consume(
                    &names.hops,
                    &ctx.worker_id,
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, queue::QueueError>((conn, ch, consumer))
        }
        .await;
        let (conn, ch, mut consumer) = match session {
            Ok(s) => s,
            Err(e) => {
                reconnects += 1;
                let d = Backoff {
                    base_ms: 200,
                    max_ms: 5_000,
                    retries: 0,
                }
                .delay(reconnects);
                tracing::warn!(error = %e, "broker unavailable; retrying in {d:?}");
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
        };
        reconnects = 0;
        tracing::info!(queue = %names.hops, worker = %ctx.worker_id, "consuming hops");
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => {
                        let permit = slots.clone().acquire_owned().await.expect("semaphore open");
                        let ctx = ctx.clone();
                        tokio::spawn(async move {
                            handle(&ctx, delivery).await;
                            drop(permit);
                        });
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "consumer stream failed; reconnecting");
                        break;
                    }
                    None => break,
                },
            }
        }
        // stop taking hops; let the ones in hand finish and ack on this channel
        let total = ctx.settings.worker.concurrency.max(1) as u32;
        let _all = slots.acquire_many(total).await.expect("semaphore open");
        let _ = ch.close(200, "bye").await;
        let _ = conn.close(200, "bye").await;
    }
}

async fn handle(ctx: &Ctx, delivery: Delivery) {
    let hop: MigrationHop = match serde_json::from_slice(&delivery.data) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "undecodable hop; dead-lettering it");
            let dead = ctx.publisher.names().dead.clone();
            if ctx
                .publisher
                .publish(&dead, &delivery.data, None)
                .await
                .is_ok()
            {
                let _ = delivery.ack(BasicAckOptions::default()).await;
            } else {
                let _ = delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await;
            }
            return;
        }
    };
    let settle = match work(ctx, &hop).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(hop = %hop.hop_id, error = %e, "hop not settled; requeueing");
            false
        }
    };
    if settle {
        let _ = delivery.ack(BasicAckOptions::default()).await;
    } else {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = delivery
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await;
    }
}

/// Runs one hop; `Err` only when the outcome could not be recorded (the delivery is requeued).
async fn work(ctx: &Ctx, hop: &MigrationHop) -> Result<(), HopError> {
    let w = &ctx.settings.worker;
    let owner = format!("{}/{}", ctx.worker_id, hop.hop_id);
    let leased = {
        let mut c = ctx.conn().await?;
        lease::lease(&mut c, hop, &owner, w.lease_secs).await?
    };
    let (run, account) = match leased {
        lease::LeaseOutcome::Leased { run, account } => (run, account),
        lease::LeaseOutcome::Busy => {
            tracing::info!(hop = %hop.hop_id, phase = hop.phase.as_str(), "duplicate hop: run is leased elsewhere; dropped");
            return Ok(());
        }
        lease::LeaseOutcome::Stale => {
            tracing::info!(hop = %hop.hop_id, phase = hop.phase.as_str(), "stale hop dropped");
            return Ok(());
        }
    };
    let job = Job {
        hop: hop.clone(),
        run: *run,
        shopper_id: account.shopper_id,
        owner: owner.clone(),
    };
    tracing::info!(shopper_id = %job.shopper_id, phase = hop.phase.as_str(), attempt = hop.attempt, "hop started");

    let heartbeat = {
        let (ctx, owner, run_id) = (ctx.clone(), owner.clone(), hop.run_id);
        let every = Duration::from_millis((w.lease_secs.max(3) as u64 * 1000) / 3);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Ok(mut c) = ctx.conn().await {
                    // lost (superseded or taken over): the fence stops the hop's writes
                    if let Ok(false) =
                        lease::heartbeat(&mut c, run_id, &owner, ctx.settings.worker.lease_secs)
                            .await
                    {
                        return;
                    }
                }
            }
        })
    };
    let result = phases::run(ctx, &job).await;
    heartbeat.abort();

    match result {
        Ok(next) => {
            if let Some((id, next)) = next {
                relay_now(ctx, id, &next).await;
            }
            tracing::info!(shopper_id = %job.shopper_id, phase = hop.phase.as_str(), "hop done");
            Ok(())
        }
        Err(HopError::LeaseLost) => {
            tracing::info!(hop = %hop.hop_id, "lease lost (superseded or taken over); hop dropped");
            Ok(())
        }
        Err(HopError::Transient(e)) if hop.attempt < w.max_hop_attempts => {
            let mut c = ctx.conn().await?;
            lease::release(&mut c, hop.run_id, Some(&owner), &e).await?;
            let retry = MigrationHop {
                hop_id: migrator_core::ids::HopId::new(),
                attempt: hop.attempt + 1,
                ..hop.clone()
            };
            let delay = Backoff {
                base_ms: w.retry_base_ms * 5,
                max_ms: w.retry_max_ms,
                retries: 0,
            }
            .delay(hop.attempt);
            tracing::warn!(shopper_id = %job.shopper_id, phase = hop.phase.as_str(), attempt = hop.attempt, error = %e, "hop failed; redelivery in {delay:?}");
            ctx.publisher
                .publish_hop(&retry, delay.as_millis() as u64)
                .await
                .map_err(|e| HopError::Transient(e.to_string()))?;
            Ok(())
        }
        Err(e) => {
            let reason = e.to_string();
            tracing::error!(shopper_id = %job.shopper_id, phase = hop.phase.as_str(), error = %reason, "phase failed");
            let dead = ctx.publisher.names().dead.clone();
            let mut body = serde_json::to_value(hop).expect("hop serialises");
            body["error"] = serde_json::Value::String(reason.clone());
            ctx.publisher
                .publish(&dead, body.to_string().as_bytes(), None)
                .await
                .map_err(|e| HopError::Transient(e.to_string()))?;
            let mut c = ctx.conn().await?;
            runs::fail_phase(&mut c, hop, &reason).await?;
            Ok(())
        }
    }
}

/// Publishes a hop recorded in the outbox right after its commit; the relay covers failures.
pub async fn relay_now(ctx: &Ctx, outbox_id: i64, hop: &MigrationHop) {
    migrator_core::relay::publish_recorded(&ctx.pool, &ctx.publisher, outbox_id, hop).await;
}
