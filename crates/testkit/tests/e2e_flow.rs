//! The whole migration, end to end, on real services: app -> api -> RabbitMQ -> worker hops ->
//! Postgres, with the simulator playing Conversations over DynamoDB (dynalite) and STS (moto).

use conversations_sim::model::{generate, C1Spec, GenOptions, MessageSpec, ThreadSpec};
use migrator_testkit::{verify, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

const SEED_ORDER: [&str; 4] = [
    "migrating",
    "channels-migrated",
    "recent-messages-migrated",
    "completed",
];

fn in_seed_order(seen: &[String]) {
    let mut last = None;
    for s in seen.iter().filter(|s| *s != "not-started") {
        let i = SEED_ORDER
            .iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("unexpected status {s} in {seen:?}"));
        assert!(
            last.is_none_or(|l| i > l),
            "statuses out of order: {seen:?}"
        );
        last = Some(i);
    }
    assert_eq!(seen.last().map(String::as_str), Some("completed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_c1_travels_the_whole_path() {
    // given a C1 with native web chat in re:amaze and its history in Conversations
    let env = TestEnv::start().await;
    let shopper = "full-flow_1";
    let created = env.create_account(shopper, "Acme").await;
    assert_eq!(created["migration_status"], "not-started");
    let webchat_channel = created["brands"][0]["channels"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let webchat = native_web_chat(&env, shopper).await;
    let spec = history(shopper, &webchat);
    env.seed(&spec).await;
    let (s, acc) = env.get(shopper, "/accounts").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(acc["accounts"][0]["migration_status"], "not-started");
    // when the app starts the migration
    let (s, v) = env.post(shopper, "/migrate", None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["migration_status"], "migrating");
    let seen = env
        .wait_status(shopper, "completed", Duration::from_secs(90))
        .await;
    // then it goes through every status in order, once, and the copy is the source
    in_seed_order(&seen);
    let (s, v) = env.post(shopper, "/migrate", None).await;
    assert_eq!(
        (s, v["migration_status"].as_str()),
        (StatusCode::OK, Some("completed")),
        "a second /migrate starts no other migration"
    );
    let (convs, msgs) = verify::destination_equals_source(&env, &spec, |_| false).await;
    assert_eq!((convs, msgs), (12, 84));
    channels_are_matched_and_secrets_stay_sealed(&env, shopper, &webchat_channel).await;
    web_chat_keeps_its_rows_and_takes_the_stars(&env, shopper, &webchat).await;
    the_figures_add_up(&env, shopper).await;
    env.shutdown().await;
}

/// A native web chat conversation of two messages: (conversation id, message ids).
async fn native_web_chat(env: &TestEnv, shopper: &str) -> (String, String, String) {
    let (s, wc) = env
        .post(
            shopper,
            "/webchat/conversations",
            Some(json!({"contact": {"name": "Visitor"}, "body": "Hi there"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{wc}");
    let wc_conv = wc["conversation_id"].as_str().unwrap().to_string();
    let wc_msg1 = wc["message_id"].as_str().unwrap().to_string();
    let (s, m2) = env
        .post(
            shopper,
            &format!("/webchat/conversations/{wc_conv}/messages"),
            Some(json!({"body": "Answer", "direction": "outbound"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let wc_msg2 = m2["message_id"].as_str().unwrap().to_string();
    (wc_conv, wc_msg1, wc_msg2)
}

/// The C1's history: generated threads with Unicode edge cases and U+0000 in every kind of
/// text field, an attachment-only message, and the web chat thread mirroring `webchat`.
fn history(shopper: &str, webchat: &(String, String, String)) -> C1Spec {
    let (wc_conv, wc_msg1, wc_msg2) = webchat.clone();
    let opts = GenOptions::new(12, 7, 42).attachments(5, 1).malformed(2);
    let mut spec = generate(shopper, &opts);
    // Unicode edge cases, an attachment-only message, and the web chat thread's starred flags
    spec.threads[1].messages[0].body =
        Some("NUL\u{0}inside, emoji 👩‍👩‍👧, RTL \u{202e}txet, ZWJ\u{200d}, 𝕌𝕟𝕚𝕔𝕠𝕕𝕖".into());
    spec.threads[1].messages[1].body = Some(String::new());
    // U+0000 (and U+0001, the stored form's escape) in every kind of text field: kept exactly
    spec.threads[1].subject = Some("sub\u{0}ject \u{1}\u{1} end\u{0}".into());
    spec.threads[1].contact = Some((
        Some("Ana\u{0}Mar\u{1}ía".into()),
        Some("+1\u{0}480".into()),
        Some("\u{0}a@b.example".into()),
    ));
    spec.threads[1].messages[2].author_name = Some("Bob\u{0}\u{1}\u{2}".into());
    spec.brands[0].name = format!("{}\u{0} (NUL)", spec.brands[0].name);
    if let Some(ch) = spec.brands[0]
        .channels
        .iter_mut()
        .find(|c| c.kind != "webchat")
    {
        ch.name = format!("{}\u{0}\u{1}", ch.name);
    }
    let t = now_ms() - 3_600_000;
    spec.threads.push(ThreadSpec {
        thread_id: format!("{shopper}-wc"),
        channel_id: format!("{shopper}-webchat"),
        channel_type: "webchat".into(),
        contact: None,
        subject: None,
        status: "open".into(),
        starred: Some(true),
        created_at: t,
        last_message_at: t,
        webchat_conversation_id: Some(wc_conv.clone()),
        messages: vec![
            MessageSpec {
                message_id: "wcm1".into(),
                direction: "inbound".into(),
                author_name: None,
                body: Some("Hi there".into()),
                sent_at: t,
                starred: Some(true),
                attachments: vec![],
                telephony: None,
                webchat_message_id: Some(wc_msg1.clone()),
            },
            MessageSpec {
                message_id: "wcm2".into(),
                direction: "outbound".into(),
                author_name: None,
                body: Some("Answer".into()),
                sent_at: t + 1,
                starred: None,
                attachments: vec![],
                telephony: None,
                webchat_message_id: Some(wc_msg2.clone()),
            },
        ],
    });
    spec
}

/// The web chat channel was matched, not duplicated; every channel kind moved; secrets never
/// come back and are encrypted at rest.
async fn channels_are_matched_and_secrets_stay_sealed(
    env: &TestEnv,
    shopper: &str,
    webchat_channel: &str,
) {
    let (_, acc) = env.get(shopper, "/accounts").await;
    let text = acc.to_string();
    assert!(
        !text.contains("SECRET") && !text.contains("provider_token"),
        "{text}"
    );
    let channels: Vec<_> = acc["accounts"][0]["brands"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["channels"].as_array().unwrap().clone())
        .collect();
    assert_eq!(
        channels.iter().filter(|c| c["kind"] == "webchat").count(),
        1
    );
    assert!(channels.iter().any(|c| c["id"] == webchat_channel));
    for kind in ["sms", "email", "voice", "whatsapp", "tiktok"] {
        assert!(
            channels.iter().any(|c| c["kind"] == kind),
            "{kind} channel migrated"
        );
    }
    {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use migrator_store::schema::channels as ch;
        let mut db = env.db().await;
        let sealed: Vec<Option<Vec<u8>>> = ch::table
            .filter(ch::kind.eq("sms"))
            .select(ch::credentials_enc)
            .load(&mut db)
            .await
            .unwrap();
        assert!(!sealed.is_empty());
        for s in sealed {
            let s = s.expect("credentials stored");
            assert!(
                !s.windows(6).any(|w| w == b"SECRET"),
                "credentials are encrypted at rest"
            );
        }
    }
}

/// Web chat: only starred flags carried over, no copies; the inbox is newest first.
async fn web_chat_keeps_its_rows_and_takes_the_stars(
    env: &TestEnv,
    shopper: &str,
    (wc_conv, _, _): &(String, String, String),
) {
    let convs = verify::all_pages(env, shopper, "/conversations", "conversations").await;
    assert_eq!(convs.len(), 13);
    let native = convs.iter().find(|c| c["id"] == wc_conv.as_str()).unwrap();
    assert_eq!(native["starred"], true);
    assert_eq!(native["message_count"], 2);
    let wc_msgs = verify::all_pages(
        env,
        shopper,
        &format!("/conversations/{wc_conv}/messages"),
        "messages",
    )
    .await;
    assert_eq!(wc_msgs.len(), 2);
    assert_eq!(wc_msgs[0]["starred"], true);
    assert_eq!(wc_msgs[1]["starred"], false);
    // newest first
    let times: Vec<&str> = convs
        .iter()
        .map(|c| c["last_message_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
}

/// The app's and the operators' figures: threads, messages, attachments, rejects.
async fn the_figures_add_up(env: &TestEnv, shopper: &str) {
    let (s, st) = env.get(shopper, "/check-migration-status").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(st["progress"]["threads_migrated"], 12);
    assert_eq!(st["progress"]["messages_migrated"], 84);
    assert_eq!(st["progress"]["attachments_failed"], 1);
    let (_, admin) = env
        .admin(
            Method::GET,
            &format!("/admin/accounts/{shopper}/migration"),
            None,
        )
        .await;
    assert_eq!(admin["migration_status"], "completed");
    assert_eq!(admin["run"]["figures"]["rejects"], 2, "{admin}");
    assert!(
        admin["run"]["figures"]["attachments_stored"]
            .as_i64()
            .unwrap()
            >= 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_c1_never_in_conversations_goes_straight_to_completed() {
    let env = TestEnv::start().await;
    env.create_account("never-there", "New shop").await;
    let (s, v) = env.get("never-there", "/accounts").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["accounts"][0]["migration_status"], "completed");
    let (s, v) = env.post("never-there", "/migrate", None).await;
    assert_eq!(
        (s, v["migration_status"].as_str()),
        (StatusCode::OK, Some("completed"))
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_accounts_answers_when_conversations_is_down() {
    let env = TestEnv::start().await;
    env.create_account("down-1", "Shop").await;
    env.set_faults(conversations_sim::server::Faults {
        rest_status: Some(503),
        ..Default::default()
    })
    .await;
    let (s, v) = env.get("down-1", "/accounts").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accounts"][0]["migration_status"], "not-started");
    env.sim.handle.stop(true).await;
    let (s, v) = env.get("down-1", "/accounts").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accounts"][0]["migration_status"], "not-started");
    env.shutdown().await;
}
