//! RabbitMQ, as both sides use it: names in one place, one publisher (mandatory publishes,
//! publisher confirms, bounded waits, one connection attempt at a time), the declarations of
//! the topology and its policies, and the outbox relay. The message itself is
//! `migrator_core::hop::MigrationHop`.
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
//! - `<p>.campaign`: every phase's hops of campaign runs (the program's backstop), published
//!   with key `<phase>.campaign` (`<ms>.<phase>.campaign` when delayed; each tier is also bound
//!   `<ms>.*.campaign`) and bound `#.campaign`: workers take them with a few slots of their own,
//!   so a campaign never queues ahead of a C1 who opened the app.
//! - `<p>.dead`: hops that were given up, bounded in length and age by a policy ([`policies`];
//!   each is also recorded in Postgres, where the admin API lists and replays it).
//!
//! Queues are quorum queues by default (`amqp.queue_type`), replicated across a cluster.

pub mod policies;
mod publisher;
pub mod relay;
mod topology;

pub use publisher::{Publisher, RECONNECT};
pub use topology::declare_topology;

use lapin::types::LongString;
use lapin::{Connection, ConnectionProperties};
pub use migrator_core::hop::MigrationHop;
use migrator_core::status::{Phase, ALL_PHASES};
use std::time::Duration;

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
    /// The configured prefix (`amqp.prefix`).
    pub prefix: String,
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

    /// The campaigns' queue (every phase).
    pub fn campaign(&self) -> String {
        format!("{}.campaign", self.prefix)
    }

    /// The routing key of `hop` (without a delay tier). A catch-up shares the all-messages
    /// queue and its slots: it copies history, behind every C1 waiting for an inbox.
    pub fn key(hop: &MigrationHop) -> String {
        let phase = match hop.phase {
            Phase::CatchUp => Phase::AllMessages,
            p => p,
        };
        match hop.lane {
            migrator_core::hop::Lane::App => phase.as_str().to_string(),
            migrator_core::hop::Lane::Campaign => format!("{}.campaign", phase.as_str()),
        }
    }

    /// The queue of a delay tier.
    pub fn tier(&self, ms: u64) -> String {
        format!("{}.retry.{ms}", self.prefix)
    }

    /// Every queue of the topology (tests delete them).
    pub fn all_queues(&self) -> Vec<String> {
        let mut q: Vec<String> = ALL_PHASES.iter().map(|p| self.phase(*p)).collect();
        q.push(self.campaign());
        q.extend(RETRY_TIERS_MS.iter().map(|t| self.tier(*t)));
        q.push(self.dead.clone());
        q
    }
}

/// The broker as the settings describe it.
#[derive(Debug, Clone)]
pub struct Broker {
    /// `amqp://…` (its password never shows in `Debug`).
    pub url: migrator_runtime::settings::ConnUrl,
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
    pub fn from_settings(a: &migrator_runtime::settings::AmqpSettings) -> Self {
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
    /// The broker is known to be down: no connection is attempted before the circuit's wait.
    #[error("amqp: {0}")]
    Unavailable(String),
    /// A policy could not be applied through the management API.
    #[error("rabbitmq policy: {0}")]
    Policy(String),
}

/// Runs `f` within `limit`, or fails with a timeout naming `what`.
pub async fn bounded<T, E: Into<QueueError>>(
    limit: Duration,
    what: &'static str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(QueueError::Timeout(what)),
    }
}

/// Opens a connection within the broker's timeout, on the tokio runtime the caller runs on:
/// lapin runs a connection's reader, writer and heartbeats on the runtime that opened it.
pub async fn connect(b: &Broker) -> Result<Connection, QueueError> {
    bounded(
        b.timeout,
        "connect",
        Connection::connect(b.url.as_str(), props()),
    )
    .await
}

/// [`connect`], but the connection lives on `rt` whoever asks: the api's publisher is first
/// used from inside a request, on one actix worker's single-threaded runtime, and a connection
/// opened there would carry every publish through that thread and die with that worker. The
/// attempt is aborted when the timeout ends it.
pub async fn connect_on(b: &Broker, rt: &tokio::runtime::Handle) -> Result<Connection, QueueError> {
    struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);
    impl<T> Drop for AbortOnDrop<T> {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let url = b.url.as_str().to_owned();
    let mut task = AbortOnDrop(rt.spawn(async move { Connection::connect(&url, props()).await }));
    let opened = async move {
        match (&mut task.0).await {
            Ok(r) => r.map_err(QueueError::from),
            Err(e) => Err(QueueError::Unavailable(format!("connection task: {e}"))),
        }
    };
    bounded(b.timeout, "connect", opened).await
}

fn props() -> ConnectionProperties {
    ConnectionProperties::default()
        .with_connection_name(LongString::from(format!("migrator-{}", std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_under_the_prefix() {
        let n = QueueNames::new("t1");
        assert_eq!(n.phase(Phase::AllMessages), "t1.all-messages");
        assert_eq!(n.tier(5000), "t1.retry.5000");
        assert_eq!(n.campaign(), "t1.campaign");
        // the phase queues, the campaigns', the tiers, the dead letters
        assert_eq!(n.all_queues().len(), 3 + 1 + RETRY_TIERS_MS.len() + 1);
    }

    #[test]
    fn a_campaign_hop_is_routed_apart_from_the_app_s() {
        use migrator_core::hop::Lane;
        let hop = MigrationHop::first(Default::default(), Default::default(), Phase::Channels);
        assert_eq!(QueueNames::key(&hop), "channels");
        // bound `#.campaign`, and matched by no phase queue's `#.<phase>`
        assert_eq!(
            QueueNames::key(&hop.on(Lane::Campaign)),
            "channels.campaign"
        );
    }

    #[test]
    fn a_catch_up_goes_to_the_all_messages_queue() {
        use migrator_core::hop::Lane;
        let hop = MigrationHop::first(Default::default(), Default::default(), Phase::CatchUp);
        assert_eq!(QueueNames::key(&hop), "all-messages");
        assert_eq!(
            QueueNames::key(&hop.on(Lane::Campaign)),
            "all-messages.campaign"
        );
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
