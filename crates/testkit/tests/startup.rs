//! Starting the binaries as an operator would: several workers on one host with the default
//! settings, and a start that cannot bind its configured port saying so in one line.

use conversations_sim::model::{generate, GenOptions};
use migrator_testkit::process::{binary, command, command_for, spawn_logged};
use migrator_testkit::{verify, EnvOptions, TestEnv};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_with_the_default_port_run_side_by_side() {
    let opts = EnvOptions::no_workers();
    // none configured: the first takes 127.0.0.1:9091 (unless another process has it), the
    // second a free port
    let env = TestEnv::start_with(opts, |s| s.worker.listen = String::new()).await;
    let s = generate("pair", &GenOptions::new(6, 3, 9));
    env.add_c1(&s).await;
    let logged = || {
        let mut c = command(&env.settings);
        c.env("RUST_LOG", "info");
        spawn_logged(c)
    };
    let (a, b) = (logged(), logged());
    env.post("pair", "/migrate", None).await;
    env.wait_status("pair", "completed", Duration::from_secs(90))
        .await;
    verify::destination_equals_source(&env, &s, |_| false).await;
    let mut addrs = Vec::new();
    for w in [a, b] {
        let (status, log) = w.term();
        assert!(
            status.success(),
            "both run and stop cleanly: {status:?}\n{log}"
        );
        let addr = log
            .lines()
            .filter(|l| l.contains("worker http port listening"))
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .and_then(|v| v["addr"].as_str().map(String::from))
            .unwrap_or_else(|| panic!("the port is logged:\n{log}"));
        addrs.push(addr);
    }
    assert_ne!(addrs[0], addrs[1], "two ports: {addrs:?}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_taken_configured_port_stops_the_start_with_one_line_naming_the_setting() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |_| {}).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for (bin, key, var) in [
        (
            "migrator-worker",
            "worker.listen",
            "MIGRATOR__WORKER__LISTEN",
        ),
        ("migrator-api", "api.listen", "MIGRATOR__API__LISTEN"),
    ] {
        // the test's settings (its database), the port taken
        let out = command_for(&binary(bin), &env.settings)
            .env(var, &addr)
            .env("RUST_BACKTRACE", "1")
            .env("RUST_LOG", "off")
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{bin}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{bin}: one line:\n{err}");
        assert!(
            lines[0].contains(&format!("{key} = {addr}")) && lines[0].contains("in use"),
            "{bin}: names the setting and the cause: {err}"
        );
    }
    drop(taken);
    env.shutdown().await;
}

/// A release's processes do not serve on an older schema: without `migrate_at_start` (as in a
/// cluster, where the migrate Job runs first) the api and the worker refuse to start, naming
/// the migrations missing; once migrated, they start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_worker_refuse_a_schema_behind_their_release() {
    let tag = format!("schema{}", std::process::id());
    migrator_testkit::db::create_database(&tag).await.unwrap();
    let mut s = migrator_testkit::test_settings(&tag);
    s.database.migrate_at_start = false;
    s.database.schema_wait_secs = 0; // refused at once, not after the wait for a migrate Job
    s.api.admin_listen = String::new();
    let Err(e) = migrator_api::startup::start(s.clone()).await else {
        panic!("the api started on an old schema")
    };
    assert!(e.to_string().contains("schema is behind"), "{e}");
    assert!(e.to_string().contains("_console"), "names the missing: {e}");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let Err(e) = migrator_worker::serve(s.clone(), rx).await else {
        panic!("the worker ran on an old schema")
    };
    assert!(e.to_string().contains("schema is behind"), "{e}");
    migrator_store::run_migrations(s.database.url.as_str())
        .await
        .unwrap();
    let api = migrator_api::startup::start(s)
        .await
        .expect("starts once migrated");
    api.stop().await;
    migrator_testkit::db::drop_database(&tag).await.unwrap();
}
