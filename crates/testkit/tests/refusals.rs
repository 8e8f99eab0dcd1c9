//! The source refusing our credentials, as real deployments meet it: a media service whose
//! clock is behind ours, a media service refusing every cert JWT for a while (a rotated key),
//! one attachment the media service will not give us, and Conversations REST refusing the
//! service token. None of them may lose data for good or be taken for "this C1 is unknown".

use conversations_sim::model::{generate, C1Spec, GenOptions};
use conversations_sim::server::Faults;
use migrator_runtime::settings::Settings;
use migrator_testkit::{verify, EnvOptions, TestEnv};
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(90);

async fn env(tweak: impl FnOnce(&mut Settings)) -> TestEnv {
    TestEnv::start_with(EnvOptions::default(), |s| {
        s.media.refused_retry_secs = 1;
        s.worker.fleet_poll_secs = 1;
        tweak(s);
    })
    .await
}

/// Waits until no attachment of the C1 is pending; returns the admin view.
async fn settled(env: &TestEnv, shopper: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = env.admin_view(shopper).await;
        if v["run"]["figures"]["attachments_pending"] == 0 {
            return v;
        }
        assert!(start.elapsed() < T, "attachments still pending: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The C1's attachments in `status`, as operators list them.
async fn attachments(env: &TestEnv, shopper: &str, status: &str) -> Vec<Value> {
    let path = format!("/admin/accounts/{shopper}/attachments?status={status}&per_page=100");
    let (_, v) = env.admin(Method::GET, &path, None).await;
    v["attachments"].as_array().cloned().unwrap_or_default()
}

fn with_attachments(shopper: &str, seed: u64) -> C1Spec {
    generate(shopper, &GenOptions::new(8, 3, seed).attachments(1, 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_media_service_whose_clock_is_behind_ours_accepts_every_cert_jwt() {
    let env = env(|_| {}).await;
    // 20 s behind, checking iat and exp with no leeway, as common JWT libraries do
    env.set_faults(Faults {
        media_clock_offset_secs: -20,
        media_leeway_secs: Some(0),
        ..Default::default()
    })
    .await;
    let s = with_attachments("skewed", 11);
    env.add_c1(&s).await;
    env.post("skewed", "/migrate", None).await;
    env.wait_status("skewed", "completed", T).await;
    let v = settled(&env, "skewed").await;
    assert_eq!(v["run"]["figures"]["attachments_failed"], 0, "{v}");
    assert_eq!(v["run"]["figures"]["attachments_stored"], 24, "{v}");
    verify::destination_equals_source(&env, &s, |_| false).await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_systemic_refusal_holds_attachments_until_the_media_service_accepts_us_again() {
    let env = env(|s| s.worker.max_call_retries = 0).await;
    // every cert JWT refused, as after a key rotation the media service has not taken yet
    env.set_faults(Faults {
        media_status: Some(401),
        ..Default::default()
    })
    .await;
    let s = with_attachments("rotated", 12);
    env.add_c1(&s).await;
    env.post("rotated", "/migrate", None).await;
    env.wait_status("rotated", "completed", T).await;
    // operators see why: the fleet view names it, the held attachments say so
    let start = Instant::now();
    loop {
        let (_, fleet) = env.admin(Method::GET, "/admin/fleet", None).await;
        if fleet["media_refusing"] == true {
            assert!(fleet["refusals_last_minute"]["media"].as_i64() > Some(0));
            break;
        }
        assert!(start.elapsed() < T, "{fleet}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let held = attachments(&env, "rotated", "pending").await;
    assert!(
        held.iter().any(|a| a["failure_reason"]
            .as_str()
            .is_some_and(|r| r.contains("systemic"))),
        "{held:?}"
    );
    assert!(attachments(&env, "rotated", "failed").await.is_empty());
    // a few seconds more of refusals, then the media service accepts our tokens again
    tokio::time::sleep(Duration::from_secs(3)).await;
    env.set_faults(Faults::default()).await;
    let v = settled(&env, "rotated").await;
    assert_eq!(v["run"]["figures"]["attachments_failed"], 0, "{v}");
    assert_eq!(v["run"]["figures"]["attachments_stored"], 24, "{v}");
    verify::destination_equals_source(&env, &s, |_| false).await;
    let text = env.metrics().await;
    assert!(
        text.contains(r#"migrator_source_refusals_total{service="media"}"#),
        "refusals are counted"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_attachment_the_media_service_refuses_fails_after_its_second_refusal() {
    let env = env(|s| s.worker.max_call_retries = 0).await;
    let mut s = with_attachments("onebad", 13);
    let att = &mut s.threads[0].messages[0].attachments[0];
    att.media_id = format!("forbidden-{}", att.media_id);
    env.add_c1(&s).await;
    env.post("onebad", "/migrate", None).await;
    env.wait_status("onebad", "completed", T).await;
    let v = settled(&env, "onebad").await;
    assert_eq!(v["run"]["figures"]["attachments_failed"], 1, "{v}");
    assert_eq!(v["run"]["figures"]["attachments_stored"], 23, "{v}");
    let failed = attachments(&env, "onebad", "failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["failure"], "forbidden", "{failed:?}");
    assert_eq!(failed[0]["refusals"], 1, "refused once before, then final");
    // two refusals, each tried twice with a fresh token
    assert_eq!(failed[0]["attempts"], 4, "{failed:?}");
    let (_, fleet) = env.admin(Method::GET, "/admin/fleet", None).await;
    assert_eq!(fleet["media_refusing"], false, "{fleet}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_service_token_is_retried_later_and_never_taken_for_an_unknown_c1() {
    let env = env(|_| {}).await;
    let s = generate("token", &GenOptions::new(4, 3, 14));
    env.add_c1(&s).await;
    // the service token is refused for a while (rotated on one side first)
    env.set_faults(Faults {
        rest_status: Some(401),
        rest_failures_left: Some(4),
        ..Default::default()
    })
    .await;
    env.post("token", "/migrate", None).await;
    let seen = env.wait_status("token", "completed", T).await;
    assert!(
        !seen.iter().any(|st| st.contains("failure")),
        "never a failure: {seen:?}"
    );
    let v = env.admin_view("token").await;
    assert!(v["run"]["total_attempts"].as_i64() >= Some(1), "{v}");
    verify::destination_equals_source(&env, &s, |_| false).await;
    env.shutdown().await;
}
