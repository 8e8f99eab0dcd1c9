//! The declarations of the topology (see the module's top): exchanges, a queue per phase, a
//! queue per delay tier dead-lettering back to work, the bounded dead-letter queue.

use super::{Broker, QueueError, RETRY_TIERS_MS};
use crate::status::ALL_PHASES;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};

fn args(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

pub(super) fn text(s: &str) -> AMQPValue {
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
