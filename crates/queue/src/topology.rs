//! The declarations of the topology (see the module's top): exchanges, a queue per phase, a
//! queue per delay tier dead-lettering back to work, the dead-letter queue (bounded by a
//! policy). Only what must be a queue argument is one: the type, and each delay tier's TTL and
//! dead-lettering, fixed by the code.

use super::{Broker, QueueError, RETRY_TIERS_MS};
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ExchangeKind};
use migrator_core::status::ALL_PHASES;

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

/// Declares the topology on `ch` of `conn` (idempotent).
pub async fn declare_topology(
    conn: &Connection,
    ch: &Channel,
    b: &Broker,
) -> Result<(), QueueError> {
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
        ch.exchange_declare(
            ex.as_str().into(),
            ExchangeKind::Topic,
            exchange,
            FieldTable::default(),
        )
        .await?;
    }
    for p in ALL_PHASES {
        let q = n.phase(p);
        ch.queue_declare(
            q.as_str().into(),
            durable,
            args(std::slice::from_ref(&qtype)),
        )
        .await?;
        let key = format!("#.{}", p.as_str());
        ch.queue_bind(
            q.as_str().into(),
            n.work.as_str().into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    let campaign = n.campaign();
    ch.queue_declare(
        campaign.as_str().into(),
        durable,
        args(std::slice::from_ref(&qtype)),
    )
    .await?;
    ch.queue_bind(
        campaign.into(),
        n.work.as_str().into(),
        "#.campaign".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
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
        ch.queue_declare(q.as_str().into(), durable, tier_args)
            .await?;
        for key in [format!("{ms}.*"), format!("{ms}.*.campaign")] {
            ch.queue_bind(
                q.as_str().into(),
                n.retry.as_str().into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        }
    }
    declare_dead(conn, &n.dead, args(&[qtype])).await
}

/// The dead-letter queue, declared with its type alone (its bounds are a policy:
/// super::policies), on a channel of its own: a queue an earlier release declared with its
/// bounds as arguments refuses that declaration (`PRECONDITION_FAILED`, which closes the
/// channel) and is left as it is, its arguments in force until it is deleted.
async fn declare_dead(conn: &Connection, name: &str, args: FieldTable) -> Result<(), QueueError> {
    let ch = conn.create_channel().await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    match ch.queue_declare(name.into(), durable, args).await {
        Ok(_) => {
            let _ = ch.close(200, "declared".into()).await;
            Ok(())
        }
        Err(e) if matches!(e.kind(), lapin::ErrorKind::ProtocolError(p) if p.get_id() == 406) => {
            tracing::warn!(
                queue = name,
                "the dead-letter queue has its bounds as arguments (an earlier release): they \
                 stay in force, not amqp.dead_*; delete the queue once empty to use the policy"
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
