//! Items at the edges of the source contract: wrong types, missing attributes, NULLs, unlisted
//! attributes, defective attachment entries, unknown channels, dangling web chat references and
//! a message id reused across threads. Each breach is a reject (raw item + reason); everything
//! valid is migrated.

use conversations_sim::model::{BrandSpec, C1Spec, ChannelSpec};
use migrator_testkit::{verify, TestEnv};
use serde_json::{json, Value};
use std::time::Duration;

fn thread(
    shopper: &str,
    id: &str,
    channel: &str,
    kind: &str,
    status: &str,
    extra: Value,
) -> (String, Value) {
    let now = chrono::Utc::now().timestamp_millis();
    let mut t = json!({"shopper_id": {"S": shopper}, "thread_id": {"S": id}, "channel_id": {"S": channel},
        "channel_type": {"S": kind}, "status": {"S": status}, "created_at": {"N": (now - 5000).to_string()},
        "last_message_at": {"N": now.to_string()}});
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    ("threads".into(), t)
}

fn message(shopper: &str, thread: &str, id: &str, at: i64, extra: Value) -> (String, Value) {
    let mut m = json!({"thread_id": {"S": thread}, "sort_key": {"S": format!("{at:013}#{id}")}, "message_id": {"S": id},
        "shopper_id": {"S": shopper}, "direction": {"S": "inbound"}, "sent_at": {"N": at.to_string()}});
    for (k, v) in extra.as_object().unwrap() {
        m[k] = v.clone();
    }
    ("messages".into(), m)
}

/// The app starts the C1's migration and it completes; the operators' view of it.
async fn migrated(env: &TestEnv, sh: &str) -> Value {
    env.post(sh, "/migrate", None).await;
    env.wait_status(sh, "completed", Duration::from_secs(60))
        .await;
    env.admin_view(sh).await
}

/// A channel of configs-migration.
fn channel(id: &str, kind: &str, name: &str) -> ChannelSpec {
    ChannelSpec {
        channel_id: id.into(),
        kind: kind.into(),
        name: name.into(),
        address: "+1".into(),
        settings: json!({}),
        credentials: json!({}),
    }
}

/// A C1 of one brand with `channels` and only raw items (`malformed`) in DynamoDB.
fn raw_c1(sh: &str, channels: Vec<ChannelSpec>, items: Vec<(String, Value)>) -> C1Spec {
    C1Spec {
        shopper_id: sh.into(),
        needs_migration: true,
        brands: vec![BrandSpec {
            brand_id: "b1".into(),
            name: "Edges".into(),
            website: None,
            channels,
        }],
        threads: vec![],
        malformed: items,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_breaches_are_rejects_and_the_rest_migrates() {
    // given a C1 whose items break the contract in every way it allows
    let env = TestEnv::start().await;
    let sh = "edges";
    env.create_account(sh, "Edges").await;
    let at = chrono::Utc::now().timestamp_millis() - 100_000;
    env.seed(&breaches(sh, at)).await;
    // when it is migrated
    let admin = migrated(&env, sh).await;
    // then each breach is a reject with its reason and raw item, and the rest migrates
    let f = &admin["run"]["figures"];
    assert_eq!(f["rejects"], 6, "m2, dup m1, T3, T4, T5, T6: {admin}");
    assert_eq!(f["messages_migrated"], 3, "{admin}");
    assert_eq!(f["threads_migrated"], 2, "{admin}");
    assert_eq!(f["attachments_failed"], 2, "{admin}");
    each_breach_is_a_reject_with_its_reason(&env, at).await;
    the_valid_items_migrate(&env, sh).await;
    env.shutdown().await;
}

/// Threads and messages breaking the contract: wrong types, NULLs, unlisted attributes,
/// defective attachment entries, a message id reused across threads, an unknown channel, a
/// dangling web chat reference, an unknown status, a starred flag that is text.
fn breaches(sh: &str, at: i64) -> C1Spec {
    let sms = ChannelSpec {
        credentials: json!({"k": "v"}),
        ..channel("sms1", "sms", "SMS")
    };
    raw_c1(
        sh,
        vec![sms, channel("wc1", "webchat", "Chat")],
        vec![
            thread(
                sh,
                "T1",
                "sms1",
                "sms",
                "open",
                json!({"subject": {"NULL": true}, "color": {"S": "blue"},
                "contact": {"M": {"name": {"S": "Ann"}, "nickname": {"S": "A"}}}}),
            ),
            message(sh, "T1", "m1", at, json!({"body": {"S": "ok"}})),
            message(sh, "T1", "m2", at + 1, json!({"body": {"N": "5"}})),
            message(
                sh,
                "T1",
                "m3",
                at + 2,
                json!({"body": {"S": ""}, "author_name": {"NULL": true}, "campaign": {"S": "x"}}),
            ),
            message(
                sh,
                "T1",
                "m4",
                at + 3,
                json!({"attachments": {"L": [{"S": "not a map"}, {"M": {"file_name": {"S": "f"}}}]}}),
            ),
            // older than T1 (whose last message is "now"), so T1 is read first and T2's m1 is
            // the reused id, whatever the clock did between the two items
            thread(
                sh,
                "T2",
                "sms1",
                "sms",
                "closed",
                json!({"last_message_at": {"N": (at + 4).to_string()}}),
            ),
            message(
                sh,
                "T2",
                "m1",
                at + 4,
                json!({"body": {"S": "same id as in T1"}}),
            ),
            thread(sh, "T3", "no-such-channel", "sms", "open", json!({})),
            thread(
                sh,
                "T4",
                "wc1",
                "webchat",
                "open",
                json!({"webchat_conversation_id": {"S": uuid::Uuid::new_v4().to_string()}}),
            ),
            thread(sh, "T5", "sms1", "sms", "pending", json!({})),
            thread(
                sh,
                "T6",
                "sms1",
                "sms",
                "open",
                json!({"starred": {"S": "yes"}}),
            ),
        ],
    )
}

/// Each reject names its cause; the raw item is kept.
async fn each_breach_is_a_reject_with_its_reason(env: &TestEnv, at: i64) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use migrator_store::schema::rejects as r;
    let mut db = env.db().await;
    let rows: Vec<(String, String, Value)> = r::table
        .select((r::source_key, r::reason, r::raw))
        .load(&mut db)
        .await
        .unwrap();
    let reason = |key: &str| {
        rows.iter()
            .find(|(k, _, _)| k.contains(key))
            .map(|(_, r, _)| r.clone())
            .unwrap_or_else(|| panic!("reject {key} in {rows:?}"))
    };
    assert!(reason("m2").contains("body"));
    assert!(reason("T3").contains("channel"));
    assert!(reason("T4").contains("webchat_conversation_id"));
    assert!(reason("T5").contains("status"));
    assert!(reason("T6").contains("starred"));
    assert!(reason(&format!("T2#{:013}#m1", at + 4)).contains("already migrated"));
    let raw = &rows.iter().find(|(k, _, _)| k.contains("m2")).unwrap().2;
    assert_eq!(raw["body"]["N"], "5", "the raw item is kept");
}

/// The valid threads and messages are in the inbox, bodies and metadata as sent, defective
/// attachments failed.
async fn the_valid_items_migrate(env: &TestEnv, sh: &str) {
    let convs = verify::all_pages(env, sh, "/conversations", "conversations").await;
    assert_eq!(convs.len(), 2);
    let t1 = convs.iter().find(|c| c["message_count"] == 3).expect("T1");
    assert_eq!(t1["contact"]["name"], "Ann");
    assert!(t1["subject"].is_null());
    let msgs = verify::all_pages(
        env,
        sh,
        &format!("/conversations/{}/messages", t1["id"].as_str().unwrap()),
        "messages",
    )
    .await;
    let bodies: Vec<Value> = msgs.iter().map(|m| m["body"].clone()).collect();
    assert_eq!(bodies, vec![json!("ok"), json!(""), Value::Null]);
    assert!(msgs[1]["author_name"].is_null());
    assert_eq!(msgs[1]["metadata"]["extra"]["campaign"], "x");
    let atts = msgs[2]["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2);
    assert!(atts
        .iter()
        .all(|a| a["status"] == "failed" && a["url"].is_null()));
}

/// configs-migration listing one channel id twice (in two brands, with different names) and
/// web chat twice: one channel per id, the last listing winning, as channel-by-channel upserts
/// would leave it; the figures count distinct channels.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_channel_listed_twice_is_one_channel_the_last_listing_winning() {
    let env = TestEnv::start().await;
    let sh = "twice";
    env.create_account(sh, "Twice").await;
    let spec = C1Spec {
        shopper_id: sh.into(),
        needs_migration: true,
        brands: vec![
            BrandSpec {
                brand_id: "b1".into(),
                name: "One".into(),
                website: None,
                channels: vec![
                    channel("sms1", "sms", "First"),
                    channel("wc1", "webchat", "Chat"),
                    channel("sms1", "sms", "Second"),
                ],
            },
            BrandSpec {
                brand_id: "b2".into(),
                name: "Two".into(),
                website: None,
                channels: vec![
                    channel("sms1", "sms", "Third"),
                    channel("wc1", "webchat", "Chat"),
                ],
            },
        ],
        threads: vec![],
        malformed: vec![],
    };
    env.seed(&spec).await;
    let admin = migrated(&env, sh).await;
    assert_eq!(admin["run"]["figures"]["channels_migrated"], 2, "{admin}");
    // the verifier reads the listing the same way: no difference
    let (_, v) = env.verify_waiting(sh).await;
    assert_eq!(v["result"], "match", "{v}");
    assert_eq!(v["checked"]["channels"], 2, "{v}");

    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use migrator_store::schema::{brands as b, channel_sources as cs, channels as c};
    let mut db = env.db().await;
    let sms: Vec<(String, String)> = c::table
        .inner_join(b::table.on(b::id.eq(c::brand_id)))
        .filter(c::kind.eq("sms"))
        .select((c::name, b::name))
        .load(&mut db)
        .await
        .unwrap();
    assert_eq!(sms, vec![("Third".to_string(), "Two".to_string())]);
    let webchat: i64 = c::table
        .filter(c::kind.eq("webchat"))
        .count()
        .get_result(&mut db)
        .await
        .unwrap();
    assert_eq!(webchat, 1, "web chat is never duplicated");
    let sources: i64 = cs::table.count().get_result(&mut db).await.unwrap();
    assert_eq!(sources, 2);
    env.shutdown().await;
}

/// Source instants at and past the ends of what RFC 3339 can print (four-digit years): those
/// inside are migrated and served as RFC 3339, each outside one (on `created_at`,
/// `last_message_at` and `sent_at`) is a reject naming the attribute, and the verifier agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instants_outside_four_digit_years_are_rejects_and_every_served_time_is_rfc3339() {
    // given a C1 with instants at and past both ends of four-digit years
    let env = TestEnv::start().await;
    let sh = "instants";
    env.create_account(sh, "Instants").await;
    env.seed(&far_instants(sh)).await;
    // when it is migrated
    let admin = migrated(&env, sh).await;
    // then each instant past an end is a reject naming its attribute
    assert_eq!(admin["run"]["figures"]["rejects"], 4, "{admin}");
    assert_eq!(admin["run"]["figures"]["messages_migrated"], 2, "{admin}");
    each_instant_past_an_end_is_a_reject(&env).await;
    // and every time served is RFC 3339, the ends as they were
    every_served_time_is_rfc3339(&env, sh).await;
    env.shutdown().await;
}

/// A thread created at the first printable instant and last written at the last, two messages
/// at those instants, and items past either end on each attribute.
fn far_instants(sh: &str) -> C1Spec {
    use migrator_core::source::{EARLIEST_INSTANT_MS as FIRST, LATEST_INSTANT_MS as LAST};
    let n = |ms: i64| json!({"N": ms.to_string()});
    raw_c1(
        sh,
        vec![channel("sms1", "sms", "SMS")],
        vec![
            thread(
                sh,
                "E1",
                "sms1",
                "sms",
                "open",
                json!({"created_at": n(FIRST), "last_message_at": n(LAST)}),
            ),
            message(sh, "E1", "first", FIRST, json!({"body": {"S": "year 1"}})),
            message(sh, "E1", "last", LAST, json!({"body": {"S": "year 9999"}})),
            message(sh, "E1", "far", 300_000_000_000_000, json!({})),
            message(sh, "E1", "before", FIRST - 1, json!({})),
            thread(
                sh,
                "E2",
                "sms1",
                "sms",
                "open",
                json!({"last_message_at": n(LAST + 1)}),
            ),
            thread(
                sh,
                "E3",
                "sms1",
                "sms",
                "open",
                json!({"created_at": n(FIRST - 1)}),
            ),
        ],
    )
}

/// The reject of each instant past an end names its attribute and RFC 3339.
async fn each_instant_past_an_end_is_a_reject(env: &TestEnv) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use migrator_store::schema::rejects as r;
    let mut db = env.db().await;
    let rows: Vec<(String, String)> = r::table
        .select((r::source_key, r::reason))
        .load(&mut db)
        .await
        .unwrap();
    for (key, attr) in [
        ("#far", "sent_at"),
        ("#before", "sent_at"),
        ("E2", "last_message_at"),
        ("E3", "created_at"),
    ] {
        let (_, why) = rows
            .iter()
            .find(|(k, _)| k.contains(key))
            .unwrap_or_else(|| panic!("reject {key} in {rows:?}"));
        assert!(
            why.contains(attr) && why.contains("RFC 3339"),
            "{key}: {why}"
        );
    }
}

/// Conversations, messages, the status and a verification: every time parses as RFC 3339.
async fn every_served_time_is_rfc3339(env: &TestEnv, sh: &str) {
    let rfc3339 = |v: &Value| {
        let s = v.as_str().unwrap_or_else(|| panic!("a time: {v}"));
        chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        s.to_string()
    };
    let convs = verify::all_pages(env, sh, "/conversations", "conversations").await;
    assert_eq!(convs.len(), 1, "{convs:?}");
    assert_eq!(rfc3339(&convs[0]["created_at"]), "0001-01-01T00:00:00.000Z");
    assert_eq!(
        rfc3339(&convs[0]["last_message_at"]),
        "9999-12-31T23:59:59.999Z"
    );
    let path = format!(
        "/conversations/{}/messages",
        convs[0]["id"].as_str().unwrap()
    );
    let msgs = verify::all_pages(env, sh, &path, "messages").await;
    let sent: Vec<String> = msgs.iter().map(|m| rfc3339(&m["sent_at"])).collect();
    assert_eq!(
        sent,
        ["0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"]
    );
    let (_, status) = env.get(sh, "/check-migration-status").await;
    rfc3339(&status["updated_at"]);
    let (_, v) = env.verify_waiting(sh).await;
    assert_eq!(v["result"], "match", "{v}");
    rfc3339(&v["verified_at"]);
}
