//! Repair, not only report: a verification that finds differences has the differing threads
//! copied again from the source and verifies again — missing and changed rows written, migrated
//! rows the source does not account for removed, rows re:amaze made itself left alone; a copy
//! that keeps differing is parked with its last verification. And one rule for what the source
//! asks: a web chat thread naming no conversation of the account asks for nothing, so an exact
//! copy of one verifies `match`.

use conversations_sim::model::{generate, GenOptions, MessageSpec, ThreadSpec};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use migrator_core::text::ExactText;
use migrator_store::schema::{conversations as c, messages as m};
use migrator_testkit::{EnvOptions, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

/// Polls the latest verification until `until` holds.
async fn wait_verification(env: &TestEnv, shopper: &str, until: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + T;
    let path = format!("/admin/accounts/{shopper}/verification");
    loop {
        let (_, v) = env.admin(Method::GET, &path, None).await;
        if until(&v) {
            return v;
        }
        assert!(Instant::now() < end, "{shopper}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The conversation migrated from `thread`.
async fn conversation(env: &TestEnv, thread: &str) -> uuid::Uuid {
    c::table
        .filter(c::source_id.eq(ExactText::from(thread)))
        .select(c::id)
        .first(&mut env.db().await)
        .await
        .unwrap()
}

/// Migrated messages of a conversation, and all of them.
async fn message_counts(env: &TestEnv, conv: uuid::Uuid) -> (i64, i64) {
    let mut db = env.db().await;
    let migrated: i64 = m::table
        .filter(m::conversation_id.eq(conv))
        .filter(m::source_id.is_not_null())
        .count()
        .get_result(&mut db)
        .await
        .unwrap();
    let all: i64 = m::table
        .filter(m::conversation_id.eq(conv))
        .count()
        .get_result(&mut db)
        .await
        .unwrap();
    (migrated, all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_planted_difference_is_repaired_and_the_next_verification_matches() {
    let env = TestEnv::start().await;
    let s = generate("mend", &GenOptions::new(10, 5, 51));
    env.add_c1(&s).await;
    env.post("mend", "/migrate", None).await;
    env.wait_status("mend", "completed", T).await;
    let first = env.finished_verification("mend", T).await;
    assert_eq!(first["result"], "match", "{first}");
    let plain: Vec<&ThreadSpec> = s
        .threads
        .iter()
        .filter(|t| t.channel_type != "webchat" && t.messages.len() >= 2)
        .collect();
    let (x, y, z) = (plain[0], plain[1], plain[2]);
    let (cx, cy, cz) = (
        conversation(&env, &x.thread_id).await,
        conversation(&env, &y.thread_id).await,
        conversation(&env, &z.thread_id).await,
    );
    let mut db = env.db().await;
    // planted: a message lost, a body changed, a row the source does not have; and a reply
    // an agent wrote in re:amaze after the switch (no source id: it must stay)
    diesel::delete(
        m::table.filter(m::source_id.eq(ExactText::from(x.messages[0].message_id.as_str()))),
    )
    .execute(&mut db)
    .await
    .unwrap();
    diesel::update(
        m::table.filter(m::source_id.eq(ExactText::from(y.messages[1].message_id.as_str()))),
    )
    .set(m::body.eq(Some(b"tampered".to_vec())))
    .execute(&mut db)
    .await
    .unwrap();
    for (conv, source) in [(cz, Some("ghost-message")), (cy, None)] {
        diesel::sql_query(
            "INSERT INTO messages (id, account_id, conversation_id, source_id, direction, body, sent_at) \
             SELECT gen_random_uuid(), account_id, id, $2, 'outbound', 'an agent''s reply', now() \
             FROM conversations WHERE id = $1",
        )
        .bind::<diesel::sql_types::Uuid, _>(conv)
        .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(source)
        .execute(&mut db)
        .await
        .unwrap();
    }
    let (st, v) = env
        .admin(
            Method::POST,
            "/admin/accounts/mend/verify?repair=true&wait_secs=20",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["result"].as_str(), v["repair"].as_bool()),
        (Some("diff"), Some(true)),
        "{v}"
    );
    assert_eq!(v["diff_count"], 3, "{v}");
    // the repair copies the three threads again, then verifies again
    let after = wait_verification(&env, "mend", |v| {
        v["requested_by"] == "auto" && v["status"] == "done"
    })
    .await;
    assert_eq!(after["result"], "match", "{after}");
    assert_eq!(message_counts(&env, cx).await.0, x.messages.len() as i64);
    let (migrated, all) = message_counts(&env, cy).await;
    assert_eq!(
        (migrated, all),
        (y.messages.len() as i64, y.messages.len() as i64 + 1),
        "the agent's reply stays"
    );
    assert_eq!(
        message_counts(&env, cz).await,
        (z.messages.len() as i64, z.messages.len() as i64)
    );
    let body: Option<Vec<u8>> = m::table
        .filter(m::source_id.eq(ExactText::from(y.messages[1].message_id.as_str())))
        .select(m::body)
        .first(&mut db)
        .await
        .unwrap();
    assert_eq!(
        body.map(|b| String::from_utf8(b).unwrap()),
        y.messages[1].body
    );
    let view = env.admin_view("mend").await;
    assert_eq!(view["run"]["repairs"], 1, "{view}");
    assert!(view["run"]["parked_at"].is_null(), "{view}");
    let (_, h) = env
        .admin(Method::GET, "/admin/accounts/mend/history", None)
        .await;
    let kinds: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"repaired"), "{kinds:?}");
    let (_, log) = env.admin(Method::GET, "/admin/audit-log", None).await;
    assert_eq!(log["entries"][0]["action"], "verify_repair", "{log}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_copy_that_keeps_differing_is_parked_with_its_last_verification() {
    let env = TestEnv::start_with(EnvOptions::default(), |s| s.verify.max_repairs = 1).await;
    let s = generate("stubborn", &GenOptions::new(4, 3, 53));
    env.add_c1(&s).await;
    env.post("stubborn", "/migrate", None).await;
    env.wait_status("stubborn", "completed", T).await;
    env.finished_verification("stubborn", T).await;
    let t = s
        .threads
        .iter()
        .find(|t| t.channel_type != "webchat" && !t.messages.is_empty())
        .unwrap();
    let key = t.messages[0].message_id.clone();
    let mut db = env.db().await;
    // whatever is written for this message comes out wrong: no repair can mend it
    for sql in [
        "CREATE FUNCTION stubborn() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN NEW.body := 'corrupted'; RETURN NEW; END $$"
            .to_string(),
        format!(
            "CREATE TRIGGER stubborn BEFORE INSERT OR UPDATE ON messages FOR EACH ROW \
             WHEN (NEW.source_id = '{key}') EXECUTE FUNCTION stubborn()"
        ),
    ] {
        diesel::sql_query(sql).execute(&mut db).await.unwrap();
    }
    diesel::sql_query(format!(
        "UPDATE messages SET body = 'x' WHERE source_id = '{key}'"
    ))
    .execute(&mut db)
    .await
    .unwrap();
    let (st, _) = env
        .admin(
            Method::POST,
            "/admin/accounts/stubborn/verify?repair=true",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let end = Instant::now() + T;
    let view = loop {
        let v = env.admin_view("stubborn").await;
        if v["run"]["parked_at"].is_string() {
            break v;
        }
        assert!(Instant::now() < end, "never parked: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(view["run"]["repairs"], 1, "{view}");
    assert!(
        view["run"]["last_error"]
            .as_str()
            .unwrap()
            .contains("after 1 repairs"),
        "{view}"
    );
    assert_eq!(
        view["app_migration_status"], "completed",
        "the app sees nothing of it"
    );
    let last = wait_verification(&env, "stubborn", |v| v["status"] == "done").await;
    assert_eq!(last["result"], "diff", "{last}");
    assert!(
        last["diffs"][0]["source_key"]
            .as_str()
            .unwrap()
            .ends_with(&key),
        "{last}"
    );
    let (_, parked) = env.admin(Method::GET, "/admin/parked", None).await;
    assert!(parked.to_string().contains("stubborn"), "{parked}");
    env.shutdown().await;
}

/// An exact copy of a web chat thread naming no conversation of the account — its messages
/// starred, naming real messages of the account — verifies `match`: the copy applies none of
/// their stars (the thread is a reject) and the verifier expects none (the same rule).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_web_chat_thread_naming_no_conversation_of_ours_verifies_match() {
    let env = TestEnv::start().await;
    let mut s = generate("wc-rule", &GenOptions::new(3, 2, 57));
    env.create_account("wc-rule", "Shop").await;
    let (st, native) = env
        .post(
            "wc-rule",
            "/webchat/conversations",
            Some(json!({"contact": {"name": "Visitor"}, "body": "hello from the site"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{native}");
    let channel = s.brands[0]
        .channels
        .iter()
        .find(|c| c.kind == "webchat")
        .map(|c| c.channel_id.clone())
        .expect("a web chat channel");
    let at = s.threads[0].created_at;
    s.threads.push(ThreadSpec {
        thread_id: "wc-foreign".into(),
        channel_id: channel,
        channel_type: "webchat".into(),
        contact: None,
        subject: None,
        status: "open".into(),
        starred: Some(true),
        created_at: at,
        last_message_at: at,
        webchat_conversation_id: Some(uuid::Uuid::new_v4().to_string()),
        messages: vec![MessageSpec {
            message_id: "wc-foreign-m1".into(),
            direction: "inbound".into(),
            author_name: None,
            body: Some("hello from the site".into()),
            sent_at: at,
            starred: Some(true),
            attachments: Vec::new(),
            telephony: None,
            webchat_message_id: native["message_id"].as_str().map(String::from),
        }],
    });
    env.seed(&s).await;
    env.post("wc-rule", "/migrate", None).await;
    env.wait_status("wc-rule", "completed", T).await;
    let v = env.finished_verification("wc-rule", T).await;
    assert_eq!(v["result"], "match", "{v}");
    // the copy left the native message's star alone, and recorded the thread's reject
    let (_, rejects) = env
        .admin(Method::GET, "/admin/accounts/wc-rule/rejects", None)
        .await;
    assert!(rejects.to_string().contains("wc-foreign"), "{rejects}");
    env.shutdown().await;
}
