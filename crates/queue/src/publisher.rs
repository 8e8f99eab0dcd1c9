//! The one publisher of hops: publisher confirms, `mandatory` (an unroutable message is an
//! error, never confirmed and lost), bounded waits, lazy reconnects — one connection attempt at
//! a time per process, and none at all while the broker is known to be down.
//!
//! A broker in trouble must not get a connection storm from us, nor hold our callers: every
//! caller that finds no open channel queues behind one connection attempt (single-flight), and
//! a failed attempt opens a circuit for a growing, jittered wait (0.5 s doubling to 30 s) during
//! which every publish fails at once with [`QueueError::Unavailable`]; the first call after it
//! tries once more (half-open). What was not published stays in the outbox for the relay.

use super::topology::{declare_topology, text};
use super::{
    bounded, connect, connect_on, retry_tier, Broker, MigrationHop, QueueError, QueueNames,
};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use migrator_core::retry::Backoff;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Mutex;

/// The waits between connection attempts to a broker that is down (the publisher's circuit,
/// the consumer's reconnects): 0.5 s doubling to 30 s, jittered.
pub const RECONNECT: Backoff = Backoff {
    base_ms: 500,
    max_ms: 30_000,
    retries: 0,
};

/// Whether the broker is known to be down: failed attempts in a row, and when the next may be
/// made.
#[derive(Debug, Default)]
struct Circuit {
    failures: u32,
    retry_at: Option<Instant>,
}

impl Circuit {
    /// `Err` while open.
    fn check(&self) -> Result<(), QueueError> {
        match self.retry_at {
            Some(at) if Instant::now() < at => Err(QueueError::Unavailable(format!(
                "the broker is down ({} failed connection attempts); the next in {:?}",
                self.failures,
                at - Instant::now()
            ))),
            _ => Ok(()),
        }
    }

    /// A failed attempt: open for longer each time.
    fn open(&mut self, why: &QueueError) {
        self.failures = self.failures.saturating_add(1);
        let wait = RECONNECT.delay(self.failures);
        if self.failures == 1 {
            tracing::warn!(error = %why, "broker unreachable: publishes wait in the outbox; next attempt in {wait:?}");
        }
        self.retry_at = Some(Instant::now() + wait);
    }

    fn close(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "broker reachable again");
        }
        *self = Circuit::default();
    }
}

/// Publishes with publisher confirms and `mandatory` (an unroutable message is an error, never
/// confirmed and lost); reconnects lazily after any failure (see the module's top), never
/// holding the channel's lock across a connect or a confirm.
pub struct Publisher {
    broker: Broker,
    state: Mutex<Option<(Arc<Connection>, Channel)>>,
    /// Held across a connection attempt: one at a time.
    connecting: Mutex<()>,
    circuit: std::sync::Mutex<Circuit>,
    /// The runtime its connections live on: the one it was made on (super::connect_on).
    runtime: Option<tokio::runtime::Handle>,
}

impl Publisher {
    /// A publisher that connects on first use; its connections live on the tokio runtime this
    /// is called on (make it on the process's main runtime), or on the caller's when none.
    pub fn new(broker: Broker) -> Self {
        Self {
            broker,
            state: Mutex::new(None),
            connecting: Mutex::new(()),
            circuit: std::sync::Mutex::new(Circuit::default()),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// The queue names in use.
    pub fn names(&self) -> &QueueNames {
        &self.broker.names
    }

    /// The broker.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Publishes `hop` to its phase's queue (a campaign's to the campaign queue), or through the delay tier of `delay_ms` when > 0.
    pub async fn publish_hop(&self, hop: &MigrationHop, delay_ms: u64) -> Result<(), QueueError> {
        let body = serde_json::to_vec(hop).expect("hop serialises");
        let n = &self.broker.names;
        let (exchange, key) = if delay_ms > 0 {
            let tier = retry_tier(delay_ms);
            (n.retry.as_str(), format!("{tier}.{}", QueueNames::key(hop)))
        } else {
            (n.work.as_str(), QueueNames::key(hop))
        };
        let mut headers = FieldTable::default();
        headers.insert("hop_id".into(), text(&hop.hop_id.to_string()));
        if let Some(tp) = &hop.traceparent {
            headers.insert("traceparent".into(), text(tp));
        }
        self.send(exchange, &key, &body, headers).await
    }

    /// Publishes a given-up hop (or an undecodable body) to the dead-letter queue.
    pub async fn publish_dead(&self, body: &[u8]) -> Result<(), QueueError> {
        let dead = self.broker.names.dead.clone();
        self.send("", &dead, body, FieldTable::default()).await
    }

    /// The open channel, if there is one.
    async fn current(&self) -> Option<Channel> {
        let state = self.state.lock().await;
        let (c, ch) = state.as_ref()?;
        (c.status().connected() && ch.status().connected()).then(|| ch.clone())
    }

    fn circuit(&self) -> std::sync::MutexGuard<'_, Circuit> {
        self.circuit.lock().expect("circuit lock")
    }

    /// The open channel, or a new one: one connection attempt at a time, none while the
    /// circuit is open.
    async fn channel(&self) -> Result<Channel, QueueError> {
        if let Some(ch) = self.current().await {
            return Ok(ch);
        }
        self.circuit().check()?;
        let _one = self.connecting.lock().await;
        // whoever held the attempt before us may have connected, or failed
        if let Some(ch) = self.current().await {
            return Ok(ch);
        }
        self.circuit().check()?;
        match self.connect_new().await {
            Ok((conn, ch)) => {
                self.circuit().close();
                *self.state.lock().await = Some((Arc::new(conn), ch.clone()));
                Ok(ch)
            }
            Err(e) => {
                self.circuit().open(&e);
                Err(e)
            }
        }
    }

    /// A new connection with its confirming channel.
    async fn connect_new(&self) -> Result<(Connection, Channel), QueueError> {
        let conn = match &self.runtime {
            Some(rt) => connect_on(&self.broker, rt).await?,
            None => connect(&self.broker).await?,
        };
        match self.open_channel(&conn).await {
            Ok(ch) => Ok((conn, ch)),
            Err(e) => {
                let _ = bounded(
                    self.broker.timeout,
                    "close",
                    conn.close(200, "setup failed".into()),
                )
                .await;
                Err(e)
            }
        }
    }

    /// A confirming channel with the topology declared.
    async fn open_channel(&self, conn: &Connection) -> Result<Channel, QueueError> {
        let t = self.broker.timeout;
        let ch = bounded(t, "channel", conn.create_channel()).await?;
        let confirms = ch.confirm_select(ConfirmSelectOptions::default());
        bounded(t, "confirm_select", confirms).await?;
        bounded(t, "declare", declare_topology(conn, &ch, &self.broker)).await?;
        Ok(ch)
    }

    /// Forgets `ch` after it failed, if it is still the current channel: the circuit opens,
    /// and a later publish reconnects.
    async fn forget(&self, ch: &Channel, why: &QueueError) {
        let mut state = self.state.lock().await;
        if state.as_ref().is_some_and(|(_, c)| c.id() == ch.id()) {
            *state = None;
            self.circuit().open(why);
        }
    }

    async fn send(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        headers: FieldTable,
    ) -> Result<(), QueueError> {
        let ch = self.channel().await?;
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_headers(headers);
        let opts = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let limit = self.broker.timeout;
        let sent = async {
            let pending = ch
                .basic_publish(exchange.into(), key.into(), opts, body, props)
                .await?;
            pending.await
        };
        match bounded(limit, "publish confirm", sent).await {
            Ok(Confirmation::Ack(Some(returned))) | Ok(Confirmation::Nack(Some(returned))) => {
                Err(QueueError::Unroutable(format!(
                    "{} {} (exchange {exchange:?}, key {key:?})",
                    returned.reply_code, returned.reply_text
                )))
            }
            Ok(Confirmation::Nack(None)) => Err(QueueError::Nacked),
            Ok(_) => Ok(()),
            Err(e) => {
                self.forget(&ch, &e).await;
                Err(e)
            }
        }
    }

    /// Closes the channel and its connection (at shutdown: the broker sees a clean close, not
    /// a dropped socket); a later publish would connect again.
    pub async fn close(&self) {
        let open = self.state.lock().await.take();
        if let Some((conn, ch)) = open {
            // the connection's close closes the channel (kept until then: a channel handle
            // dropped while open closes itself in the background, racing the connection)
            let t = self.broker.timeout;
            let _ = bounded(t, "connection close", conn.close(200, "bye".into())).await;
            drop(ch);
        }
    }

    /// True when a channel is open or can be opened now (readiness).
    pub async fn ping(&self) -> bool {
        self.channel().await.is_ok()
    }

    /// Messages ready and consumers of each of `queues`, read by passive declares on a
    /// channel of their own (a missing queue closes that channel, not the publisher's): in
    /// order, `None` for a queue not read. Each read within the broker's timeout; fails when
    /// the broker cannot be reached.
    pub async fn depths(&self, queues: &[String]) -> Result<Vec<Option<(u32, u32)>>, QueueError> {
        self.channel().await?;
        let t = self.broker.timeout;
        // the lock is held to clone the connection only, never across a call to the broker
        let conn = match self.state.lock().await.as_ref() {
            Some((c, _)) => c.clone(),
            None => return Err(QueueError::Timeout("broker connection")),
        };
        let mut ch = bounded(t, "channel open", conn.create_channel()).await?;
        let mut out = Vec::with_capacity(queues.len());
        for q in queues {
            let passive = lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            let declared = bounded(
                t,
                "queue depth",
                ch.queue_declare(q.as_str().into(), passive, FieldTable::default()),
            )
            .await;
            match declared {
                Ok(d) => out.push(Some((d.message_count(), d.consumer_count()))),
                Err(_) => {
                    // a queue not declared (404) closed the channel: the next on a fresh one
                    out.push(None);
                    if !ch.status().connected() {
                        ch = bounded(t, "channel open", conn.create_channel()).await?;
                    }
                }
            }
        }
        if ch.status().connected() {
            let _ = bounded(t, "channel close", ch.close(200, "depths read".into())).await;
        }
        Ok(out)
    }
}
