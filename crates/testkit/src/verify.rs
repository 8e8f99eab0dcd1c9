//! Verification of a migrated C1 against its source spec, through the api like the app.

use crate::TestEnv;
use conversations_sim::media;
use conversations_sim::model::C1Spec;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use migrator_core::text::ExactText;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashMap;

/// Every page of a list endpoint.
pub async fn all_pages(env: &TestEnv, shopper: &str, path: &str, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (s, v) = env
            .get(shopper, &format!("{path}{sep}page={page}&per_page=100"))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let items = v[key].as_array().expect("list").clone();
        let total = v["total_count"].as_i64().unwrap() as usize;
        out.extend(items);
        if out.len() >= total {
            break;
        }
    }
    out
}

/// Asserts the destination equals the source: one conversation per valid non-web-chat
/// thread, every message with its content, in order, attachments stored or failed as the
/// media service answers; returns (conversations, messages) checked.
pub async fn destination_equals_source(
    env: &TestEnv,
    spec: &C1Spec,
    skip_thread: impl Fn(&str) -> bool,
) -> (usize, usize) {
    use migrator_store::schema::{accounts as a, conversations as c};
    let mut db = env.db().await;
    let account: uuid::Uuid = a::table
        .filter(a::shopper_id.eq(&spec.shopper_id))
        .select(a::id)
        .first(&mut db)
        .await
        .unwrap();
    let ids: Vec<(uuid::Uuid, Option<ExactText>)> = c::table
        .filter(c::account_id.eq(account))
        .filter(c::native.eq(false))
        .select((c::id, c::source_id))
        .load(&mut db)
        .await
        .unwrap();
    let by_source: HashMap<String, uuid::Uuid> = ids
        .into_iter()
        .filter_map(|(id, s)| Some((s?.into_string(), id)))
        .collect();
    let expected: Vec<_> = spec
        .threads
        .iter()
        .filter(|t| t.channel_type != "webchat" && !skip_thread(&t.thread_id))
        .collect();
    assert_eq!(
        by_source.len(),
        expected.len(),
        "one conversation per thread, no duplicates"
    );
    // every field of a conversation exactly as the source holds it (U+0000 included)
    let listed = all_pages(env, &spec.shopper_id, "/conversations", "conversations").await;
    let listed: HashMap<&str, &Value> = listed
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c))
        .collect();
    for t in &expected {
        let got = listed[by_source[&t.thread_id].to_string().as_str()];
        assert_eq!(got["subject"].as_str(), t.subject.as_deref(), "{got}");
        assert_eq!(got["status"], t.status.as_str(), "{got}");
        assert_eq!(got["starred"], t.starred.unwrap_or(false), "{got}");
        let last = chrono::DateTime::parse_from_rfc3339(got["last_message_at"].as_str().unwrap());
        assert_eq!(last.unwrap().timestamp_millis(), t.last_message_at, "{got}");
        if let Some((name, phone, email)) = &t.contact {
            let c = &got["contact"];
            assert_eq!(c["name"].as_str(), name.as_deref(), "{got}");
            assert_eq!(c["phone"].as_str(), phone.as_deref(), "{got}");
            assert_eq!(c["email"].as_str(), email.as_deref(), "{got}");
        }
    }
    // brands and their channels, names exact (web chat joins the account's own channel)
    let (_, accounts) = env.get(&spec.shopper_id, "/accounts").await;
    let brands = accounts["accounts"][0]["brands"]
        .as_array()
        .unwrap()
        .clone();
    for b in &spec.brands {
        let got = brands
            .iter()
            .find(|g| g["name"].as_str() == Some(b.name.as_str()))
            .unwrap_or_else(|| panic!("brand {:?} migrated by name: {brands:?}", b.name));
        for ch in b.channels.iter().filter(|c| c.kind != "webchat") {
            let found = got["channels"].as_array().unwrap().iter().any(|g| {
                g["name"].as_str() == Some(ch.name.as_str()) && g["kind"] == ch.kind.as_str()
            });
            assert!(found, "channel {:?} of {:?}: {got}", ch.name, b.name);
        }
    }
    let mut messages = 0;
    for t in &expected {
        let conv = by_source
            .get(&t.thread_id)
            .unwrap_or_else(|| panic!("thread {} migrated", t.thread_id));
        let got = all_pages(
            env,
            &spec.shopper_id,
            &format!("/conversations/{conv}/messages"),
            "messages",
        )
        .await;
        assert_eq!(got.len(), t.messages.len(), "messages of {}", t.thread_id);
        let mut want = t.messages.clone();
        want.sort_by_key(|m| m.sort_key());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                g["body"].as_str(),
                w.body.as_deref(),
                "body of {}",
                w.message_id
            );
            assert_eq!(g["direction"], w.direction.as_str());
            assert_eq!(g["author_name"].as_str(), w.author_name.as_deref());
            assert_eq!(g["starred"], w.starred.unwrap_or(false));
            let sent =
                chrono::DateTime::parse_from_rfc3339(g["sent_at"].as_str().unwrap()).unwrap();
            assert_eq!(sent.timestamp_millis(), w.sent_at);
            if let Some(tel) = &w.telephony {
                assert_eq!(&g["metadata"]["telephony"], tel);
            }
            let atts = g["attachments"].as_array().unwrap();
            assert_eq!(atts.len(), w.attachments.len());
            for (ga, wa) in atts.iter().zip(&w.attachments) {
                assert_eq!(ga["file_name"], wa.file_name.as_str());
                if media::is_gone(&wa.media_id) {
                    assert_eq!(ga["status"], "failed", "{ga}");
                    assert!(ga["url"].is_null());
                } else {
                    assert_eq!(ga["status"], "stored", "{ga}");
                    let url = ga["url"].as_str().unwrap();
                    let resp = env
                        .http
                        .get(format!("{}{}", env.api_url, url))
                        .bearer_auth(env.app_token(&spec.shopper_id))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), StatusCode::OK);
                    assert_eq!(resp.headers()["content-type"], "image/png");
                    let bytes = resp.bytes().await.unwrap();
                    assert_eq!(
                        bytes.as_ref(),
                        media::bytes_for(&wa.media_id, wa.size_bytes as usize).as_slice()
                    );
                }
            }
            messages += 1;
        }
    }
    (expected.len(), messages)
}
