//! The contract's items as DynamoDB attribute maps: threads and messages of a generated C1, and
//! raw items given as DynamoDB JSON (malformed ones included).

use crate::model::{MessageSpec, ThreadSpec};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use std::collections::HashMap;

/// A DynamoDB item: attribute name to value.
pub type Item = HashMap<String, AttributeValue>;

/// An attachment's `media_url`: on the simulator's media service, or the media id itself when
/// it is already a URL (tests point items at other servers).
fn media_url(media_base: &str, media_id: &str) -> String {
    if media_id.starts_with("http://") || media_id.starts_with("https://") {
        media_id.to_string()
    } else {
        format!("{}/media/{media_id}", media_base.trim_end_matches('/'))
    }
}

/// A string attribute.
pub(crate) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}
/// A number attribute.
pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// DynamoDB-JSON (`{"S": "x"}`) to an attribute value.
pub fn from_typed_json(v: &Value) -> Option<AttributeValue> {
    let (t, inner) = v.as_object()?.iter().next()?;
    Some(match t.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.into()),
        "N" => AttributeValue::N(inner.as_str()?.into()),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "L" => AttributeValue::L(
            inner
                .as_array()?
                .iter()
                .filter_map(from_typed_json)
                .collect(),
        ),
        "M" => AttributeValue::M(
            inner
                .as_object()?
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), from_typed_json(v)?)))
                .collect(),
        ),
        "SS" => AttributeValue::Ss(
            inner
                .as_array()?
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
        ),
        _ => return None,
    })
}

/// Plain JSON to an attribute value (telephony maps).
pub fn from_plain_json(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(x) => AttributeValue::N(x.to_string()),
        Value::String(x) => AttributeValue::S(x.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(from_plain_json).collect()),
        Value::Object(o) => AttributeValue::M(
            o.iter()
                .map(|(k, v)| (k.clone(), from_plain_json(v)))
                .collect(),
        ),
    }
}

/// The item of a thread.
pub fn thread_item(shopper_id: &str, t: &ThreadSpec) -> Item {
    let mut i = Item::from([
        ("shopper_id".into(), s(shopper_id)),
        ("thread_id".into(), s(&t.thread_id)),
        ("channel_id".into(), s(&t.channel_id)),
        ("channel_type".into(), s(&t.channel_type)),
        ("status".into(), s(&t.status)),
        ("created_at".into(), n(t.created_at)),
        ("last_message_at".into(), n(t.last_message_at)),
        ("message_count".into(), n(t.messages.len() as i64)),
    ]);
    if let Some((name, phone, email)) = &t.contact {
        let mut m = Item::new();
        for (k, v) in [("name", name), ("phone", phone), ("email", email)] {
            if let Some(v) = v {
                m.insert(k.into(), s(v));
            }
        }
        i.insert("contact".into(), AttributeValue::M(m));
    }
    if let Some(x) = &t.subject {
        i.insert("subject".into(), s(x));
    }
    if let Some(b) = t.starred {
        i.insert("starred".into(), AttributeValue::Bool(b));
    }
    if let Some(x) = &t.webchat_conversation_id {
        i.insert("webchat_conversation_id".into(), s(x));
    }
    i
}

/// The item of a message; attachment URLs point at `media_base`.
pub fn message_item(shopper_id: &str, thread_id: &str, m: &MessageSpec, media_base: &str) -> Item {
    let mut i = Item::from([
        ("thread_id".into(), s(thread_id)),
        ("sort_key".into(), s(&m.sort_key())),
        ("message_id".into(), s(&m.message_id)),
        ("shopper_id".into(), s(shopper_id)),
        ("direction".into(), s(&m.direction)),
        ("sent_at".into(), n(m.sent_at)),
    ]);
    if let Some(x) = &m.author_name {
        i.insert("author_name".into(), s(x));
    }
    if let Some(x) = &m.body {
        i.insert("body".into(), s(x));
    }
    if let Some(b) = m.starred {
        i.insert("starred".into(), AttributeValue::Bool(b));
    }
    if !m.attachments.is_empty() {
        let l = m
            .attachments
            .iter()
            .map(|a| {
                AttributeValue::M(Item::from([
                    ("media_url".into(), s(&media_url(media_base, &a.media_id))),
                    ("content_type".into(), s(&a.content_type)),
                    ("file_name".into(), s(&a.file_name)),
                    ("size_bytes".into(), n(a.size_bytes as i64)),
                ]))
            })
            .collect();
        i.insert("attachments".into(), AttributeValue::L(l));
    }
    if let Some(t) = &m.telephony {
        i.insert("telephony".into(), from_plain_json(t));
    }
    if let Some(x) = &m.webchat_message_id {
        i.insert("webchat_message_id".into(), s(x));
    }
    i
}
