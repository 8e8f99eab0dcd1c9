//! Campaigns, the program's backstop, against the real services: a campaign moves every
//! selected account exactly once (those never in Conversations to `completed` through the
//! same eligibility check), pauses and resumes, survives its driver's SIGKILL without starting
//! an account twice or skipping one, gives way to a C1 who opens the app (one run, on the
//! app's lane), and the program's projection says whether the deadline is met.

use conversations_sim::model::{generate, GenOptions};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use migrator_testkit::process::{kill9, spawn_worker};
use migrator_testkit::{EnvOptions, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(240);

fn fast(s: &mut migrator_runtime::settings::Settings) {
    s.campaign.tick_ms = 100;
    s.campaign.redrive_after_secs = 0;
}

fn deadline(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

async fn start(env: &TestEnv, body: Value) -> Value {
    let (s, v) = env
        .admin(Method::POST, "/admin/campaigns", Some(body))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

async fn campaign(env: &TestEnv, id: &str) -> Value {
    let (s, v) = env
        .admin(Method::GET, &format!("/admin/campaigns/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// Polls the campaign until `until` holds (panics with its last body after [`T`]).
async fn wait(env: &TestEnv, id: &str, what: &str, until: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + T;
    loop {
        let v = campaign(env, id).await;
        if until(&v) {
            return v;
        }
        assert!(Instant::now() < end, "campaign never {what}: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs of each account whose shopper id starts with `prefix`.
async fn runs_by_account(env: &TestEnv, prefix: &str) -> BTreeMap<String, i64> {
    #[derive(QueryableByName)]
    struct R {
        #[diesel(sql_type = diesel::sql_types::Text)]
        shopper_id: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        runs: i64,
    }
    let rows: Vec<R> = diesel::sql_query(
        "SELECT a.shopper_id, count(r.id)::bigint AS runs FROM accounts a \
         LEFT JOIN migration_runs r ON r.account_id = a.id \
         WHERE a.shopper_id LIKE $1 || '%' GROUP BY a.shopper_id",
    )
    .bind::<diesel::sql_types::Text, _>(prefix)
    .load(&mut env.db().await)
    .await
    .unwrap();
    rows.into_iter().map(|r| (r.shopper_id, r.runs)).collect()
}

/// Puts `shopper`'s account in `channel-failure` as the app path leaves it after its retries:
/// a run held in its channels phase.
async fn fail_channels(env: &TestEnv, shopper: &str) {
    diesel::sql_query(
        "WITH a AS (SELECT id FROM accounts WHERE shopper_id = $1), \
         r AS (INSERT INTO migration_runs (id, account_id, phase, active, last_error, \
                 total_attempts) \
               SELECT gen_random_uuid(), id, 'channels', false, 'HTTP 502', 3 FROM a \
               RETURNING id, account_id) \
         UPDATE accounts SET migration_status = 'channel-failure', current_run_id = r.id \
         FROM r WHERE accounts.id = r.account_id",
    )
    .bind::<diesel::sql_types::Text, _>(shopper)
    .execute(&mut env.db().await)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_campaign_moves_every_selected_account_exactly_once() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), fast).await;
    // given 300 not-started C1s (280 never in Conversations, 20 with history) and 20 the app
    // left in channel-failure, beside accounts the campaign must not take
    for i in 0..280 {
        env.create_account(&format!("c-new-{i:03}"), "Shop").await;
    }
    for i in 0..20 {
        env.add_c1(&generate(
            &format!("c-old-{i:02}"),
            &GenOptions::new(3, 4, i),
        ))
        .await;
    }
    for i in 0..20 {
        let shopper = format!("c-fail-{i:02}");
        env.add_c1(&generate(&shopper, &GenOptions::new(2, 3, 100 + i)))
            .await;
        fail_channels(&env, &shopper).await;
    }
    let done = generate("x-done", &GenOptions::new(1, 1, 999));
    env.add_c1(&done).await;
    env.post(&done.shopper_id, "/migrate", None).await;
    let _w1 = spawn_worker(&env.settings);
    let _w2 = spawn_worker(&env.settings);
    env.wait_admin_status(&done.shopper_id, "completed", T)
        .await;

    // when a campaign runs over the default selection
    let c = start(
        &env,
        json!({ "rate_per_sec": 200, "max_in_flight": 40, "deadline": deadline(30) }),
    )
    .await;
    assert_eq!(c["selected"], 320, "{c}");
    assert_eq!(c["state"], "running");
    assert_eq!(c["selecting"], false);
    let id = c["id"].as_str().unwrap().to_string();
    let v = wait(&env, &id, "done", |v| v["state"] == "done").await;

    // then every selected account is completed, each started once by the campaign
    assert_eq!(v["completed"], 320, "{v}");
    assert_eq!(v["remaining"], 0, "{v}");
    assert_eq!(v["enqueued"], 320, "{v}");
    assert_eq!(
        (v["failed"].clone(), v["parked"].clone()),
        (json!(0), json!(0))
    );
    for prefix in ["c-new-", "c-old-", "c-fail-"] {
        let runs = runs_by_account(&env, prefix).await;
        // a new run each; a failed account's held run stays beside it
        let want = if prefix == "c-fail-" { 2 } else { 1 };
        assert!(runs.values().all(|n| *n == want), "{prefix}: {runs:?}");
    }
    assert_eq!(
        runs_by_account(&env, "x-").await["x-done"],
        1,
        "not selected"
    );
    for s in ["c-new-000", "c-old-07", "c-fail-19"] {
        env.wait_admin_status(s, "completed", Duration::from_secs(1))
            .await;
    }
    let (_, audit) = env.admin(Method::GET, "/admin/audit-log", None).await;
    assert!(audit.to_string().contains("campaign_start"), "{audit}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_campaign_pauses_resumes_and_refuses_what_is_not_allowed() {
    let mut env = TestEnv::start_with(EnvOptions::no_workers(), fast).await;
    for i in 0..60 {
        env.create_account(&format!("p-{i:02}"), "Shop").await;
    }
    // bad requests change nothing
    for (body, code) in [
        (json!({}), "invalid_json"),
        (
            json!({ "deadline": "2020-01-01T00:00:00Z" }),
            "invalid_deadline",
        ),
        (json!({ "deadline": "tomorrow" }), "invalid_time"),
        (
            json!({ "deadline": deadline(1), "rate_per_sec": 0 }),
            "invalid_rate",
        ),
        (
            json!({ "deadline": deadline(1), "statuses": [] }),
            "invalid_statuses",
        ),
        (
            json!({ "deadline": deadline(1), "statuses": ["done-ish"] }),
            "invalid_json",
        ),
        (
            json!({ "deadline": deadline(1), "shopper_ids": ["a b"] }),
            "invalid_shopper_ids",
        ),
        (
            json!({ "deadline": deadline(1), "max_in_flight": 0 }),
            "invalid_max_in_flight",
        ),
        (
            json!({ "deadline": deadline(1), "surprise": 1 }),
            "invalid_json",
        ),
    ] {
        let (s, v) = env
            .admin(Method::POST, "/admin/campaigns", Some(body))
            .await;
        assert_eq!(
            (s, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{v}"
        );
    }
    let (_, list) = env.admin(Method::GET, "/admin/campaigns", None).await;
    assert_eq!(list["campaigns"], json!([]));

    // given a campaign paused as soon as it is created, with a worker to run what it starts
    let c = start(&env, json!({ "rate_per_sec": 5, "deadline": deadline(30) })).await;
    let id = c["id"].as_str().unwrap().to_string();
    let (s, _) = env
        .admin(Method::POST, &format!("/admin/campaigns/{id}/pause"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    env.start_worker();
    let paused = campaign(&env, &id).await;
    assert_eq!(paused["state"], "paused");
    // another campaign while one is live: 409
    let (s, _) = env
        .admin(
            Method::POST,
            "/admin/campaigns",
            Some(json!({ "deadline": deadline(30) })),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // while paused it starts nothing
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let still = campaign(&env, &id).await;
    assert_eq!(still["enqueued"], paused["enqueued"], "{still}");

    // when resumed it finishes
    let (s, _) = env
        .admin(Method::POST, &format!("/admin/campaigns/{id}/resume"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let v = wait(&env, &id, "done", |v| v["state"] == "done").await;
    assert_eq!(
        (v["completed"].clone(), v["selected"].clone()),
        (json!(60), json!(60))
    );
    // a campaign that is over cannot be resumed, paused or cancelled
    for m in ["resume", "pause", "cancel"] {
        let (s, _) = env
            .admin(Method::POST, &format!("/admin/campaigns/{id}/{m}"), None)
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{m}");
    }
    let (s, _) = env
        .admin(
            Method::GET,
            "/admin/campaigns/5b1f8e2a-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_driver_killed_mid_campaign_is_resumed_without_starting_an_account_twice() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), fast).await;
    for i in 0..200 {
        env.create_account(&format!("k-{i:03}"), "Shop").await;
    }
    // given the one worker, holding the driver, midway through the selection
    let mut w1 = spawn_worker(&env.settings);
    let c = start(
        &env,
        json!({ "rate_per_sec": 40, "max_in_flight": 20, "deadline": deadline(30) }),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    wait(&env, &id, "midway", |v| v["enqueued"].as_i64() > Some(30)).await;
    // when it is SIGKILLed and another worker comes
    kill9(&mut w1);
    let _w2 = spawn_worker(&env.settings);
    let v = wait(&env, &id, "done", |v| v["state"] == "done").await;

    // then every account was started once and completed
    assert_eq!(
        (v["completed"].clone(), v["enqueued"].clone()),
        (json!(200), json!(200)),
        "{v}"
    );
    let runs = runs_by_account(&env, "k-").await;
    assert_eq!(runs.len(), 200);
    assert!(runs.values().all(|n| *n == 1), "{runs:?}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_c1_opening_the_app_during_a_campaign_gets_the_app_lane_and_one_run() {
    // workers that take no campaign hops: what the campaign starts stays queued
    let env = TestEnv::start_with(EnvOptions::no_workers(), |s| {
        fast(s);
        s.worker.campaign_concurrency = 0;
    })
    .await;
    let specs: Vec<_> = (0..6)
        .map(|i| generate(&format!("o-{i}"), &GenOptions::new(3, 3, i)))
        .collect();
    for s in &specs {
        env.add_c1(s).await;
    }
    let _w = spawn_worker(&env.settings);
    let c = start(
        &env,
        json!({ "rate_per_sec": 100, "deadline": deadline(30) }),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    wait(&env, &id, "enqueued", |v| v["enqueued"] == 6).await;
    let opener = &specs[2].shopper_id;
    let (_, before) = env
        .admin(
            Method::GET,
            &format!("/admin/accounts/{opener}/migration"),
            None,
        )
        .await;
    assert_eq!(before["migration_status"], "migrating", "queued: {before}");

    // when the C1 opens the app: the on-demand answer at once
    let (s, v) = env.post(opener, "/migrate", None).await;
    assert_eq!(
        (s, v["migration_status"].as_str()),
        (StatusCode::OK, Some("migrating"))
    );
    // then their migration runs on the app lane and completes, the others still queued
    env.wait_admin_status(opener, "completed", T).await;
    for other in specs.iter().filter(|s| &s.shopper_id != opener) {
        let (_, o) = env
            .admin(
                Method::GET,
                &format!("/admin/accounts/{}/migration", other.shopper_id),
                None,
            )
            .await;
        assert_eq!(o["migration_status"], "migrating", "{o}");
    }
    let lane: (String, bool) = diesel::sql_query(
        "SELECT r.lane, r.opened_at IS NOT NULL AS opened FROM migration_runs r \
         JOIN accounts a ON a.current_run_id = r.id WHERE a.shopper_id = $1",
    )
    .bind::<diesel::sql_types::Text, _>(opener)
    .get_result::<LaneRow>(&mut env.db().await)
    .await
    .map(|r| (r.lane, r.opened))
    .unwrap();
    assert_eq!(lane, ("app".to_string(), true));

    // and once workers take campaign hops, the rest complete, the opener's campaign hop dropped
    let mut s = env.settings.clone();
    s.worker.campaign_concurrency = 2;
    let _w2 = spawn_worker(&s);
    let v = wait(&env, &id, "done", |v| v["state"] == "done").await;
    assert_eq!(v["completed"], 6, "{v}");
    let runs = runs_by_account(&env, "o-").await;
    assert!(runs.values().all(|n| *n == 1), "{runs:?}");
    env.shutdown().await;
}

#[derive(QueryableByName)]
struct LaneRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    lane: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    opened: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projection_says_whether_the_deadline_is_met() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), fast).await;
    for i in 0..10 {
        env.create_account(&format!("d-{i}"), "Shop").await;
    }
    // no completions yet: no rate, no projection
    let (_, p) = env.admin(Method::GET, "/admin/program", None).await;
    assert_eq!(
        (p["total"].clone(), p["on_track"].clone()),
        (json!(10), Value::Null),
        "{p}"
    );
    assert_eq!(p["projected_finish"], Value::Null);
    // given 36 completions over the last hour: 0.01 a second, 10 accounts to go: ~1000 s
    diesel::sql_query(
        "INSERT INTO completions (minute, lane, shard, n) \
         VALUES (date_trunc('minute', now() - interval '30 minutes'), 'app', 0, 36)",
    )
    .execute(&mut env.db().await)
    .await
    .unwrap();
    // when the deadline is a minute away, the projection misses it
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc3339();
    let c = start(&env, json!({ "rate_per_sec": 0.001, "deadline": soon })).await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(
        c["on_track"],
        Value::Null,
        "the campaign has no rate yet: {c}"
    );
    let (_, p) = env.admin(Method::GET, "/admin/program", None).await;
    assert_eq!(
        p["completed_per_hour"],
        json!({ "app": 36, "campaign": 0 }),
        "{p}"
    );
    assert_eq!(p["on_track"], false, "{p}");
    assert!(p["deadline"].as_str().is_some());
    let text = env
        .http
        .get(format!("{}/metrics", env.api_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("migrator_program_on_track 0"), "{text}");
    let (s, _) = env
        .admin(Method::POST, &format!("/admin/campaigns/{id}/cancel"), None)
        .await;
    assert_eq!(s, StatusCode::OK);

    // when it is a month away, the projection meets it, the campaign's own too once it has
    // completed accounts
    let c = start(
        &env,
        json!({ "rate_per_sec": 0.001, "deadline": deadline(30) }),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    let (_, p) = env.admin(Method::GET, "/admin/program", None).await;
    assert_eq!(p["on_track"], true, "{p}");
    diesel::sql_query(
        "INSERT INTO completions (minute, lane, shard, n) \
         VALUES (date_trunc('minute', now()), 'campaign', 1, 2)",
    )
    .execute(&mut env.db().await)
    .await
    .unwrap();
    let v = campaign(&env, &id).await;
    assert!(v["achieved_per_sec"].as_f64() > Some(0.0), "{v}");
    assert_eq!(v["on_track"], true, "{v}");
    assert!(v["projected_finish"].as_str().is_some(), "{v}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_that_keeps_failing_is_driven_max_attempts_times_then_parked() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |s| {
        fast(s);
        s.campaign.max_attempts = 2;
    })
    .await;
    let specs: Vec<_> = (0..3)
        .map(|i| generate(&format!("g-{i}"), &GenOptions::new(2, 2, i)))
        .collect();
    for s in &specs {
        env.add_c1(s).await;
    }
    // given configs-migration refusing every C1: each channels phase fails at once
    env.set_faults(conversations_sim::server::Faults {
        configs_status: Some(404),
        ..Default::default()
    })
    .await;
    let _w = spawn_worker(&env.settings);
    let c = start(
        &env,
        json!({ "rate_per_sec": 50, "deadline": deadline(30) }),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    // when the campaign has driven each as often as it may
    let v = wait(&env, &id, "done", |v| v["state"] == "done").await;
    // then each was started twice (a new run each time) and given up: parked, where operators
    // look, and the campaign is over
    assert_eq!(
        (v["parked"].clone(), v["failed"].clone()),
        (json!(3), json!(0)),
        "{v}"
    );
    assert_eq!(v["remaining"], 0, "{v}");
    let runs = runs_by_account(&env, "g-").await;
    assert!(runs.values().all(|n| *n == 2), "{runs:?}");
    let (_, parked) = env.admin(Method::GET, "/admin/parked", None).await;
    let listed = parked["parked"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{parked}");
    assert!(
        parked.to_string().contains("given up by the campaign"),
        "{parked}"
    );
    env.shutdown().await;
}
