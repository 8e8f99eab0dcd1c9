//! Failure semantics of the seed: channel-failure restarts, recent-messages-failure resumes,
//! messages-failure shows completed and is repaired, forced re-migration, concurrent /migrate,
//! transient faults (Conversations 5xx, DynamoDB throttling) that recover.

use conversations_sim::model::{generate, C1Spec, GenOptions};
use conversations_sim::server::Faults;
use migrator_testkit::dynamo_proxy::ProxyFaults;
use migrator_testkit::{verify, EnvOptions, TestEnv};
use reqwest::{Method, StatusCode};
use std::time::Duration;

fn spec(shopper: &str, threads: usize, messages: usize) -> C1Spec {
    generate(
        shopper,
        &GenOptions::new(threads, messages, 9).attachments(6, 1),
    )
}

async fn runs(env: &TestEnv) -> i64 {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use migrator_store::schema::migration_runs as r;
    r::table
        .count()
        .get_result(&mut env.db().await)
        .await
        .unwrap()
}

const T: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn channel_failure_then_the_apps_retry_restarts_and_completes() {
    let env = TestEnv::start().await;
    let s = spec("chfail", 6, 4);
    env.add_c1(&s).await;
    // transient 5xx for a while: retried, completes
    env.set_faults(Faults {
        rest_status: Some(502),
        rest_failures_left: Some(3),
        ..Default::default()
    })
    .await;
    env.post("chfail", "/migrate", None).await;
    env.wait_status("chfail", "completed", T).await;

    // configs-migration 404: a channel failure; the app's retry after recovery restarts
    let env2 = TestEnv::start().await;
    env2.add_c1(&s).await;
    env2.set_faults(Faults {
        configs_status: Some(404),
        ..Default::default()
    })
    .await;
    let (st, _) = env2.post("chfail", "/migrate", None).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    env2.wait_status("chfail", "channel-failure", T).await;
    let admin = env2.admin_view("chfail").await;
    assert!(
        admin["run"]["last_error"].as_str().unwrap().contains("404"),
        "{admin}"
    );
    env2.set_faults(Faults::default()).await;
    let (st, v) = env2.post("chfail", "/migrate", None).await;
    assert_eq!(
        (st, v["migration_status"].as_str()),
        (StatusCode::ACCEPTED, Some("migrating"))
    );
    env2.wait_status("chfail", "completed", T).await;
    verify::destination_equals_source(&env2, &s, |_| false).await;
    assert_eq!(runs(&env2).await, 2, "a restart is a new run");
    env2.shutdown().await;

    // persistent 500 outlasting the retries: channel-failure, then recovery completes it
    env.set_faults(Faults::default()).await;
    let s3 = spec("chfail3", 3, 2);
    env.add_c1(&s3).await;
    env.set_faults(Faults {
        configs_status: Some(500),
        ..Default::default()
    })
    .await;
    env.post("chfail3", "/migrate", None).await;
    env.wait_status("chfail3", "channel-failure", T).await;
    env.set_faults(Faults::default()).await;
    env.post("chfail3", "/migrate", None).await;
    env.wait_status("chfail3", "completed", T).await;
    verify::destination_equals_source(&env, &s3, |_| false).await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recent_messages_failure_resumes_without_fetching_channels_again() {
    let opts = EnvOptions {
        dynamo_proxy: true,
        ..Default::default()
    };
    // the verifier reads the configs too (after completion, racing the count below): off here,
    // where the copy is checked by the harness against the source
    let env = TestEnv::start_with(opts, |s| s.verify.after_migration = false).await;
    let s = spec("rmfail", 8, 5);
    env.add_c1(&s).await;
    let proxy = env.proxy.as_ref().unwrap();
    // every DynamoDB request fails: the channels phase (REST only) passes, the recent phase fails
    proxy.set(ProxyFaults {
        fail_when_body_has: Some(vec![String::new()]),
        ..Default::default()
    });
    env.post("rmfail", "/migrate", None).await;
    let seen = env
        .wait_status("rmfail", "recent-messages-failure", T)
        .await;
    assert!(
        seen.contains(&"channels-migrated".to_string()) || seen[0] == "migrating",
        "{seen:?}"
    );
    let configs_before = env.sim_stats().await.configs_calls;
    assert_eq!(configs_before, 1);
    proxy.set(ProxyFaults::default());
    let (st, v) = env.post("rmfail", "/migrate", None).await;
    assert_eq!(
        (st, v["migration_status"].as_str()),
        (StatusCode::ACCEPTED, Some("channels-migrated"))
    );
    env.wait_status("rmfail", "completed", T).await;
    assert_eq!(
        env.sim_stats().await.configs_calls,
        configs_before,
        "channels are not migrated again"
    );
    assert_eq!(runs(&env).await, 1, "a resume continues the run");
    verify::destination_equals_source(&env, &s, |_| false).await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_failure_shows_completed_and_is_repaired() {
    let env = TestEnv::with_dynamo_proxy().await;
    let s = spec("msfail", 10, 4);
    env.add_c1(&s).await;
    // the all-messages phase reads the threads table without the index: fail exactly that
    let threads = env.settings.dynamodb.threads_table.clone();
    env.proxy.as_ref().unwrap().set(ProxyFaults {
        fail_when_body_has: Some(vec![format!("\"TableName\":\"{threads}\"")]),
        except_body_has: Some("IndexName".into()),
        ..Default::default()
    });
    env.post("msfail", "/migrate", None).await;
    // the app is shown completed
    env.wait_status("msfail", "completed", T).await;
    env.wait_admin_status("msfail", "messages-failure", T).await;
    let (s2, list) = env
        .admin(
            Method::GET,
            "/admin/migrations?status=messages-failure",
            None,
        )
        .await;
    assert_eq!(s2, StatusCode::OK);
    assert_eq!(list["accounts"][0]["shopper_id"], "msfail", "{list}");
    let (_, acc) = env.get("msfail", "/accounts").await;
    assert_eq!(acc["accounts"][0]["migration_status"], "completed");

    env.proxy.as_ref().unwrap().set(ProxyFaults::default());
    let (st, v) = env
        .admin(Method::POST, "/admin/migrations/repair", None)
        .await;
    assert_eq!(
        (st, v["enqueued"].as_i64()),
        (StatusCode::ACCEPTED, Some(1)),
        "{v}"
    );
    env.wait_admin_status("msfail", "completed", T).await;
    verify::destination_equals_source(&env, &s, |_| false).await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_throttling_and_conversations_5xx_are_survived() {
    let env = TestEnv::with_dynamo_proxy().await;
    let s = spec("throttled", 15, 9);
    env.add_c1(&s).await;
    env.proxy.as_ref().unwrap().set(ProxyFaults {
        throttle_every: 3,
        ..Default::default()
    });
    env.set_faults(Faults {
        rest_status: Some(500),
        rest_failures_left: Some(4),
        media_status: None,
        ..Default::default()
    })
    .await;
    env.post("throttled", "/migrate", None).await;
    env.wait_admin_status("throttled", "completed", T).await;
    let (_, throttled, _) = env.proxy.as_ref().unwrap().counts();
    assert!(throttled > 5, "throttling was injected ({throttled})");
    verify::destination_equals_source(&env, &s, |_| false).await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_migrate_calls_start_one_migration() {
    let env = TestEnv::with_workers(2).await;
    let s = spec("twenty", 10, 5);
    env.add_c1(&s).await;
    let calls = (0..20).map(|_| env.post("twenty", "/migrate", None));
    let results = futures::future::join_all(calls).await;
    let accepted = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .count();
    assert_eq!(accepted, 1, "{results:?}");
    assert!(results.iter().all(|(s, _)| s.is_success()));
    env.wait_status("twenty", "completed", T).await;
    assert_eq!(runs(&env).await, 1);
    verify::destination_equals_source(&env, &s, |_| false).await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forced_remigration_while_running_leaves_exactly_one_copy() {
    let env = TestEnv::with_workers(2).await;
    let s = spec("remig", 40, 30);
    env.create_account("remig", "Shop").await;
    let (_, wc) = env
        .post(
            "remig",
            "/webchat/conversations",
            Some(serde_json::json!({"contact": {"name": "V"}, "body": "native"})),
        )
        .await;
    env.seed(&s).await;
    env.post("remig", "/migrate", None).await;
    env.wait_status("remig", "recent-messages-migrated", T)
        .await;
    let (st, v) = env
        .admin(Method::POST, "/admin/accounts/remig/remigrate", None)
        .await;
    assert_eq!(
        (st, v["migration_status"].as_str()),
        (StatusCode::ACCEPTED, Some("migrating")),
        "{v}"
    );
    env.wait_status("remig", "completed", T).await;
    verify::destination_equals_source(&env, &s, |_| false).await;
    // native web chat stayed
    let (st, _) = env
        .get(
            "remig",
            &format!(
                "/conversations/{}/messages",
                wc["conversation_id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    // and once more after completion
    env.admin(Method::POST, "/admin/accounts/remig/remigrate", None)
        .await;
    env.wait_status("remig", "completed", T).await;
    verify::destination_equals_source(&env, &s, |_| false).await;
    let (_, status) = env.get("remig", "/check-migration-status").await;
    assert_eq!(status["progress"]["messages_migrated"], 1200, "{status}");
    env.shutdown().await;
}
