//! The RabbitMQ consumer loop, written once. One consumer per phase queue, each on a channel of
//! its own with as many slots as the settings give that phase (prefetch = slots): a C1 who has
//! just opened the app gets a channels slot even while every all-messages slot is busy with
//! another C1's history. Reconnects after broker trouble; on shutdown it stops taking hops and
//! lets the ones in hand finish; while operators pause the fleet, or while this worker does not
//! hold its liveness lock ([`migrator_core::db::liveness`]), it takes none. It knows no phase's
//! details: [`crate::hop`] runs each delivery.

use crate::context::Ctx;
use futures::stream::{self, StreamExt};
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};
use migrator_core::queue::{self, QueueError};
use migrator_core::retry::Backoff;
use migrator_core::status::Phase;
use std::sync::Arc;
use tokio::sync::{watch, Semaphore};

/// A phase's slots in this worker.
struct Slots {
    phase: Phase,
    size: u32,
    free: Arc<Semaphore>,
}

/// Consumes hops until `shutdown` flips; reconnects after broker trouble. In-flight hops are
/// finished before this returns.
pub async fn run(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let w = &ctx.settings.worker;
    let slots: Vec<Slots> = [
        (Phase::Channels, w.channels_concurrency),
        (Phase::RecentMessages, w.recent_concurrency),
        (Phase::AllMessages, w.concurrency),
    ]
    .into_iter()
    .map(|(phase, n)| {
        let size = u32::from(n.max(1));
        Slots {
            phase,
            size,
            free: Arc::new(Semaphore::new(size as usize)),
        }
    })
    .collect();
    let mut reconnects = 0u32;
    let mut paused = ctx.steering.paused();
    let mut alive = ctx.alive.clone();
    while !*shutdown.borrow() {
        let (is_paused, is_alive) = (*paused.borrow_and_update(), *alive.borrow_and_update());
        if is_paused || !is_alive {
            if is_paused {
                tracing::info!("fleet paused by an operator: taking no hops");
            } else {
                // whoever finds our leases without our liveness lock takes them over
                tracing::info!("liveness lock not held: taking no hops");
            }
            tokio::select! {
                _ = paused.changed() => {}
                _ = alive.changed() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let (conn, channels, consumers) = match open(&ctx, &slots).await {
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
        tracing::info!(worker = %ctx.worker_id, "consuming hops");
        let tags: Vec<String> = consumers.iter().map(|c| c.tag().to_string()).collect();
        let mut deliveries = stream::select_all(
            consumers
                .into_iter()
                .enumerate()
                .map(|(i, c)| c.map(move |d| (i, d)).boxed()),
        );
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                // paused, or no longer alive to the fleet: stop consuming; hops not yet taken
                // go back to their queues
                Ok(()) = paused.changed() => if *paused.borrow() { break },
                Ok(()) = alive.changed() => if !*alive.borrow() { break },
                next = deliveries.next() => match next {
                    Some((i, Ok(delivery))) => {
                        // prefetch = slots, so a slot is free for every delivery
                        let permit = slots[i].free.clone().acquire_owned().await.expect("open");
                        let ctx = ctx.clone();
                        tokio::spawn(async move {
                            crate::hop::handle(&ctx, delivery).await;
                            drop(permit);
                        });
                    }
                    Some((_, Err(e))) => {
                        tracing::warn!(error = %e, "consumer stream failed; reconnecting");
                        break;
                    }
                    None => break,
                },
            }
        }
        // stop taking hops: cancelled first, so the broker sends no delivery to a closing
        // channel (lapin fails the whole connection on one); those it sent meanwhile are never
        // acked and go back to their queues. The hops in hand finish and ack on their channels.
        let t = ctx.publisher.broker().timeout;
        for (ch, tag) in channels.iter().zip(&tags) {
            let cancel = ch.basic_cancel(tag, BasicCancelOptions::default());
            let _ = queue::bounded(t, "cancel", cancel).await;
        }
        drop(deliveries);
        for s in &slots {
            let _all = s.free.acquire_many(s.size).await.expect("open");
        }
        // the connection's close closes its channels; closing each first raced lapin's own
        // bookkeeping (a channel removed twice is a connection error to it)
        let _ = queue::bounded(t, "connection close", conn.close(200, "bye")).await;
        drop(channels);
    }
}

/// A connection with one consuming channel per phase.
async fn open(
    ctx: &Ctx,
    slots: &[Slots],
) -> Result<(Connection, Vec<Channel>, Vec<Consumer>), QueueError> {
    let broker = ctx.publisher.broker();
    let conn = queue::connect(broker).await?;
    let (mut channels, mut consumers) = (Vec::new(), Vec::new());
    for s in slots {
        let ch = conn.create_channel().await?;
        queue::declare_topology(&conn, &ch, broker).await?;
        let prefetch = u16::try_from(s.size).unwrap_or(u16::MAX);
        ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
        let tag = format!("{}-{}", ctx.worker_id, s.phase.as_str());
        let consumer = ch
            .basic_consume(
                &broker.names.phase(s.phase),
                &tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        channels.push(ch);
        consumers.push(consumer);
    }
    Ok((conn, channels, consumers))
}
