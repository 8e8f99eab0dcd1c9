//! Progress the app can draw: `percent`, `phase_percent`, `eta_seconds` and `inbox_ready` of
//! `GET /check-migration-status` through a real migration (a slowed source, so the app sees
//! every phase).

use conversations_sim::model::{generate, GenOptions};
use migrator_testkit::dynamo_proxy::ProxyFaults;
use migrator_testkit::{EnvOptions, TestEnv};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_app_draws_a_bar_that_only_moves_forward_and_ends_full() {
    let opts = EnvOptions {
        dynamo_proxy: true,
        workers: 1,
    };
    let env = TestEnv::start_with(opts, |s| s.worker.recent_max_threads = 5).await;
    let spec = generate("drawn", &GenOptions::new(40, 3, 11));
    env.add_c1(&spec).await;
    env.proxy.as_ref().unwrap().set(ProxyFaults {
        delay_ms: 60,
        ..Default::default()
    });
    let (_, before) = env.get("drawn", "/check-migration-status").await;
    assert_eq!(before["inbox_ready"], false, "{before}");
    assert_eq!(before["progress"]["percent"], 0, "{before}");
    assert!(before["progress"]["eta_seconds"].is_null(), "{before}");
    env.post("drawn", "/migrate", None).await;

    let started = Instant::now();
    let (mut last_percent, mut saw_eta, mut saw_partial) = (0, false, false);
    loop {
        let (_, v) = env.get("drawn", "/check-migration-status").await;
        let status = v["migration_status"].as_str().unwrap().to_string();
        let p = &v["progress"];
        let percent = p["percent"].as_i64().unwrap();
        let phase = p["phase_percent"].as_i64().unwrap();
        assert!(
            (0..=100).contains(&percent) && (0..=100).contains(&phase),
            "{v}"
        );
        assert!(
            percent >= last_percent,
            "the bar went back: {last_percent} -> {v}"
        );
        last_percent = percent;
        let ready = !matches!(
            status.as_str(),
            "not-started" | "migrating" | "channel-failure"
        );
        assert_eq!(v["inbox_ready"], ready, "{v}");
        assert_eq!(percent == 100, status == "completed", "{v}");
        if let Some(eta) = p["eta_seconds"].as_i64() {
            assert!(eta >= 0, "{v}");
            saw_eta |= status != "completed";
        }
        saw_partial |= (1..100).contains(&percent);
        if status == "completed" {
            assert_eq!(phase, 100, "{v}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{v}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(saw_partial, "the app saw the bar between empty and full");
    assert!(saw_eta, "an estimate once threads were moving");
    env.shutdown().await;
}
