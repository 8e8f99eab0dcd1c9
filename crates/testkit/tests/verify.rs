//! The verifier against real services: an untouched account matches (verified by itself after
//! the all-messages phase), and tampering with the destination in Postgres afterwards — a
//! message deleted, a body changed, a star flipped, a thread deleted, a message added, a thread added — is
//! reported with the right source keys when an operator asks again (`migratorctl verify`),
//! without changing what the app sees. A permanent source failure fails a verification at its
//! first try; a transient one holds it back before the next.

use conversations_sim::model::{generate, C1Spec, GenOptions};
use conversations_sim::server::Faults;
use diesel_async::RunQueryDsl;
use migrator_testkit::process::binary;
use migrator_testkit::TestEnv;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

/// The latest verification once it is done (or failed).
async fn finished(env: &TestEnv, shopper: &str) -> Value {
    env.finished_verification(shopper, T).await
}

async fn sql(env: &TestEnv, q: &str) -> usize {
    let mut db = env.db().await;
    diesel::sql_query(q).execute(&mut db).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_untouched_copy_matches_and_each_tampering_is_reported_by_its_source_key() {
    // given a migrated C1, its pages of 4 items (threads and messages both span pages)
    let env = TestEnv::start_with(Default::default(), |s| s.dynamodb.page_size = 4).await;
    let spec = generate(
        "verified",
        &GenOptions::new(10, 6, 23).attachments(4, 1).malformed(3),
    );
    env.add_c1(&spec).await;
    env.post("verified", "/migrate", None).await;
    env.wait_admin_status("verified", "completed", T).await;
    // then it was verified by itself, and matches; an operator's request agrees
    the_automatic_verification_matches(&env, &spec).await;
    an_operators_request_is_answered_in_time(&env).await;
    // when the copy is tampered with
    let expected = tamper(&env, &spec).await;
    // then an operator asking again from the command line gets each change by its source key
    let v = verify_from_the_command_line(&env).await;
    each_tampering_is_reported(&v, &expected);
    // and operators find it, while the app sees nothing of it
    let (_, l) = env
        .admin(
            reqwest::Method::GET,
            "/admin/migrations?verification=diff",
            None,
        )
        .await;
    assert_eq!(l["total_count"], 1, "{l}");
    let (_, st) = env.get("verified", "/check-migration-status").await;
    assert_eq!(st["migration_status"], "completed", "{st}");
    assert_eq!(st["progress"]["percent"], 100, "{st}");
    env.shutdown().await;
}

/// Verified by itself after the all-messages phase: rejects are not differences; every valid
/// thread and message was checked; the run and the operators' list show it.
async fn the_automatic_verification_matches(env: &TestEnv, spec: &C1Spec) {
    let v = finished(env, "verified").await;
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["result"], "match", "{v}");
    assert_eq!(v["requested_by"], "auto", "{v}");
    assert_eq!(v["diff_count"], 0, "{v}");
    let threads = spec
        .threads
        .iter()
        .filter(|t| t.channel_type != "webchat")
        .count();
    assert_eq!(v["checked"]["threads"], threads, "{v}");
    let messages: usize = spec.threads.iter().map(|t| t.messages.len()).sum();
    assert_eq!(v["checked"]["messages"], messages, "{v}");
    assert!(v["checked"]["attachments"].as_i64().unwrap() > 0, "{v}");
    assert!(v["checked"]["channels"].as_i64().unwrap() > 0, "{v}");
    let view = env.admin_view("verified").await;
    assert_eq!(view["run"]["verification"], "match", "{view}");
    let (_, l) = env
        .admin(
            reqwest::Method::GET,
            "/admin/migrations?verification=match",
            None,
        )
        .await;
    assert_eq!(l["accounts"][0]["shopper_id"], "verified", "{l}");
}

/// An operator's own request is answered with the result when it comes in time; no request is
/// held past 30 s.
async fn an_operators_request_is_answered_in_time(env: &TestEnv) {
    let (s, v) = env.verify_waiting("verified").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["result"].as_str(), v["requested_by"].as_str()),
        (Some("match"), Some("operator")),
        "{v}"
    );
    let (s, v) = env
        .admin(
            reqwest::Method::POST,
            "/admin/accounts/verified/verify?wait_secs=31",
            None,
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["error"].as_str()),
        (400, Some("invalid_wait")),
        "{v}"
    );
}

/// Runs `q`, which must change exactly one row.
async fn change_one(env: &TestEnv, q: &str) {
    assert_eq!(sql(env, q).await, 1, "{q}");
}

/// Tampers with the copy in Postgres: a message deleted, a body changed, a star flipped on a
/// thread's second page, a thread's star flipped, a thread deleted, a message and a thread
/// planted. Returns each difference the verifier must report: (kind, source key).
async fn tamper(env: &TestEnv, spec: &C1Spec) -> Vec<(String, String)> {
    let t0 = &spec.threads[0];
    let (t1, t2, t3) = (&spec.threads[1], &spec.threads[2], &spec.threads[3]);
    let deleted = t0.messages[1].clone();
    let changed = t1.messages[0].clone();
    let changed_later = t1.messages[5].clone(); // on the thread's second page
    let m = |id: &str| format!("WHERE source_id = '{id}'");
    change_one(
        env,
        &format!("DELETE FROM messages {}", m(&deleted.message_id)),
    )
    .await;
    change_one(
        env,
        &format!(
            "UPDATE messages SET body = convert_to('tampered', 'UTF8') {}",
            m(&changed.message_id)
        ),
    )
    .await;
    change_one(
        env,
        &format!(
            "UPDATE messages SET starred = NOT starred {}",
            m(&changed_later.message_id)
        ),
    )
    .await;
    change_one(
        env,
        &format!(
            "UPDATE conversations SET starred = NOT starred {}",
            m(&t2.thread_id)
        ),
    )
    .await;
    change_one(
        env,
        &format!("DELETE FROM conversations {}", m(&t3.thread_id)),
    )
    .await;
    change_one(
        env,
        &format!(
            "INSERT INTO messages (id, account_id, conversation_id, source_id, source_sort, \
                                   direction, body, sent_at) \
             SELECT gen_random_uuid(), account_id, conversation_id, 'planted', 'zz', 'inbound', \
                    NULL, now() FROM messages {}",
            m(&t1.messages[1].message_id)
        ),
    )
    .await;
    change_one(
        env,
        &format!(
            "INSERT INTO conversations (id, account_id, channel_id, source_id, status, \
                                        created_at, last_message_at) \
             SELECT gen_random_uuid(), account_id, channel_id, 'planted-thread', status, \
                    created_at, last_message_at FROM conversations {}",
            m(&t1.thread_id)
        ),
    )
    .await;
    let key = |t: &str, m: &conversations_sim::model::MessageSpec| format!("{t}#{}", m.sort_key());
    vec![
        ("missing_message".into(), key(&t0.thread_id, &deleted)),
        ("changed_message".into(), key(&t1.thread_id, &changed)),
        ("changed_message".into(), key(&t1.thread_id, &changed_later)),
        ("changed_thread".into(), t2.thread_id.clone()),
        ("missing_thread".into(), t3.thread_id.clone()),
        ("extra_message".into(), format!("{}#planted", t1.thread_id)),
        ("extra_thread".into(), "planted-thread".into()),
    ]
}

/// `migratorctl verify verified`: asks again and waits for the result.
async fn verify_from_the_command_line(env: &TestEnv) -> Value {
    let out = Command::new(binary("migratorctl"))
        .args(["verify", "verified", "--timeout", "2m"])
        .env("MIGRATOR_ADMIN_URL", &env.admin_url)
        .env("MIGRATOR_ADMIN_TOKEN", env.admin_token())
        .output()
        .expect("migratorctl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // a verification that found differences exits 7 (docs/operations.md, exit statuses)
    assert_eq!(
        out.status.code(),
        Some(7),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap()
}

/// The result is a diff naming each expected difference by its source key, and nothing else;
/// a changed message's detail names its body, a changed thread's its star.
fn each_tampering_is_reported(v: &Value, expected: &[(String, String)]) {
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["result"], "diff", "{v}");
    let listed = v["diffs"].as_array().unwrap();
    let diffs: Vec<(String, String)> = listed
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().into(),
                d["source_key"].as_str().unwrap().into(),
            )
        })
        .collect();
    for want in expected {
        assert!(diffs.contains(want), "{want:?} reported: {diffs:?}");
    }
    assert_eq!(v["diff_count"], 7, "nothing else differs: {diffs:?}");
    let detail = |kind: &str| {
        listed.iter().find(|d| d["kind"] == kind).unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(detail("changed_message").starts_with("body:"), "{v}");
    assert!(detail("changed_thread").starts_with("starred:"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_to_verify_before_a_migration() {
    let env = TestEnv::with_workers(0).await;
    let spec = generate("early", &GenOptions::new(3, 2, 5));
    env.add_c1(&spec).await;
    let (s, v) = env
        .admin(reqwest::Method::POST, "/admin/accounts/early/verify", None)
        .await;
    assert_eq!(s, 409, "{v}");
    let (s, _) = env
        .admin(
            reqwest::Method::GET,
            "/admin/accounts/early/verification",
            None,
        )
        .await;
    assert_eq!(s, 404);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permanent_source_failure_fails_a_verification_at_once_a_transient_one_waits() {
    let env = TestEnv::start_with(Default::default(), |s| {
        s.verify.after_migration = false;
        s.verify.retry_secs = 3600;
        // one call, no retries inside it: one 502 fails a try
        s.worker.max_call_retries = 0;
    })
    .await;
    let spec = generate("flaky", &GenOptions::new(3, 2, 5));
    env.add_c1(&spec).await;
    env.post("flaky", "/migrate", None).await;
    env.wait_admin_status("flaky", "completed", T).await;

    // Conversations no longer knows the C1: failed at the first try, not three
    env.set_faults(Faults {
        configs_status: Some(404),
        ..Default::default()
    })
    .await;
    let (s, v) = env.verify_waiting("flaky").await;
    assert_eq!(
        (s.as_u16(), v["status"].as_str()),
        (200, Some("failed")),
        "{v}"
    );
    assert_eq!(v["attempts"], 1, "{v}");
    assert!(v["error"].as_str().unwrap().contains("404"), "{v}");
    assert!(
        v["retry_at"].is_null() && v["verified_at"].is_string(),
        "{v}"
    );

    // one 502: open again, held back for retry_secs (an hour here), its error shown
    env.set_faults(Faults {
        rest_status: Some(502),
        rest_failures_left: Some(1),
        ..Default::default()
    })
    .await;
    let (s, v) = env
        .admin(reqwest::Method::POST, "/admin/accounts/flaky/verify", None)
        .await;
    assert_eq!(s, 202, "{v}");
    let deadline = tokio::time::Instant::now() + T;
    let held = loop {
        let (_, v) = env
            .admin(
                reqwest::Method::GET,
                "/admin/accounts/flaky/verification",
                None,
            )
            .await;
        if v["error"].is_string() {
            break v;
        }
        assert!(tokio::time::Instant::now() < deadline, "never tried: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        (held["status"].as_str(), held["attempts"].as_i64()),
        (Some("pending"), Some(1)),
        "{held}"
    );
    assert!(held["error"].as_str().unwrap().contains("502"), "{held}");
    assert!(held["verified_at"].is_null(), "{held}");
    let retry_at = chrono::DateTime::parse_from_rfc3339(held["retry_at"].as_str().unwrap())
        .expect("retry_at is a time");
    let ahead = retry_at.signed_duration_since(chrono::Utc::now());
    assert!(
        ahead > chrono::Duration::minutes(55),
        "held back {ahead}: {held}"
    );
    // the operator asking again does not wait for it: tried now, and it matches
    let (s, v) = env.verify_waiting("flaky").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["verification_id"], held["verification_id"], "{v}");
    assert_eq!(
        (
            v["status"].as_str(),
            v["result"].as_str(),
            v["attempts"].as_i64()
        ),
        (Some("done"), Some("match"), Some(2)),
        "{v}"
    );
    assert!(v["error"].is_null() && v["retry_at"].is_null(), "{v}");
    env.shutdown().await;
}

async fn preflight(env: &TestEnv, shopper: &str) -> (reqwest::StatusCode, Value) {
    let path = format!("/admin/accounts/{shopper}/preflight");
    env.admin(reqwest::Method::GET, &path, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_preflight_counts_the_source_and_estimates_from_the_fleets_rates() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut env = TestEnv::start_with(Default::default(), |s| s.api.preflight_max_counts = 3).await;
    let spec = generate("preflown", &GenOptions::new(8, 5, 31).attachments(3, 0));
    env.seed(&spec).await; // no re:amaze account needed
    let (s, p) = preflight(&env, "preflown").await;
    assert_eq!(s, 200, "{p}");
    let channels: usize = spec.brands.iter().map(|b| b.channels.len()).sum();
    let messages: usize = spec.threads.iter().map(|t| t.messages.len()).sum();
    assert_eq!(p["channels"], channels, "{p}");
    assert_eq!(p["threads"], spec.threads.len(), "{p}");
    assert_eq!(p["messages"], messages, "the threads' own counts: {p}");
    assert_eq!(p["messages_exact"], true, "{p}");
    assert!(p["attachments_estimate"].as_i64().unwrap() > 0, "{p}");
    assert!(
        p["estimated_seconds"].is_null(),
        "no finished run to measure yet: {p}"
    );

    // threads without their own counts are counted (3 at most), the rest estimated
    for t in &spec.threads {
        env.dynamo
            .update_item()
            .table_name(&env.tables.threads)
            .key("shopper_id", AttributeValue::S("preflown".into()))
            .key("thread_id", AttributeValue::S(t.thread_id.clone()))
            .update_expression("REMOVE message_count")
            .send()
            .await
            .unwrap();
    }
    let (_, p) = preflight(&env, "preflown").await;
    assert_eq!(p["threads_estimated"], spec.threads.len() - 3, "{p}");
    assert_eq!(p["messages_exact"], false, "{p}");
    assert_eq!(
        p["messages"], messages,
        "every thread has 5 messages: the mean is exact: {p}"
    );

    // once a migration has finished, the fleet's rates give a duration
    let other = generate("measured", &GenOptions::new(4, 3, 2));
    env.add_c1(&other).await;
    env.start_worker();
    env.post("measured", "/migrate", None).await;
    env.wait_admin_status("measured", "completed", T).await;
    let (_, p) = preflight(&env, "preflown").await;
    assert_eq!(p["measured_runs"], 1, "{p}");
    assert!(p["estimated_inbox_seconds"].as_f64().unwrap() >= 0.0, "{p}");
    assert!(p["estimated_seconds"].as_f64().unwrap() >= 0.0, "{p}");
    let (s, p) = preflight(&env, "nobody-here").await;
    assert_eq!(s, 404, "{p}");
    env.shutdown().await;
}
