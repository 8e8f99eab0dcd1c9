//! A running campaign steered live (the runbook's answer to `MigratorProgramOffTrack`):
//! `PATCH /admin/campaigns/{id}` and `migratorctl campaign set` change its rate and in-flight
//! cap, the driver takes them at its next tick, and each change is audited with the pace
//! before and after.

use migrator_testkit::process::binary;
use migrator_testkit::{EnvOptions, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn campaign(env: &TestEnv, id: &str) -> Value {
    let (s, v) = env
        .admin(Method::GET, &format!("/admin/campaigns/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_campaigns_rate_and_cap_change_live_and_are_audited() {
    let env = TestEnv::start_with(EnvOptions::default(), |s| {
        s.campaign.tick_ms = 100;
    })
    .await;
    // never in Conversations: each one the campaign starts is completed at its eligibility check
    for i in 0..30 {
        env.create_account(&format!("pace-{i:02}"), "Pace").await;
    }
    let deadline = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    // one account every 1,000 s: the 30 would take eight hours at this pace
    let (s, v) = env
        .admin(
            Method::POST,
            "/admin/campaigns",
            Some(json!({"statuses": ["not-started"], "rate_per_sec": 0.001,
                        "max_in_flight": 1, "deadline": deadline})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let path = format!("/admin/campaigns/{id}");

    // refused: out of range, unknown fields
    for (body, code) in [
        (json!({"rate_per_sec": 0}), "invalid_rate"),
        (json!({"max_in_flight": 0}), "invalid_max_in_flight"),
    ] {
        let (s, v) = env.admin(Method::PATCH, &path, Some(body)).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{v}"
        );
    }
    let (s, _) = env
        .admin(Method::PATCH, &path, Some(json!({"rate": 5})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // the operator raises the pace from the command line
    let out = std::process::Command::new(binary("migratorctl"))
        .args([
            "-o",
            "json",
            "campaign",
            "set",
            &id,
            "--rate",
            "500",
            "--max-in-flight",
            "50",
        ])
        .env("MIGRATOR_ADMIN_URL", &env.admin_url)
        .env("MIGRATOR_ADMIN_TOKEN", env.admin_token())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["rate_per_sec"].as_f64(), v["max_in_flight"].as_i64()),
        (Some(500.0), Some(50)),
        "{v}"
    );

    // the driver takes it: all 30 done long before the old pace could have started a second
    let end = Instant::now() + Duration::from_secs(180);
    let done = loop {
        let v = campaign(&env, &id).await;
        if v["state"] == "done" {
            break v;
        }
        assert!(Instant::now() < end, "the new pace was not taken: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["completed"], 30, "{done}");

    let (_, log) = env.admin(Method::GET, "/admin/audit-log", None).await;
    let set = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "campaign_set_pace")
        .cloned()
        .expect("audited");
    assert_eq!(set["target"], id.as_str());
    assert_eq!(set["detail"]["rate_per_sec"]["from"], 0.001, "{set}");
    assert_eq!(set["detail"]["rate_per_sec"]["to"], 500.0, "{set}");
    assert_eq!(set["detail"]["max_in_flight"]["from"], 1, "{set}");
    assert_eq!(set["detail"]["max_in_flight"]["to"], 50, "{set}");

    // over: its pace is history
    let (s, v) = env
        .admin(Method::PATCH, &path, Some(json!({"rate_per_sec": 1})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _) = env
        .admin(
            Method::PATCH,
            &format!("/admin/campaigns/{}", uuid::Uuid::new_v4()),
            Some(json!({"rate_per_sec": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    env.shutdown().await;
}
