//! The RabbitMQ consumer loop, written once. One consumer per phase queue and one for the
//! campaigns' queue, each on a channel of its own with as many slots as the settings give it
//! (prefetch = slots): a C1 who has just opened the app gets a channels slot even while every
//! all-messages slot is busy with another C1's history and every campaign slot with the
//! program's backstop. Reconnects after broker trouble; on shutdown it stops taking hops and
//! lets the ones in hand finish; while operators pause the fleet, or while this worker does not
//! hold its liveness lock ([`migrator_store::liveness`]), it takes none. It knows no phase's
//! details: [`crate::hop`] runs each delivery.

use crate::context::Ctx;
use futures::stream::{self, StreamExt};
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};
use migrator_core::status::Phase;
use migrator_queue::{self as queue, QueueError};
use std::sync::Arc;
use tokio::sync::{watch, Semaphore};

/// A queue's slots in this worker: a phase's, or the campaigns'.
struct Slots {
    /// The queue.
    queue: String,
    /// Its name in consumer tags.
    label: &'static str,
    size: u32,
    free: Arc<Semaphore>,
}

/// What the loop watches: the stop, the fleet's pause, this worker's liveness.
struct Signals {
    shutdown: watch::Receiver<bool>,
    paused: watch::Receiver<bool>,
    alive: watch::Receiver<bool>,
}

impl Signals {
    /// Hops may be taken: not paused, liveness held.
    fn may_consume(&mut self) -> bool {
        let (paused, alive) = (
            *self.paused.borrow_and_update(),
            *self.alive.borrow_and_update(),
        );
        match (paused, alive) {
            (true, _) => tracing::info!("fleet paused by an operator: taking no hops"),
            // whoever finds our leases without our liveness lock takes them over
            (_, false) => tracing::info!("liveness lock not held: taking no hops"),
            _ => return true,
        }
        false
    }

    /// Waits until one of them changes.
    async fn changed(&mut self) {
        tokio::select! {
            _ = self.paused.changed() => {}
            _ = self.alive.changed() => {}
            _ = self.shutdown.changed() => {}
        }
    }
}

/// Each queue's slots sized from the settings: a phase queue each, and the campaigns' queue
/// (every phase of campaign runs, fewest slots; none when `campaign_concurrency` is 0).
fn slots(w: &migrator_runtime::settings::WorkerSettings, names: &queue::QueueNames) -> Vec<Slots> {
    let slots = |queue: String, label, n: u16| Slots {
        queue,
        label,
        size: u32::from(n),
        free: Arc::new(Semaphore::new(n as usize)),
    };
    let mut all: Vec<Slots> = [
        (Phase::Channels, w.channels_concurrency),
        (Phase::RecentMessages, w.recent_concurrency),
        (Phase::AllMessages, w.concurrency),
    ]
    .into_iter()
    .map(|(phase, n)| slots(names.phase(phase), phase.as_str(), n.max(1)))
    .collect();
    if w.campaign_concurrency > 0 {
        all.push(slots(names.campaign(), "campaign", w.campaign_concurrency));
    }
    all
}

/// Consumes hops until `shutdown` flips; reconnects after broker trouble. In-flight hops are
/// finished before this returns.
pub async fn consume_until_stopped(ctx: Ctx, shutdown: watch::Receiver<bool>) {
    let slots = slots(&ctx.settings.worker, &ctx.publisher.broker().names);
    let mut signals = Signals {
        shutdown,
        paused: ctx.steering.paused(),
        alive: ctx.alive.clone(),
    };
    let mut reconnects = 0u32;
    while !*signals.shutdown.borrow() {
        if !signals.may_consume() {
            signals.changed().await;
            continue;
        }
        let (conn, channels, consumers) = match open(&ctx, &slots).await {
            Ok(s) => s,
            Err(e) => {
                reconnects += 1;
                let d = queue::RECONNECT.delay(reconnects);
                tracing::warn!(error = %e, "broker unavailable; retrying in {d:?}");
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = signals.shutdown.changed() => {}
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
        consume(&ctx, &slots, &mut deliveries, &mut signals).await;
        // the consumers are dropped only once cancelled: a consumer dropped first sends its own
        // cancel in the background, racing the connection's close
        stop_consuming(&ctx, &slots, conn, channels, &tags, deliveries).await;
    }
}

/// Deliveries of every phase's consumer, with the index of its slots.
type Deliveries = stream::SelectAll<
    futures::stream::BoxStream<'static, (usize, Result<lapin::message::Delivery, lapin::Error>)>,
>;

/// Hands each delivery to a task of its phase's slots until the worker stops, pauses, loses
/// its liveness, or the broker fails the stream.
async fn consume(ctx: &Ctx, slots: &[Slots], deliveries: &mut Deliveries, signals: &mut Signals) {
    loop {
        tokio::select! {
            _ = signals.shutdown.changed() => return,
            // paused, or no longer alive to the fleet: stop consuming; hops not yet taken
            // go back to their queues
            Ok(()) = signals.paused.changed() => if *signals.paused.borrow() { return },
            Ok(()) = signals.alive.changed() => if !*signals.alive.borrow() { return },
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
                    return;
                }
                None => return,
            },
        }
    }
}

/// Stops taking hops: the consumers cancelled first, so the broker sends no delivery to a
/// closing channel (lapin fails the whole connection on one; those it sent meanwhile are never
/// acked and go back to their queues); the hops in hand finish and ack on their channels; then
/// the connection closes whole (closing each channel first raced lapin's own bookkeeping: a
/// channel removed twice is a connection error to it).
async fn stop_consuming(
    ctx: &Ctx,
    slots: &[Slots],
    conn: Connection,
    channels: Vec<Channel>,
    tags: &[String],
    deliveries: Deliveries,
) {
    let t = ctx.publisher.broker().timeout;
    for (ch, tag) in channels.iter().zip(tags) {
        let cancel = ch.basic_cancel(tag.as_str().into(), BasicCancelOptions::default());
        let _ = queue::bounded(t, "cancel", cancel).await;
    }
    drop(deliveries);
    for s in slots {
        let _all = s.free.acquire_many(s.size).await.expect("open");
    }
    let _ = queue::bounded(t, "connection close", conn.close(200, "bye".into())).await;
    drop(channels);
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
        let tag = format!("{}-{}", ctx.worker_id, s.label);
        let consumer = ch
            .basic_consume(
                s.queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        channels.push(ch);
        consumers.push(consumer);
    }
    Ok((conn, channels, consumers))
}
