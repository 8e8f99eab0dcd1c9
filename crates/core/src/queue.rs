//! Queue messages and the RabbitMQ plumbing both sides share: names in one place, one publisher
//! (mandatory publishes, publisher confirms, bounded waits) and the declarations of the topology.
//!
//! Topology, every name under the configured prefix `<p>`:
//! - exchange `<p>.work` (topic) and one queue per phase, `<p>.channels`,
//!   `<p>.recent-messages`, `<p>.all-messages`, bound with `#.<phase>`; a hop is published
//!   with routing key `<phase>`. A queue per phase replaces priorities (which quorum queues of
//!   RabbitMQ 3.x lack): workers consume each with slots of its own.
//! - exchange `<p>.retry` (topic) and one queue per delay tier, `<p>.retry.<ms>`, bound
//!   `<ms>.*`, with a queue-level TTL and dead-lettering back to `<p>.work`: a delayed hop is
//!   published with key `<ms>.<phase>` and, when its tier's TTL expires, reaches its phase's
//!   queue. Every message of a tier has the same TTL, so none waits behind a longer one.
//! - `<p>.dead`: hops that were given up, bounded in length and age (each is also recorded in
//!   Postgres, where the admin API lists and replays it).
//!
//! Queues are quorum queues by default (`amqp.queue_type`), replicated across a cluster.

use crate::ids::{AccountId, HopId, RunId};
use crate::status::{Phase, ALL_PHASES};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::Mutex;

/// One unit of work: run `phase` of `run_id` for `account_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationHop {
    /// Unique per publication (logs, AMQP headers, dedup diagnostics).
    pub hop_id: HopId,
    /// The account.
    pub account_id: AccountId,
    /// The run this hop belongs to; hops of superseded runs are dropped.
    pub run_id: RunId,
    /// The phase to run.
    pub phase: Phase,
    /// Delivery attempt of this hop (1-based; a continuation starts again at 1).
    pub attempt: u32,
}

impl MigrationHop {
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

    /// The same attempt again, under a new id (a delay that was not the hop's fault).
    pub fn again(&self) -> Self {
        Self {
            hop_id: HopId::new(),
            ..self.clone()
        }
    }

    /// The next attempt of this hop, under a new id.
    pub fn retry(&self) -> Self {
        Self {
            hop_id: HopId::new(),
            attempt: self.attempt + 1,
            ..self.clone()
        }
    }
}

/// Delay tiers of redelivery, in milliseconds: a delay is rounded up to the next tier.
pub const RETRY_TIERS_MS: [u64; 6] = [1_000, 5_000, 30_000, 120_000, 600_000, 1_800_000];

/// The tier a delay waits in: the smallest tier at least as long, or the longest.
pub fn retry_tier(delay_ms: u64) -> u64 {
    RETRY_TIERS_MS
        .into_iter()
        .find(|t| *t >= delay_ms)
        .unwrap_or(RETRY_TIERS_MS[RETRY_TIERS_MS.len() - 1])
}

/// Exchange and queue names derived from the configured prefix.
#[derive(Debug, Clone)]
pub struct QueueNames {
    prefix: String,
    /// Exchange of hops to run now.
    pub work: String,
    /// Exchange of delayed hops.
    pub retry: String,
    /// Dead letters.
    pub dead: String,
}

impl QueueNames {
    /// Names under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            work: format!("{prefix}.work"),
            retry: format!("{prefix}.retry"),
            dead: format!("{prefix}.dead"),
        }
    }

    /// The work queue of a phase.
    pub fn phase(&self, p: Phase) -> String {
        format!("{}.{}", self.prefix, p.as_str())
    }

    /// The queue of a delay tier.
    pub fn tier(&self, ms: u64) -> String {
        format!("{}.retry.{ms}", self.prefix)
    }

    /// Every queue of the topology (tests delete them).
    pub fn all_queues(&self) -> Vec<String> {
        let mut q: Vec<String> = ALL_PHASES.iter().map(|p| self.phase(*p)).collect();
        q.extend(RETRY_TIERS_MS.iter().map(|t| self.tier(*t)));
        q.push(self.dead.clone());
        q
    }
}

/// The broker as the settings describe it.
#[derive(Debug, Clone)]
pub struct Broker {
    /// `amqp://…` (its password never shows in `Debug`).
    pub url: crate::settings::ConnUrl,
    /// Names.
    pub names: QueueNames,
    /// `quorum` or `classic`.
    pub queue_type: String,
    /// Connect and confirm timeout.
    pub timeout: Duration,
    /// Dead-letter queue bounds.
    pub dead_max_length: u32,
    /// Dead-letter queue message TTL.
    pub dead_ttl_days: u32,
}

impl Broker {
    /// From the settings.
    pub fn from_settings(a: &crate::settings::AmqpSettings) -> Self {
        Self {
            url: a.url.clone(),
            names: QueueNames::new(&a.prefix),
            queue_type: a.queue_type.clone(),
            timeout: Duration::from_millis(a.timeout_ms.max(1)),
            dead_max_length: a.dead_max_length,
            dead_ttl_days: a.dead_ttl_days,
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
    /// No queue took the message (mandatory publish returned).
    #[error("publish returned unroutable: {0}")]
    Unroutable(String),
    /// The broker did not answer in time.
    #[error("amqp: {0} timed out")]
    Timeout(&'static str),
}

/// Runs `f` within `limit`, or fails with a timeout naming `what`.
async fn bounded<T, E: Into<QueueError>>(
    limit: Duration,
    what: &'static str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(QueueError::Timeout(what)),
    }
}

/// Opens a connection with the tokio executor, within the broker's timeout.
pub async fn connect(b: &Broker) -> Result<Connection, QueueError> {
    let props = ConnectionProperties::default()
        .with_connection_name(LongString::from(format!("migrator-{}", std::process::id())));
    bounded(
        b.timeout,
        "connect",
        Connection::connect(b.url.as_str(), props),
    )
    .await
}

fn args(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

/// Declares the topology on `ch` (idempotent).
pub async fn declare_topology(ch: &Channel, b: &Broker) -> Result<(), QueueError> {
    let n = &b.names;
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let exchange = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let qtype = ("x-queue-type", text(&b.queue_type));
    for ex in [&n.work, &n.retry] {
        ch.exchange_declare(ex, ExchangeKind::Topic, exchange, FieldTable::default())
            .await?;
    }
    for p in ALL_PHASES {
        let q = n.phase(p);
        ch.queue_declare(&q, durable, args(std::slice::from_ref(&qtype)))
            .await?;
        let key = format!("#.{}", p.as_str());
        ch.queue_bind(
            &q,
            &n.work,
            &key,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    for ms in RETRY_TIERS_MS {
        let q = n.tier(ms);
        let tier_args = args(&[
            qtype.clone(),
            ("x-message-ttl", AMQPValue::LongLongInt(ms as i64)),
            ("x-dead-letter-exchange", text(&n.work)),
            // expired hops must reach their work queue: at-least-once dead-lettering, which
            // quorum queues allow only with publishes refused (never dropped) when full
            ("x-dead-letter-strategy", text("at-least-once")),
            ("x-overflow", text("reject-publish")),
        ]);
        ch.queue_declare(&q, durable, tier_args).await?;
        let key = format!("{ms}.*");
        ch.queue_bind(
            &q,
            &n.retry,
            &key,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    let ttl_ms = i64::from(b.dead_ttl_days) * 86_400_000;
    let dead_args = args(&[
        qtype,
        (
            "x-max-length",
            AMQPValue::LongLongInt(i64::from(b.dead_max_length)),
        ),
        ("x-overflow", text("drop-head")),
        ("x-message-ttl", AMQPValue::LongLongInt(ttl_ms)),
    ]);
    ch.queue_declare(&n.dead, durable, dead_args).await?;
    Ok(())
}

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
        bounded(t, "declare", declare_topology(&ch, &self.broker)).await?;
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

    /// True when a channel is open or can be opened now (readiness).
    pub async fn ping(&self) -> bool {
        self.channel().await.is_ok()
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
        let n = QueueNames::new("t1");
        assert_eq!(n.phase(Phase::AllMessages), "t1.all-messages");
        assert_eq!(n.tier(5000), "t1.retry.5000");
        assert_eq!(n.all_queues().len(), 3 + RETRY_TIERS_MS.len() + 1);
    }

    #[test]
    fn delays_round_up_to_a_tier() {
        assert_eq!(retry_tier(1), 1_000);
        assert_eq!(retry_tier(1_000), 1_000);
        assert_eq!(retry_tier(1_001), 5_000);
        assert_eq!(retry_tier(40_000), 120_000);
        assert_eq!(retry_tier(u64::MAX), 1_800_000);
    }
}
