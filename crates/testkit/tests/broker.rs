//! The broker as operators run it: queue bounds that change without redeclaring queues
//! (RabbitMQ policies through the management API, which `scripts/services.sh` enables).

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};
use migrator_queue::{self as queue, policies, Broker, Publisher};
use migrator_runtime::settings::Settings;
use migrator_testkit::{EnvOptions, TestEnv};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Waits until the policy `<prefix>-dead` sets `message-ttl` to `days` and `max-length` to
/// `len`; returns its definition.
async fn dead_policy(s: &Settings, days: u64, len: u64) -> Value {
    let broker = Broker::from_settings(&s.amqp);
    let name = format!("{}-dead", s.amqp.prefix);
    let start = Instant::now();
    loop {
        let p = policies::read(&broker, &s.amqp.management_url, &name)
            .await
            .expect("the RabbitMQ management API answers (scripts/services.sh enables it)");
        let def = p.map(|p| p["definition"].clone()).unwrap_or_default();
        if def["message-ttl"] == days * 86_400_000 && def["max-length"] == len {
            return def;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "policy {name}: {def}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the broker says is in force on a queue (`rabbitmqctl list_queues`: the management
/// API's queue view of quorum queues lacks the policy).
fn effective(queue: &str) -> Value {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["list_queues", "-q", "--formatter", "json"])
        .args(["name", "policy", "arguments"])
        .output()
        .expect("rabbitmqctl");
    let all: Vec<Value> = serde_json::from_slice(&out.stdout).expect("rabbitmqctl json");
    all.into_iter()
        .find(|q| q["name"] == queue)
        .unwrap_or_else(|| panic!("queue {queue} listed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dead_letter_bounds_change_with_a_restart_and_no_redeclaration() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    let s = &env.settings;
    let def = dead_policy(s, 14, 100_000).await;
    assert_eq!(def["overflow"], "drop-head");
    let first = Publisher::new(Broker::from_settings(&s.amqp));
    first
        .publish_dead(b"{}")
        .await
        .expect("declared and routed");
    first.close().await;
    // an operator shortens the bounds and restarts: the start does not fail on the queue
    // declared before, and the policy in force on the live queue changes
    let mut changed = s.clone();
    changed.amqp.dead_ttl_days = 7;
    changed.amqp.dead_max_length = 10;
    let api = migrator_api::startup::start(changed.clone())
        .await
        .expect("a start with other dead-letter bounds");
    dead_policy(&changed, 7, 10).await;
    let again = Publisher::new(Broker::from_settings(&changed.amqp));
    again.publish_dead(b"{}").await.expect("declared again");
    again.close().await;
    let q = effective(&format!("{}.dead", s.amqp.prefix));
    assert_eq!(
        q["policy"],
        format!("{}-dead", s.amqp.prefix),
        "in force: {q}"
    );
    let args = q["arguments"].to_string();
    assert!(
        !args.contains("x-message-ttl") && !args.contains("x-max-length"),
        "{q}"
    );
    api.stop().await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_letter_queue_declared_with_its_bounds_as_arguments_is_left_as_it_is() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    // what earlier releases declared, before the bounds were a policy
    let old = format!("{}.dead", env.settings.amqp.prefix);
    let broker = Broker::from_settings(&env.settings.amqp);
    let conn = queue::connect(&broker).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.queue_delete(old.as_str().into(), Default::default())
        .await
        .unwrap();
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(5));
    args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(60_000));
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(old.as_str().into(), durable, args)
        .await
        .unwrap();
    let _ = conn.close(200, "bye".into()).await;
    drop(ch);
    let p = Publisher::new(broker);
    p.publish_dead(b"{}")
        .await
        .expect("an older queue does not stop a start");
    p.close().await;
    env.shutdown().await;
}

/// lapin runs a connection on the tokio runtime that opened it, and the api's publisher is
/// first used inside a request, on one actix worker's single-threaded runtime: its connection
/// must live on the process's runtime, not stop with that worker. Here the first publish runs
/// on a runtime that is then dropped; the same publisher then publishes again (a connection
/// left on the dropped runtime still looks open and never answers: that publish would wait out
/// the broker timeout and fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_first_used_on_a_runtime_that_stops_outlives_it() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |s| {
        s.amqp.timeout_ms = 3_000;
    })
    .await;
    let publisher = Publisher::new(Broker::from_settings(&env.settings.amqp));
    let first = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(publisher.publish_dead(b"{}"))
        })
        .join()
        .unwrap()
    });
    first.expect("published from the short-lived runtime");
    publisher
        .publish_dead(b"{}")
        .await
        .expect("published again: the connection did not stop with the first runtime");
    publisher.close().await;
    env.shutdown().await;
}

/// RabbitMQ accepting connections and never answering (out of file descriptors, say): fifty
/// concurrent `POST /migrate` are each answered without waiting on it, the api makes one
/// connection attempt at a time (not one per request), and every hop is published once the
/// broker answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_the_broker_hangs_migrate_answers_at_once_and_the_api_tries_one_connection() {
    use migrator_testkit::broker_proxy::{BrokerProxy, Mode};
    let proxy = BrokerProxy::start("127.0.0.1:5672", Mode::Hang).await;
    let timeout = Duration::from_secs(6);
    let mut env = TestEnv::start_with(EnvOptions::no_workers(), |s| {
        s.amqp.url = format!("amqp://guest:guest@{}/%2f", proxy.addr).into();
        s.amqp.timeout_ms = timeout.as_millis() as u64;
    })
    .await;
    let shoppers: Vec<String> = (0..50).map(|i| format!("hang{i}")).collect();
    for s in &shoppers {
        env.create_account(s, "Shop").await;
    }
    let started = Instant::now();
    let answers = futures::future::join_all(shoppers.iter().map(|s| async {
        let t = Instant::now();
        let (st, v) = env.post(s, "/migrate", None).await;
        (st, v, t.elapsed())
    }))
    .await;
    let mut waits: Vec<Duration> = answers.iter().map(|(_, _, w)| *w).collect();
    waits.sort();
    eprintln!(
        "50 POST /migrate while the broker hangs: p50 {:?}, max {:?}; attempts so far {}",
        waits[25],
        waits[49],
        proxy.accepted()
    );
    for (st, v, _) in &answers {
        assert_eq!(*st, reqwest::StatusCode::ACCEPTED, "{v}");
        assert_eq!(v["migration_status"], "migrating");
    }
    // none waited for the broker: all answered while the first connection attempt hung
    assert!(
        started.elapsed() < timeout / 2,
        "answers took {:?}, the broker's timeout is {timeout:?}",
        started.elapsed()
    );
    assert_eq!(proxy.max_open(), 1, "one connection attempt at a time");
    assert_eq!(proxy.accepted(), 1, "not one per request");
    // the broker answers again: the relay publishes every hop, a worker takes them
    proxy.set(Mode::Forward);
    env.start_worker();
    let start = Instant::now();
    loop {
        let (_, counts) = env.admin(reqwest::Method::GET, "/admin/counts", None).await;
        let migrating = counts["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["status"] == "migrating")
            .map_or(0, |c| c["count"].as_i64().unwrap());
        // the accounts have no data in Conversations: each migration completes at once
        if migrating == 0 && counts["outbox_backlog"] == 0 {
            break;
        }
        // sooner than the sweeper re-enqueues idle runs (stalled_after_secs)
        assert!(start.elapsed() < Duration::from_secs(14), "{counts}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, counts) = env.admin(reqwest::Method::GET, "/admin/counts", None).await;
    let completed = counts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == "completed")
        .map_or(0, |c| c["count"].as_i64().unwrap());
    assert_eq!(completed, 50, "every hop was published and run: {counts}");
    env.shutdown().await;
    proxy.stop();
}
