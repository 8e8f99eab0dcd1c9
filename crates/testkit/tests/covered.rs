//! A recent phase that moved every thread of the C1 leaves nothing to the all-messages phase:
//! the migration completes from the recent hop, no all-messages hop is recorded, and the copy
//! is exact (and verified). One thread older than `recent_days`, or a thread item the recent
//! index cannot list (no `last_message_at`), and the all-messages phase runs — reading again
//! only the messages of threads the recent phase did not move.

use conversations_sim::model::{generate, C1Spec, GenOptions};
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use migrator_testkit::dynamo_proxy::ProxyFaults;
use migrator_testkit::{verify, TestEnv};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);
const DAY: i64 = 86_400_000;

/// A C1 whose threads all fall inside the recent window (the generator spreads them over 120
/// days: each thread is moved, all its times together, into the last 20).
fn all_recent(shopper: &str, threads: usize, seed: u64) -> C1Spec {
    let mut spec = generate(shopper, &GenOptions::new(threads, 4, seed));
    let now = chrono::Utc::now().timestamp_millis();
    for t in &mut spec.threads {
        let age = now - t.last_message_at;
        let shift = age - age / 6; // 120 days back become 20
        t.created_at += shift;
        t.last_message_at += shift;
        for m in &mut t.messages {
            m.sent_at += shift;
        }
    }
    spec
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// All-messages hops recorded for the C1 (the outbox keeps every hop a phase end recorded).
async fn all_messages_hops(env: &TestEnv, shopper: &str) -> i64 {
    let mut db = env.db().await;
    diesel::sql_query(
        "SELECT count(*) AS n FROM outbox o JOIN accounts a \
           ON a.id::text = o.payload->>'account_id' \
         WHERE a.shopper_id = $1 AND o.payload->>'phase' = 'all-messages'",
    )
    .bind::<Text, _>(shopper)
    .get_result::<N>(&mut db)
    .await
    .unwrap()
    .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recent_threads_that_are_every_thread_complete_the_migration() {
    let env = TestEnv::with_dynamo_proxy().await;

    // every thread recent: completed from the recent hop
    let covered = all_recent("covered", 6, 41);
    env.add_c1(&covered).await;
    env.post("covered", "/migrate", None).await;
    let seen = env.wait_status("covered", "completed", T).await;
    assert!(
        !seen.iter().any(|s| s == "recent-messages-migrated"),
        "the status goes from channels-migrated to completed: {seen:?}"
    );
    assert_eq!(all_messages_hops(&env, "covered").await, 0);
    let admin = env.admin_view("covered").await;
    assert!(
        admin["run"]["recent_messages_migrated_at"].is_string(),
        "{admin}"
    );
    assert!(admin["run"]["completed_at"].is_string(), "{admin}");
    let (threads, messages) = verify::destination_equals_source(&env, &covered, |_| false).await;
    assert_eq!((threads, messages), (6, 24));
    let v = env.finished_verification("covered", T).await;
    assert_eq!(
        (v["status"].as_str(), v["result"].as_str()),
        (Some("done"), Some("match")),
        "{v}"
    );

    // one thread older than the recent window: the all-messages phase moves it, and does not
    // read again the messages of a thread the recent phase moved
    let mut older = all_recent("older", 6, 42);
    let watched = format!("\":t\":{{\"S\":\"{}\"}}", older.threads[0].thread_id);
    env.proxy.as_ref().unwrap().set(ProxyFaults {
        watch_body_has: Some(watched),
        ..Default::default()
    });
    let t = &mut older.threads[2];
    let back = 40 * DAY;
    t.created_at -= back;
    t.last_message_at -= back;
    for m in &mut t.messages {
        m.sent_at -= back;
    }
    env.add_c1(&older).await;
    env.post("older", "/migrate", None).await;
    env.wait_admin_status("older", "completed", T).await;
    assert_eq!(all_messages_hops(&env, "older").await, 1);
    verify::destination_equals_source(&env, &older, |_| false).await;
    let v = env.finished_verification("older", T).await;
    assert_eq!(v["result"], "match", "{v}");
    // one page of messages: read by the recent phase and by the verifier, not by all-messages
    assert_eq!(env.proxy.as_ref().unwrap().watched(), 2);

    // a thread item the recent index cannot list: the all-messages phase finds it (a reject)
    let mut unlisted = all_recent("unlisted", 6, 43);
    let now = chrono::Utc::now().timestamp_millis();
    unlisted.malformed.push((
        "threads".into(),
        json!({"shopper_id": {"S": "unlisted"}, "thread_id": {"S": "no-time"},
               "channel_id": {"S": unlisted.threads[0].channel_id}, "channel_type": {"S": "sms"},
               "status": {"S": "open"}, "created_at": {"N": now.to_string()}}),
    ));
    env.add_c1(&unlisted).await;
    env.post("unlisted", "/migrate", None).await;
    env.wait_admin_status("unlisted", "completed", T).await;
    assert_eq!(all_messages_hops(&env, "unlisted").await, 1);
    verify::destination_equals_source(&env, &unlisted, |_| false).await;
    let mut db = env.db().await;
    let rejected = diesel::sql_query(
        "SELECT count(*) AS n FROM rejects r JOIN accounts a ON a.id = r.account_id \
         WHERE a.shopper_id = 'unlisted' AND r.source_key LIKE '%no-time'",
    )
    .get_result::<N>(&mut db)
    .await
    .unwrap()
    .n;
    assert_eq!(rejected, 1, "the unlisted thread is a recorded reject");
    env.shutdown().await;
}
