//! Queue messages and the RabbitMQ plumbing both sides share: names in one place, one publisher
//! (publisher confirms, reconnects on failure) and the declarations of the hop topology.
//!
//! Topology (default exchange, routing key = queue name):
//! - `<prefix>.hops`: durable work queue every worker consumes;
//! - `<prefix>.hops.retry`: delayed redelivery; a message waits its per-message TTL and is
//!   dead-lettered back into `<prefix>.hops`;
//! - `<prefix>.hops.dead`: hops that exhausted their attempts, kept for operators.

use crate::ids::{AccountId, HopId, RunId};
use crate::status::Phase;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// One unit of work: run `phase` of `run_id` for `account_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationHop {
    /// Unique per publication (logs, dedup diagnostics).
    pub hop_id: HopId,
    /// The account.
    pub account_id: AccountId,
    /// The run this hop belongs to; hops of superseded runs are dropped.
    pub run_id: RunId,
    /// The phase to run.
    pub phase: Phase,
    /// Delivery attempt of this phase (1-based).
    pub attempt: u32,
}

impl MigrationHop {
    /// Queue priority of the hop: channels first, then recent messages, then the rest.
    pub fn priority(&self) -> u8 {
        match self.phase {
            Phase::Channels => MAX_PRIORITY,
            Phase::RecentMessages => 5,
            Phase::AllMessages => 1,
        }
    }

    /// A first attempt.
    pub fn first(account_id: AccountId, run_id: RunId, phase: Phase) -> Self {
        Self {
            hop_id: HopId::new(),
            account_id,
            run_id,
            phase,
            attempt: 1,
        }
    }
}

/// Highest hop priority (the work queue's `x-max-priority`).
pub const MAX_PRIORITY: u8 = 9;

/// Queue names derived from the configured prefix.
#[derive(Debug, Clone)]
pub struct QueueNames {
    /// Work queue.
    pub hops: String,
    /// Delay queue.
    pub retry: String,
    /// Dead letters.
    pub dead: String,
}

impl QueueNames {
    /// Names under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            hops: format!("{prefix}.hops"),
            retry: format!("{prefix}.hops.retry"),
            dead: format!("{prefix}.hops.dead"),
        }
    }
}

/// Broker trouble.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Connection, channel or publish failed.
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    /// The broker did not confirm a publish.
    #[error("publish not confirmed by the broker")]
    Nacked,
}

/// Opens a connection with the tokio executor.
pub async fn connect(url: &str) -> Result<Connection, QueueError> {
    let props = ConnectionProperties::default()
        .with_connection_name(LongString::from(format!("migrator-{}", std::process::id())));
    Ok(Connection::connect(url, props).await?)
}

/// Declares the hop topology on `ch` (idempotent).
pub async fn declare_topology(ch: &Channel, names: &QueueNames) -> Result<(), QueueError> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    // channels hops jump the queue: a C1 opening the app waits for its inbox, not for the
    // all-messages hops of earlier C1s
    let mut hops_args = FieldTable::default();
    hops_args.insert(
        "x-max-priority".into(),
        AMQPValue::ShortShortUInt(MAX_PRIORITY),
    );
    ch.queue_declare(&names.hops, durable, hops_args).await?;
    ch.queue_declare(&names.dead, durable, FieldTable::default())
        .await?;
    let mut retry_args = FieldTable::default();
    retry_args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    retry_args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(names.hops.clone().into()),
    );
    ch.queue_declare(&names.retry, durable, retry_args).await?;
    Ok(())
}

/// Publishes hops with publisher confirms; reconnects lazily after any failure.
pub struct Publisher {
    url: String,
    names: QueueNames,
    state: Mutex<Option<(Connection, Channel)>>,
}

impl Publisher {
    /// A publisher that connects on first use.
    pub fn new(url: &str, names: QueueNames) -> Self {
        Self {
            url: url.to_string(),
            names,
            state: Mutex::new(None),
        }
    }

    /// The queue names in use.
    pub fn names(&self) -> &QueueNames {
        &self.names
    }

    /// Publishes `hop` to the work queue, or to the delay queue when `delay_ms` > 0.
    pub async fn publish_hop(&self, hop: &MigrationHop, delay_ms: u64) -> Result<(), QueueError> {
        let body = serde_json::to_vec(hop).expect("hop serialises");
        let (queue, expiration) = if delay_ms > 0 {
            (self.names.retry.clone(), Some(delay_ms))
        } else {
            (self.names.hops.clone(), None)
        };
        self.send(&queue, &body, expiration, hop.priority()).await
    }

    /// Publishes raw bytes to `queue` and waits for the broker's confirm.
    pub async fn publish(
        &self,
        queue: &str,
        body: &[u8],
        expiration_ms: Option<u64>,
    ) -> Result<(), QueueError> {
        self.send(queue, body, expiration_ms, 0).await
    }

    async fn send(
        &self,
        queue: &str,
        body: &[u8],
        expiration_ms: Option<u64>,
        priority: u8,
    ) -> Result<(), QueueError> {
        let mut guard = self.state.lock().await;
        if guard
            .as_ref()
            .map(|(c, ch)| !c.status().connected() || !ch.status().connected())
            .unwrap_or(true)
        {
            let conn = connect(&self.url).await?;
            let ch = conn.create_channel().await?;
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
            declare_topology(&ch, &self.names).await?;
            *guard = Some((conn, ch));
        }
        // publish under the lock (ordering), wait for the confirm outside it, so concurrent
        // hops do not queue behind each other's broker round trip
        let ch = guard.as_ref().expect("connected above").1.clone();
        let mut props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_priority(priority);
        if let Some(ms) = expiration_ms {
            props = props.with_expiration(ms.to_string().into());
        }
        let pending = ch
            .basic_publish("", queue, BasicPublishOptions::default(), body, props)
            .await;
        let pending = match pending {
            Ok(p) => p,
            Err(e) => {
                *guard = None;
                return Err(e.into());
            }
        };
        drop(guard);
        match pending.await {
            Ok(confirm) if confirm.is_nack() => Err(QueueError::Nacked),
            Ok(_) => Ok(()),
            Err(e) => {
                // the channel is gone; the next publish reconnects
                self.state.lock().await.take();
                Err(e.into())
            }
        }
    }

    /// True when a connection is open (readiness).
    pub async fn ping(&self) -> bool {
        let mut guard = self.state.lock().await;
        if let Some((c, ch)) = guard.as_ref() {
            if c.status().connected() && ch.status().connected() {
                return true;
            }
        }
        match connect(&self.url).await {
            Ok(conn) => match conn.create_channel().await {
                Ok(ch) => {
                    if ch
                        .confirm_select(ConfirmSelectOptions::default())
                        .await
                        .is_ok()
                        && declare_topology(&ch, &self.names).await.is_ok()
                    {
                        *guard = Some((conn, ch));
                        return true;
                    }
                    false
                }
                Err(_) => false,
            },
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn hop_wire_format_is_stable() {
        let hop = MigrationHop {
            hop_id: HopId(Uuid::nil()),
            account_id: AccountId(Uuid::nil()),
            run_id: RunId(Uuid::nil()),
            phase: Phase::RecentMessages,
            attempt: 2,
        };
        let v = serde_json::to_value(&hop).unwrap();
        assert_eq!(v["phase"], "recent-messages");
        assert_eq!(serde_json::from_value::<MigrationHop>(v).unwrap(), hop);
        assert_eq!(QueueNames::new("t1").retry, "t1.hops.retry");
    }
}
