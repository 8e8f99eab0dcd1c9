//! Liveness and fairness: bounded hops and their continuations, a new C1's inbox while every
//! message slot is busy, a half-open partition to DynamoDB, delay tiers, parked runs, and
//! attachments retried after transient failures. All against the real services.

use conversations_sim::model::{generate, C1Spec, GenOptions};
use conversations_sim::server::Faults;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use migrator_core::status::Phase;
use migrator_queue::{self as queue, MigrationHop, Publisher};
use migrator_runtime::settings::Settings;
use migrator_testkit::dynamo_proxy::ProxyFaults;
use migrator_testkit::{verify, EnvOptions, TestEnv};
use reqwest::Method;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

fn spec(shopper: &str, threads: usize, messages: usize, seed: u64) -> C1Spec {
    generate(
        shopper,
        &GenOptions::new(threads, messages, seed).attachments(9, 1),
    )
}

async fn proxied(tweak: impl FnOnce(&mut Settings)) -> TestEnv {
    let opts = EnvOptions {
        dynamo_proxy: true,
        ..Default::default()
    };
    TestEnv::start_with(opts, tweak).await
}

/// Hops of `phase` the run's outbox recorded (first hops, continuations, retries excluded).
async fn recorded_hops(env: &TestEnv, phase: Phase) -> usize {
    use migrator_store::schema::outbox;
    let rows: Vec<serde_json::Value> = outbox::table
        .select(outbox::payload)
        .load(&mut env.db().await)
        .await
        .unwrap();
    rows.iter().filter(|p| p["phase"] == phase.as_str()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_phase_in_one_page_hops_moves_the_c1_exactly() {
    // every committed page ends the hop: the whole migration is a chain of continuations
    let env = TestEnv::start_with(EnvOptions::default(), |s| {
        s.worker.max_hop_pages = 1;
        s.worker.recent_max_threads = 5;
    })
    .await;
    let mut s = spec("slices", 30, 20, 21);
    // long threads (several message pages) are cut mid-thread too
    for t in s.threads.iter_mut().take(3) {
        let more = generate("x", &GenOptions::new(1, 130, 7)).threads[0]
            .messages
            .clone();
        for (i, mut m) in more.into_iter().enumerate() {
            m.message_id = format!("{}-long-{i}", t.thread_id);
            t.messages.push(m);
        }
    }
    env.add_c1(&s).await;
    env.post("slices", "/migrate", None).await;
    env.wait_status("slices", "completed", T).await;
    verify::destination_equals_source(&env, &s, |_| false).await;
    let hops = recorded_hops(&env, Phase::AllMessages).await;
    assert!(hops > 10, "the all-messages phase ran as many hops: {hops}");
    let v = env.admin_view("slices").await;
    let expected: usize = s.threads.iter().map(|t| t.messages.len()).sum();
    assert_eq!(v["run"]["figures"]["messages_migrated"], expected as i64);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_c1_gets_its_inbox_while_every_message_slot_is_busy() {
    let env = proxied(|s| {
        s.worker.concurrency = 2;
        s.worker.channels_concurrency = 1;
        s.worker.max_hop_secs = 600; // the big C1s hold their slots for the whole test
        s.worker.recent_max_threads = 0;
    })
    .await;
    let big: Vec<C1Spec> = (0..2)
        .map(|i| spec(&format!("big{i}"), 120, 5, i))
        .collect();
    for s in &big {
        env.add_c1(s).await;
    }
    // a slow source: every DynamoDB request of the big C1s takes a second
    env.proxy.as_ref().unwrap().set(ProxyFaults {
        delay_ms: 1000,
        ..Default::default()
    });
    for s in &big {
        env.post(&s.shopper_id, "/migrate", None).await;
        env.wait_status(&s.shopper_id, "recent-messages-migrated", T)
            .await;
    }
    let small = spec("newcomer", 3, 2, 9);
    env.add_c1(&small).await;
    let start = Instant::now();
    env.post("newcomer", "/migrate", None).await;
    // the inbox is ready from channels-migrated on (the recent phase may follow at once)
    loop {
        let (_, v) = env.get("newcomer", "/check-migration-status").await;
        if v["migration_status"] != "migrating" {
            assert!(
                ["channels-migrated", "recent-messages-migrated"]
                    .contains(&v["migration_status"].as_str().unwrap()),
                "{v}"
            );
            break;
        }
        assert!(start.elapsed() < T, "no inbox: {v}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let inbox = start.elapsed();
    // both all-messages slots were still held by the big C1s when the inbox opened
    for s in &big {
        let v = env.admin_view(&s.shopper_id).await;
        assert_eq!(v["migration_status"], "recent-messages-migrated", "{v}");
        assert!(v["run"]["lease_owner"].is_string(), "{v}");
    }
    eprintln!("newcomer's inbox opened {inbox:?} after POST /migrate with every message slot busy");
    env.proxy.as_ref().unwrap().set(ProxyFaults::default());
    for s in big.iter().chain([&small]) {
        env.wait_status(&s.shopper_id, "completed", T).await;
        verify::destination_equals_source(&env, s, |_| false).await;
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_half_open_partition_to_dynamodb_loses_the_lease_and_recovers() {
    let env = proxied(|s| {
        // the SDK would wait for ever: only the hop's own watchdog can end a hung call
        s.dynamodb.attempt_timeout_ms = 600_000;
        s.dynamodb.operation_timeout_ms = 600_000;
        s.worker.max_hop_secs = 2;
        s.worker.lease_secs = 3;
        s.worker.max_hop_attempts = 8;
        s.worker.recent_max_threads = 0;
    })
    .await;
    let s = spec("partition", 40, 30, 3);
    env.add_c1(&s).await;
    let proxy = env.proxy.as_ref().unwrap();
    env.post("partition", "/migrate", None).await;
    env.wait_status("partition", "recent-messages-migrated", T)
        .await;
    // every request for the next 8 s hangs for ever; later ones are answered
    proxy.set(ProxyFaults {
        hang_until: Some(Instant::now() + Duration::from_secs(8)),
        ..Default::default()
    });
    env.wait_status("partition", "completed", T).await;
    assert!(proxy.hung() > 0, "requests were left hanging");
    let v = env.admin_view("partition").await;
    assert!(
        v["run"]["total_attempts"].as_i64().unwrap() >= 1,
        "a hop was cut off and retried: {v}"
    );
    verify::destination_equals_source(&env, &s, |_| false).await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_retry_does_not_wait_behind_a_long_one() {
    // no worker: the test consumes the phase queue itself
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    let broker = queue::Broker::from_settings(&env.settings.amqp);
    let publisher = Publisher::new(broker.clone());
    let hop = |attempt| MigrationHop {
        attempt,
        ..MigrationHop::first(Default::default(), Default::default(), Phase::AllMessages)
    };
    let (long, short) = (hop(7), hop(2));
    publisher.publish_hop(&long, 30_000).await.unwrap();
    publisher.publish_hop(&short, 1_000).await.unwrap();
    let conn = queue::connect(&broker).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let mut consumer = ch
        .basic_consume(
            broker.names.phase(Phase::AllMessages).into(),
            "test".into(),
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(25), consumer.next())
        .await
        .expect("the 1 s retry arrives long before the 30 s one")
        .unwrap()
        .unwrap();
    let got: MigrationHop = serde_json::from_slice(&first.data).unwrap();
    assert_eq!(got, short, "the short retry came first");
    let _ = conn.close(200, "bye".into()).await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_that_keeps_failing_is_parked_until_an_operator_unparks_it() {
    let env = proxied(|s| {
        s.worker.max_total_attempts = 4;
        s.worker.max_hop_attempts = 2;
        s.worker.repair_interval_secs = 1;
        s.worker.recent_max_threads = 0;
        s.worker.outbox_retention_secs = 1;
    })
    .await;
    let s = spec("parkme", 6, 4, 5);
    env.add_c1(&s).await;
    let proxy = env.proxy.as_ref().unwrap();
    // every messages query fails: the all-messages phase cannot finish
    proxy.set(ProxyFaults {
        fail_when_body_has: Some(vec![env.settings.dynamodb.messages_table.clone()]),
        ..Default::default()
    });
    env.post("parkme", "/migrate", None).await;
    let start = Instant::now();
    let parked = loop {
        let v = env.admin_view("parkme").await;
        if v["run"]["parked_at"].is_string() {
            break v;
        }
        assert!(start.elapsed() < T, "never parked: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(parked["migration_status"], "messages-failure");
    assert_eq!(parked["app_migration_status"], "completed");
    let error = parked["run"]["last_error"].as_str().unwrap();
    assert!(error.contains("InternalServerError"), "{error}");
    // parked: the sweeper repairs it no more (it would every second)
    let attempts = parked["run"]["total_attempts"].clone();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let still = env.admin_view("parkme").await;
    assert_eq!(still["run"]["total_attempts"], attempts, "{still}");
    assert!(still["run"]["parked_at"].is_string());
    let (_, list) = env.admin(Method::GET, "/admin/parked", None).await;
    assert_eq!(list["total_count"], 1, "{list}");
    assert_eq!(list["parked"][0]["shopper_id"], "parkme");
    let (_, dead) = env.admin(Method::GET, "/admin/dead-letters", None).await;
    assert!(dead["total_count"].as_i64().unwrap() >= 1, "{dead}");
    assert_eq!(dead["dead_letters"][0]["phase"], "all-messages");
    // the cause is fixed; the operator un-parks it and it completes
    proxy.set(ProxyFaults::default());
    let (st, v) = env
        .admin(Method::POST, "/admin/accounts/parkme/unpark", None)
        .await;
    assert_eq!(st, reqwest::StatusCode::ACCEPTED, "{v}");
    env.wait_admin_status("parkme", "completed", T).await;
    verify::destination_equals_source(&env, &s, |_| false).await;
    let (st, _) = env
        .admin(Method::POST, "/admin/accounts/parkme/unpark", None)
        .await;
    assert_eq!(st, reqwest::StatusCode::CONFLICT, "nothing to un-park");
    let id = dead["dead_letters"][0]["id"].as_i64().unwrap();
    let path = format!("/admin/dead-letters/{id}/replay");
    let (st, v) = env.admin(Method::POST, &path, None).await;
    assert_eq!(
        st,
        reqwest::StatusCode::CONFLICT,
        "completed: nothing to replay {v}"
    );
    // published outbox rows are pruned by the sweeper
    let start = Instant::now();
    loop {
        use migrator_store::schema::outbox;
        let published: i64 = outbox::table
            .filter(outbox::published_at.is_not_null())
            .count()
            .get_result(&mut env.db().await)
            .await
            .unwrap();
        if published == 0 {
            break;
        }
        assert!(start.elapsed() < T, "{published} published rows kept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attachments_failing_half_the_time_all_end_stored() {
    let env = TestEnv::start_with(EnvOptions::default(), |s| {
        s.worker.max_call_retries = 0; // no quick retries in the hop: every failure waits
        s.media.retry_base_secs = 1;
        s.media.retry_max_secs = 2;
        s.media.max_attempts = 30;
    })
    .await;
    let s = generate("flaky", &GenOptions::new(12, 6, 8).attachments(2, 1));
    env.add_c1(&s).await;
    env.set_faults(Faults {
        media_fail_every: 2,
        ..Default::default()
    })
    .await;
    env.post("flaky", "/migrate", None).await;
    env.wait_status("flaky", "completed", T).await;
    let (_, status) = env.get("flaky", "/check-migration-status").await;
    assert!(
        status["progress"]["attachments_pending"].is_i64(),
        "the app sees the pending count: {status}"
    );
    // the media service keeps failing half its requests for a while longer, then recovers
    tokio::time::sleep(Duration::from_secs(5)).await;
    env.set_faults(Faults::default()).await;
    let start = Instant::now();
    loop {
        let v = env.admin_view("flaky").await;
        if v["run"]["figures"]["attachments_pending"] == 0 {
            assert_eq!(
                v["run"]["figures"]["attachments_failed"], 1,
                "only the gone one: {v}"
            );
            break;
        }
        assert!(start.elapsed() < T, "attachments still pending: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = env.sim_stats().await;
    assert!(stats.media_injected_failures > 5, "{stats:?}");
    verify::destination_equals_source(&env, &s, |_| false).await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hop_no_queue_takes_is_an_error_not_a_silent_loss() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    let broker = queue::Broker::from_settings(&env.settings.amqp);
    let publisher = Publisher::new(broker.clone());
    let hop = MigrationHop::first(Default::default(), Default::default(), Phase::Channels);
    publisher.publish_hop(&hop, 0).await.expect("routable");
    // the phase's queue disappears (an operator's mistake): the broker returns the message
    let conn = queue::connect(&broker).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.queue_delete(
        broker.names.phase(Phase::Channels).into(),
        Default::default(),
    )
    .await
    .unwrap();
    let err = publisher.publish_hop(&hop, 0).await.unwrap_err();
    assert!(matches!(err, queue::QueueError::Unroutable(_)), "{err}");
    let _ = conn.close(200, "bye".into()).await;
    env.shutdown().await;
}
