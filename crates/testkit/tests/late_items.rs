//! A living source (`spec/source-contract.md` section 5): messages and threads that land in
//! Conversations after the switch — during the phases, after the completion, in a
//! re-migration — are each in the inbox once by the end of the settle window; the app keeps
//! `completed`; catch-ups are counted, on the timeline, and survive a worker killed in the
//! middle of one; the verification comes after the window and says `match`.

use conversations_sim::model::{generate, GenOptions};
use migrator_testkit::late::{land_message, land_thread};
use migrator_testkit::process::{kill9, spawn_worker};
use migrator_testkit::{verify, EnvOptions, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

/// Polls the operators' view until `until` holds; returns it.
async fn wait_view(
    env: &TestEnv,
    shopper: &str,
    what: &str,
    until: impl Fn(&Value) -> bool,
) -> Value {
    let end = Instant::now() + T;
    loop {
        let v = env.admin_view(shopper).await;
        if until(&v) {
            return v;
        }
        assert!(Instant::now() < end, "{shopper} never {what}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Settled: no window open, `n` catch-ups done, the verification after them finished.
async fn settled(env: &TestEnv, shopper: &str, n: i64) -> Value {
    let v = wait_view(env, shopper, "settled", |v| {
        v["run"]["catch_ups"] == n && v["run"]["settling_until"].is_null()
    })
    .await;
    let verification = env.finished_verification(shopper, T).await;
    assert_eq!(verification["result"], "match", "{verification}");
    assert_eq!(verification["requested_by"], "auto");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn items_landing_during_and_after_the_phases_are_in_the_inbox_once_by_the_windows_end() {
    let env = TestEnv::start_with(EnvOptions::default(), |s| {
        s.conversations.settle_window_secs = 6;
    })
    .await;
    let mut s = generate("late", &GenOptions::new(30, 6, 41));
    env.add_c1(&s).await;
    let (st, _) = env.post("late", "/migrate", None).await;
    assert!(st.is_success());
    // during the phases
    let during = land_message(&env, &mut s, 0, "landed during the phases").await;
    env.wait_status("late", "completed", T).await;
    let v = env.admin_view("late").await;
    assert!(
        v["run"]["settling_until"].is_string(),
        "operators see the window open: {v}"
    );
    // after the completion, within the window: before its middle and after it
    let after = land_message(&env, &mut s, 3, "landed after the completion").await;
    let thread = land_thread(&env, &mut s, 7).await;
    wait_view(&env, "late", "caught up once", |v| {
        v["run"]["catch_ups"] == 1
    })
    .await;
    let last = land_message(&env, &mut s, 5, "landed late in the window").await;
    let v = settled(&env, "late", 2).await;
    assert_eq!(v["app_migration_status"], "completed");
    // each exactly once, with everything else: the copy equals the source after the window
    verify::destination_equals_source(&env, &s, |_| false).await;
    let mut db = env.db().await;
    for id in [&during, &after, &last, &format!("{thread}-m6")] {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use migrator_store::schema::messages as m;
        let n: i64 = m::table
            .filter(m::source_id.eq(migrator_core::text::ExactText::from(id.as_str())))
            .count()
            .get_result(&mut db)
            .await
            .unwrap();
        assert_eq!(n, 1, "{id} once");
    }
    // the run's figures count them; the timeline shows each catch-up with what it moved
    let expected: usize = s
        .threads
        .iter()
        .filter(|t| t.channel_type != "webchat")
        .map(|t| t.messages.len())
        .sum();
    assert_eq!(
        v["run"]["figures"]["messages_migrated"], expected as i64,
        "{v}"
    );
    let (_, h) = env
        .admin(Method::GET, "/admin/accounts/late/history", None)
        .await;
    let caught: Vec<&Value> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "caught_up")
        .collect();
    assert_eq!(caught.len(), 2, "{h}");
    assert!(
        caught
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("1 new threads")),
        "the new thread counted: {caught:?}"
    );
    // nothing lands after the window: a verification now still matches
    let (_, p) = env.admin(Method::GET, "/admin/program", None).await;
    assert_eq!(p["settling"], 0, "{p}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_remigration_inside_the_window_settles_on_the_first_switch() {
    let env = TestEnv::start_with(EnvOptions::default(), |s| {
        s.conversations.settle_window_secs = 6;
    })
    .await;
    let mut s = generate("late-re", &GenOptions::new(12, 4, 43));
    env.add_c1(&s).await;
    env.post("late-re", "/migrate", None).await;
    env.wait_status("late-re", "completed", T).await;
    land_message(&env, &mut s, 1, "before the re-migration").await;
    let (st, _) = env
        .admin(Method::POST, "/admin/accounts/late-re/remigrate", None)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    land_message(&env, &mut s, 2, "during the re-migration").await;
    env.wait_admin_status("late-re", "completed", T).await;
    land_thread(&env, &mut s, 3).await;
    // the new run settles: its catch-ups copy what landed since the first switch
    wait_view(&env, "late-re", "settled", |v| {
        v["run"]["settling_until"].is_null() && v["run"]["catch_ups"].as_i64() >= Some(1)
    })
    .await;
    let verification = env.finished_verification("late-re", T).await;
    assert_eq!(verification["result"], "match", "{verification}");
    verify::destination_equals_source(&env, &s, |_| false).await;
    env.shutdown().await;
}

/// A worker killed while it copies late items: its catch-up hop is redelivered and taken over,
/// resumes from its checkpoint, and writes nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_in_a_catch_up_loses_and_duplicates_nothing() {
    let env = TestEnv::start_with(EnvOptions::no_workers(), |s| {
        s.conversations.settle_window_secs = 3;
        s.worker.write_batch = 20;
    })
    .await;
    let mut s = generate("late-kill", &GenOptions::new(6, 3, 47));
    env.add_c1(&s).await;
    let mut first = spawn_worker(&env.settings);
    env.post("late-kill", "/migrate", None).await;
    env.wait_status("late-kill", "completed", T).await;
    // a long late thread: its catch-up writes pages (50 messages each) for a while
    land_thread(&env, &mut s, 3_000).await;
    wait_view(&env, "late-kill", "catching up", |v| {
        v["run"]["phase"] == "catch-up"
    })
    .await;
    // part of it written: the catch-up is mid-way when its worker dies
    wait_view(&env, "late-kill", "partly caught up", |v| {
        v["run"]["figures"]["messages_migrated"].as_i64() > Some(18 + 100)
    })
    .await;
    kill9(&mut first);
    let mut second = spawn_worker(&env.settings);
    settled(&env, "late-kill", 2).await;
    verify::destination_equals_source(&env, &s, |_| false).await;
    kill9(&mut second);
    env.shutdown().await;
}

/// An operator's verification while the window is open says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_verification_inside_the_window_says_it_is_open() {
    let env = TestEnv::start_with(EnvOptions::default(), |s| {
        s.conversations.settle_window_secs = 30;
    })
    .await;
    let s = generate("late-open", &GenOptions::new(4, 2, 49));
    env.add_c1(&s).await;
    env.post("late-open", "/migrate", None).await;
    env.wait_status("late-open", "completed", T).await;
    let (st, v) = env
        .admin(
            Method::POST,
            "/admin/accounts/late-open/verify?wait_secs=20",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["settling_until"].is_string(), "{v}");
    env.shutdown().await;
}
