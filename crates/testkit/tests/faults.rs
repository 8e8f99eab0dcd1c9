//! Fault tests with real processes and real service restarts. They disturb shared services
//! (RabbitMQ, PostgreSQL), so they run one at a time in their own target: `make faults`
//! (part of `make test` and of CI).

use conversations_sim::model::{generate, C1Spec, GenOptions};
use conversations_sim::server::Faults;
use migrator_runtime::settings::Settings;
use migrator_testkit::process::{kill9, spawn_logged_worker, spawn_worker};
use migrator_testkit::{verify, EnvOptions, TestEnv};
use reqwest::StatusCode;
use std::process::Command;
use std::time::{Duration, Instant};

fn spec(shopper: &str, threads: usize, messages: usize, seed: u64) -> C1Spec {
    let opts = GenOptions::new(threads, messages, seed).attachments(25, 1);
    generate(shopper, &opts.malformed(2))
}

fn tolerant(s: &mut Settings) {
    s.worker.max_hop_attempts = 12;
    s.worker.retry_base_ms = 100;
    s.worker.retry_max_ms = 3000;
    s.worker.max_call_retries = 3;
    s.worker.lease_secs = 6;
    s.worker.stalled_after_secs = 10;
}

async fn env(tweak: impl FnOnce(&mut Settings)) -> TestEnv {
    TestEnv::start_with(EnvOptions::no_workers(), |s| {
        tolerant(s);
        tweak(s);
    })
    .await
}

async fn messages_migrated(env: &TestEnv, shopper: &str) -> i64 {
    let (_, v) = env.get(shopper, "/check-migration-status").await;
    v["progress"]["messages_migrated"].as_i64().unwrap_or(0)
}

const LONG: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_all_messages_is_replaced_and_nothing_is_lost_or_doubled() {
    let env = env(|_| {}).await;
    let s = spec("kill9", 80, 250, 1);
    env.add_c1(&s).await;
    let mut w1 = spawn_worker(&env.settings);
    let (st, _) = env.post("kill9", "/migrate", None).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    env.wait_status("kill9", "recent-messages-migrated", LONG)
        .await;
    // well into the all-messages phase
    let start = Instant::now();
    while messages_migrated(&env, "kill9").await < 8_000 && start.elapsed() < LONG {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_kill = messages_migrated(&env, "kill9").await;
    kill9(&mut w1);
    assert!(
        at_kill < 20_000,
        "the kill landed before the end ({at_kill})"
    );
    let admin = env.admin_view("kill9").await;
    assert_eq!(
        admin["migration_status"], "recent-messages-migrated",
        "{admin}"
    );
    let mut w2 = spawn_worker(&env.settings);
    env.wait_status("kill9", "completed", LONG).await;
    let (convs, msgs) = verify::destination_equals_source(&env, &s, |_| false).await;
    assert_eq!((convs, msgs), (80, 20_000));
    assert_eq!(
        messages_migrated(&env, "kill9").await,
        20_000,
        "figures count each message once"
    );
    let admin = env.admin_view("kill9").await;
    assert_eq!(admin["run"]["figures"]["rejects"], 2, "{admin}");
    assert_eq!(admin["run"]["figures"]["threads_migrated"], 80, "{admin}");
    kill9(&mut w2);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_killed_and_restarted_at_random_across_many_c1s_end_exact() {
    let env = env(|s| s.worker.concurrency = 2).await;
    let specs: Vec<C1Spec> = (0..8)
        .map(|i| spec(&format!("fleet{i}"), 20, 40, 100 + i))
        .collect();
    for s in &specs {
        env.add_c1(s).await;
    }
    let mut workers: Vec<_> = (0..3).map(|_| spawn_worker(&env.settings)).collect();
    for s in &specs {
        let (st, _) = env.post(&s.shopper_id, "/migrate", None).await;
        assert_eq!(st, StatusCode::ACCEPTED);
    }
    let mut rng_state = 12345u64;
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        rng_state = rng_state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let i = (rng_state >> 33) as usize % workers.len();
        kill9(&mut workers[i]);
        workers[i] = spawn_worker(&env.settings);
    }
    for s in &specs {
        env.wait_status(&s.shopper_id, "completed", LONG).await;
    }
    for s in &specs {
        let (convs, msgs) = verify::destination_equals_source(&env, s, |_| false).await;
        assert_eq!((convs, msgs), (20, 800), "{}", s.shopper_id);
        assert_eq!(messages_migrated(&env, &s.shopper_id).await, 800);
    }
    for w in &mut workers {
        kill9(w);
    }
    env.shutdown().await;
}

/// Every worker SIGKILLed while each C1's channels hop is inside a slow configs-migration call,
/// and started again at once: the redelivered hops take over the dead workers' leases (their
/// liveness locks went with them), so every inbox follows within seconds of the restart, not
/// after `worker.lease_secs` (two minutes here).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_killed_inside_channels_hops_are_replaced_without_waiting_for_their_leases() {
    let lease = Duration::from_secs(120);
    let env = env(|s| {
        s.worker.lease_secs = lease.as_secs() as i64;
        s.worker.stalled_after_secs = 600;
    })
    .await;
    env.set_faults(Faults {
        rest_delay_ms: 1500,
        ..Default::default()
    })
    .await;
    let specs: Vec<C1Spec> = (0..10)
        .map(|i| spec(&format!("inbox{i}"), 3, 4, 300 + i))
        .collect();
    for s in &specs {
        env.add_c1(s).await;
    }
    let mut workers: Vec<_> = (0..2).map(|_| spawn_worker(&env.settings)).collect();
    for s in &specs {
        env.post(&s.shopper_id, "/migrate", None).await;
    }
    // every channels hop leased, each waiting on configs-migration
    let start = Instant::now();
    while leased_channels_runs(&env).await < specs.len() as i64 {
        assert!(start.elapsed() < LONG, "channels hops never all leased");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for w in &mut workers {
        kill9(w);
    }
    let restarted = Instant::now();
    let mut workers: Vec<_> = (0..2).map(|_| spawn_worker(&env.settings)).collect();
    let mut waits = Vec::new();
    for s in &specs {
        loop {
            let (_, v) = env.get(&s.shopper_id, "/check-migration-status").await;
            if v["inbox_ready"] == true {
                waits.push(restarted.elapsed());
                break;
            }
            assert!(
                restarted.elapsed() < lease / 4,
                "{} has no inbox {:?} after the restart: it waits for a dead worker's lease",
                s.shopper_id,
                restarted.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    waits.sort();
    eprintln!(
        "inbox after the restart: p50 {:?}, max {:?} (lease {lease:?})",
        waits[waits.len() / 2],
        waits[waits.len() - 1]
    );
    env.set_faults(Faults::default()).await;
    for s in &specs {
        env.wait_status(&s.shopper_id, "completed", LONG).await;
        let (convs, msgs) = verify::destination_equals_source(&env, s, |_| false).await;
        assert_eq!((convs, msgs), (3, 12), "{}", s.shopper_id);
    }
    for w in &mut workers {
        kill9(w);
    }
    env.shutdown().await;
}

/// Runs in the channels phase whose lease is held.
async fn leased_channels_runs(env: &TestEnv) -> i64 {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use migrator_store::schema::migration_runs as r;
    r::table
        .filter(r::phase.eq("channels"))
        .filter(r::lease_owner.is_not_null())
        .count()
        .get_result(&mut env.db().await)
        .await
        .unwrap()
}

fn rabbitmqctl(arg: &str) {
    let ok = Command::new("rabbitmqctl")
        .arg(arg)
        .status()
        .expect("rabbitmqctl")
        .success();
    assert!(ok, "rabbitmqctl {arg}");
}

fn pg_restart() {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("/etc/postgresql")
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let ok = Command::new("pg_ctlcluster")
        .args([
            "--skip-systemctl-redirect",
            version.to_str().unwrap(),
            "main",
            "restart",
        ])
        .status()
        .expect("pg_ctlcluster")
        .success();
    assert!(ok, "postgres restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbitmq_restarted_mid_run_and_migrate_while_it_is_down_lose_nothing() {
    let env = env(|_| {}).await;
    let a = spec("rmq-a", 60, 120, 2);
    let b = spec("rmq-b", 10, 20, 3);
    for s in [&a, &b] {
        env.add_c1(s).await;
    }
    let mut w = spawn_worker(&env.settings);
    env.post("rmq-a", "/migrate", None).await;
    env.wait_status("rmq-a", "recent-messages-migrated", LONG)
        .await;
    rabbitmqctl("stop_app");
    // accepted while the broker is down: recorded in the outbox, relayed later
    let (st, v) = env.post("rmq-b", "/migrate", None).await;
    rabbitmqctl("start_app");
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    for s in [&a, &b] {
        env.wait_status(&s.shopper_id, "completed", LONG).await;
        verify::destination_equals_source(&env, s, |_| false).await;
    }
    kill9(&mut w);
    env.shutdown().await;
}

/// Adds the C1, starts a worker process (by `spawn`) and its migration, and waits until the
/// all-messages phase is under way.
async fn migrating_past_recent<W>(
    env: &TestEnv,
    s: &C1Spec,
    spawn: impl FnOnce(&Settings) -> W,
) -> W {
    env.add_c1(s).await;
    let w = spawn(&env.settings);
    env.post(&s.shopper_id, "/migrate", None).await;
    env.wait_status(&s.shopper_id, "recent-messages-migrated", LONG)
        .await;
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_mid_run_loses_nothing() {
    let env = env(|_| {}).await;
    let s = spec("pgr", 60, 150, 4);
    let mut w = migrating_past_recent(&env, &s, spawn_worker).await;
    pg_restart();
    // the api reconnects too: polling works again
    let start = Instant::now();
    loop {
        let (st, v) = env.get("pgr", "/check-migration-status").await;
        if st == StatusCode::OK && v["migration_status"] == "completed" {
            break;
        }
        assert!(start.elapsed() < LONG, "{st} {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (convs, msgs) = verify::destination_equals_source(&env, &s, |_| false).await;
    assert_eq!((convs, msgs), (60, 9_000));
    assert_eq!(messages_migrated(&env, "pgr").await, 9_000);
    kill9(&mut w);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_or_hands_back_the_hop_and_exits_zero_without_an_error() {
    let env = env(|_| {}).await;
    let s = spec("term", 60, 150, 5);
    let stopped = migrating_past_recent(&env, &s, spawn_logged_worker)
        .await
        .term();
    let w2 = spawn_logged_worker(&env.settings);
    env.wait_status("term", "completed", LONG).await;
    verify::destination_equals_source(&env, &s, |_| false).await;
    // a worker stopped mid-hop and one stopped idle: exit 0, and nothing logged as an error
    // (a consumer closing its channels while the broker still delivers used to log a
    // connection error at every shutdown)
    for (status, log) in [stopped, w2.term()] {
        assert!(status.success(), "worker exits 0 on SIGTERM: {status:?}");
        let errors: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(r#""level":"ERROR""#))
            .collect();
        assert!(errors.is_empty(), "errors logged: {errors:#?}");
    }
    env.shutdown().await;
}
