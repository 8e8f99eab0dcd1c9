//! The one publisher of hops: publisher confirms, `mandatory` (an unroutable message is an
//! error, never confirmed and lost), bounded waits, lazy reconnects.

use super::topology::{declare_topology, text};
use super::{bounded, connect, retry_tier, Broker, MigrationHop, QueueError, QueueNames};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::Mutex;

/// Publishes with publisher confirms and `mandatory` (an unroutable message is an error, never
/// confirmed and lost); reconnects lazily after any failure, never holding a lock across a
/// connect or a confirm.
pub struct Publisher {
    broker: Broker,
    state: Mutex<Option<(Connection, Channel)>>,
}

impl Publisher {
    /// A publisher that connects on first use.
    pub fn new(broker: Broker) -> Self {
        Self {
            broker,
            state: Mutex::new(None),
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

    /// Publishes `hop` to its phase's queue, or through the delay tier of `delay_ms` when > 0.
    pub async fn publish_hop(&self, hop: &MigrationHop, delay_ms: u64) -> Result<(), QueueError> {
        let body = serde_json::to_vec(hop).expect("hop serialises");
        let n = &self.broker.names;
        let (exchange, key) = if delay_ms > 0 {
            let tier = retry_tier(delay_ms);
            (n.retry.as_str(), format!("{tier}.{}", hop.phase.as_str()))
        } else {
            (n.work.as_str(), hop.phase.as_str().to_string())
        };
        let mut headers = FieldTable::default();
        headers.insert("hop_id".into(), text(&hop.hop_id.to_string()));
        self.send(exchange, &key, &body, headers).await
    }

    /// Publishes a given-up hop (or an undecodable body) to the dead-letter queue.
    pub async fn publish_dead(&self, body: &[u8]) -> Result<(), QueueError> {
        let dead = self.broker.names.dead.clone();
        self.send("", &dead, body, FieldTable::default()).await
    }

    /// The open channel, or a new one; the connect happens outside the lock.
    async fn channel(&self) -> Result<Channel, QueueError> {
        if let Some((c, ch)) = self.state.lock().await.as_ref() {
            if c.status().connected() && ch.status().connected() {
                return Ok(ch.clone());
            }
        }
        let conn = connect(&self.broker).await?;
        let ch = match self.open_channel(&conn).await {
            Ok(ch) => ch,
            Err(e) => {
                let _ = conn.close(200, "setup failed").await;
                return Err(e);
            }
        };
        let mut state = self.state.lock().await;
        match state.as_ref() {
            // another task connected meanwhile: use its channel, close ours
            Some((c, other)) if c.status().connected() && other.status().connected() => {
                let other = other.clone();
                drop(state);
                let _ = conn.close(200, "duplicate").await;
                Ok(other)
            }
            _ => {
                *state = Some((conn, ch.clone()));
                Ok(ch)
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

    /// Forgets `ch` if it is still the current channel (the next publish reconnects).
    async fn forget(&self, ch: &Channel) {
        let mut state = self.state.lock().await;
        if state.as_ref().is_some_and(|(_, c)| c.id() == ch.id()) {
            *state = None;
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
            let pending = ch.basic_publish(exchange, key, opts, body, props).await?;
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
                self.forget(&ch).await;
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
            let _ = bounded(t, "connection close", conn.close(200, "bye")).await;
            drop(ch);
        }
    }

    /// True when a channel is open or can be opened now (readiness).
    pub async fn ping(&self) -> bool {
        self.channel().await.is_ok()
    }
}
