//! The demo client never hangs: a worker it watches that dies, or a fleet with no live worker,
//! ends it with a non-zero status and one line naming the process and its log file.

use conversations_sim::model::{generate, GenOptions};
use migrator_testkit::process::{binary, command, command_for};
use migrator_testkit::{EnvOptions, TestEnv};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The demo client's command against `env`, with the test's settings (its token keys).
fn demo(env: &TestEnv, shopper: &str, start_secs: u64) -> std::process::Command {
    let mut c = command_for(&binary("demo"), &env.settings);
    c.arg(shopper)
        .args(["--api", &env.api_url, "--admin-api", &env.admin_url])
        .args([
            "--start-secs",
            &start_secs.to_string(),
            "--no-worker-secs",
            "3",
        ])
        .arg("--operator-token-file")
        .arg(std::env::temp_dir().join(format!("{}-demo-token", env.settings.amqp.prefix)))
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs `c` to its end (bounded), returning its status and stderr's non-empty lines.
fn finish(mut c: std::process::Child, within: Duration) -> (std::process::ExitStatus, Vec<String>) {
    let started = Instant::now();
    loop {
        if let Some(_status) = c.try_wait().unwrap() {
            let out = c.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            let lines = err
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from)
                .collect();
            return (out.status, lines);
        }
        if started.elapsed() > within {
            let _ = c.kill();
            panic!("the demo did not stop within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_stops_naming_a_worker_that_died_and_its_log() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    let s = generate("demo-dies", &GenOptions::new(20, 3, 9));
    env.seed(&s).await;
    // the fleet paused: the worker is live but takes no hop, so the migration waits for it
    let (st, _) = env
        .admin(reqwest::Method::POST, "/admin/fleet/pause", None)
        .await;
    assert!(st.is_success(), "{st}");
    let log = std::env::temp_dir().join(format!("{}-demo-worker.log", env.settings.amqp.prefix));
    let mut worker = command(&env.settings)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let child = demo(&env, "demo-dies", 60)
        .arg("--watch")
        .arg(format!("worker={}={}", worker.id(), log.display()))
        .spawn()
        .unwrap();
    // the worker dies once the demo has seen it live and started the migration
    env.wait_admin_status("demo-dies", "migrating", Duration::from_secs(60))
        .await;
    worker.kill().unwrap();
    worker.wait().unwrap();
    let (status, lines) = finish(child, Duration::from_secs(30));
    assert!(!status.success(), "{status:?}");
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(
        lines[0].contains("the worker (pid") && lines[0].contains(&log.display().to_string()),
        "names the worker and its log: {lines:?}"
    );
    assert!(!lines[0].contains("backtrace"), "{lines:?}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_stops_when_no_worker_is_live() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    let s = generate("demo-alone", &GenOptions::new(5, 2, 9));
    env.seed(&s).await;
    let child = demo(&env, "demo-alone", 2).spawn().unwrap();
    let (status, lines) = finish(child, Duration::from_secs(30));
    assert!(!status.success(), "{status:?}");
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(
        lines[0].contains("a live worker") && lines[0].contains("workers_live"),
        "{lines:?}"
    );
    env.shutdown().await;
}
