//! DynamoDB items -> source types, exactly as the contract's tables say. An item that lacks a
//! required attribute or has one of the wrong type becomes a [`Reject`] with its raw content.
//! Optional attributes holding `NULL` count as absent; unlisted attributes are kept as metadata.

pub use super::attr::{Attr, Item};
use super::{Reject, SourceAttachment, SourceContact, SourceMessage, SourceThread};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// Table names as they appear in rejects.
pub const THREADS: &str = "conversations_threads";
/// Table names as they appear in rejects.
pub const MESSAGES: &str = "conversations_messages";

const THREAD_ATTRS: &[&str] = &[
    "shopper_id",
    "thread_id",
    "channel_id",
    "channel_type",
    "contact",
    "subject",
    "status",
    "starred",
    "created_at",
    "last_message_at",
    "message_count",
    "webchat_conversation_id",
];
const MESSAGE_ATTRS: &[&str] = &[
    "thread_id",
    "sort_key",
    "message_id",
    "shopper_id",
    "direction",
    "author_name",
    "body",
    "sent_at",
    "starred",
    "attachments",
    "telephony",
    "webchat_message_id",
];

struct Reader<'a> {
    item: &'a Item,
}

type Check<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn present(&self, k: &str) -> Option<&'a Attr> {
        match self.item.get(k) {
            None | Some(Attr::Null(_)) => None,
            Some(v) => Some(v),
        }
    }
    fn s(&self, k: &str) -> Check<&'a str> {
        self.opt_s(k)?
            .ok_or_else(|| format!("missing required attribute {k}"))
    }
    fn opt_s(&self, k: &str) -> Check<Option<&'a str>> {
        match self.present(k) {
            None => Ok(None),
            Some(Attr::S(s)) => Ok(Some(s)),
            Some(_) => Err(format!("attribute {k} is not of type S")),
        }
    }
    fn n(&self, k: &str) -> Check<i64> {
        self.opt_n(k)?
            .ok_or_else(|| format!("missing required attribute {k}"))
    }
    fn opt_n(&self, k: &str) -> Check<Option<i64>> {
        match self.present(k) {
            None => Ok(None),
            Some(Attr::N(n)) => parse_n(n)
                .map(Some)
                .ok_or_else(|| format!("attribute {k} is not an integer number")),
            Some(_) => Err(format!("attribute {k} is not of type N")),
        }
    }
    fn opt_bool(&self, k: &str) -> Check<bool> {
        match self.present(k) {
            None => Ok(false),
            Some(Attr::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("attribute {k} is not of type BOOL")),
        }
    }
    fn millis(&self, k: &str) -> Check<DateTime<Utc>> {
        super::instant(self.n(k)?).map_err(|why| format!("attribute {k}: {why}"))
    }
    fn extra(&self, known: &[&str]) -> Map<String, Value> {
        self.item
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), plain_json(v)))
            .collect()
    }
}

/// A DynamoDB number as an integer (integral decimals like `1.7E12` included).
fn parse_n(n: &str) -> Option<i64> {
    let n = n.trim();
    n.parse::<i64>().ok().or_else(|| {
        let f: f64 = n.parse().ok()?;
        (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e18).then_some(f as i64)
    })
}

/// The raw item in DynamoDB JSON, for rejects.
pub fn raw_json(item: &Item) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), typed_json(v)))
            .collect(),
    )
}

fn typed_json(v: &Attr) -> Value {
    let b64 = |b: &Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    match v {
        Attr::S(s) => json!({ "S": s }),
        Attr::N(n) => json!({ "N": n }),
        Attr::Bool(b) => json!({ "BOOL": b }),
        Attr::Null(b) => json!({ "NULL": b }),
        Attr::B(b) => json!({ "B": b64(b) }),
        Attr::Ss(v) => json!({ "SS": v }),
        Attr::Ns(v) => json!({ "NS": v }),
        Attr::Bs(v) => json!({ "BS": v.iter().map(b64).collect::<Vec<_>>() }),
        Attr::L(l) => json!({ "L": l.iter().map(typed_json).collect::<Vec<_>>() }),
        Attr::M(m) => {
            json!({ "M": m.iter().map(|(k, v)| (k.clone(), typed_json(v))).collect::<Map<_, _>>() })
        }
        Attr::Unknown(what) => json!({ "UNKNOWN": what }),
    }
}

/// A value as plain JSON, for metadata (numbers stay exact: integers as numbers, others as text).
pub fn plain_json(v: &Attr) -> Value {
    match v {
        Attr::S(s) => Value::String(s.clone()),
        Attr::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(n.clone())),
        Attr::Bool(b) => Value::Bool(*b),
        Attr::Null(_) => Value::Null,
        Attr::L(l) => Value::Array(l.iter().map(plain_json).collect()),
        Attr::M(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), plain_json(v))).collect()),
        other => typed_json(other),
    }
}

fn reject(table: &str, item: &Item, key: String, reason: String) -> Reject {
    Reject {
        source_table: table.into(),
        source_key: key,
        reason,
        raw: raw_json(item),
    }
}

fn key_of(item: &Item, attrs: &[&str]) -> String {
    attrs
        .iter()
        .map(|a| match item.get(*a) {
            Some(Attr::S(s)) => s.clone(),
            Some(Attr::N(n)) => n.clone(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        })
        .collect::<Vec<_>>()
        .join("#")
}

/// Validates a thread item of `shopper_id`.
pub fn thread(item: &Item, shopper_id: &str) -> Result<SourceThread, Reject> {
    let r = Reader { item };
    let parse = || -> Check<SourceThread> {
        if r.s("shopper_id")? != shopper_id {
            return Err("shopper_id does not match the C1".into());
        }
        let status = r.s("status")?;
        if status != "open" && status != "closed" {
            return Err(format!("status {status:?} is neither open nor closed"));
        }
        let contact = match r.present("contact") {
            None => None,
            Some(Attr::M(m)) => {
                let c = Reader { item: m };
                Some(SourceContact {
                    name: c
                        .opt_s("name")
                        .map_err(|e| format!("contact: {e}"))?
                        .map(str::to_string),
                    phone: c
                        .opt_s("phone")
                        .map_err(|e| format!("contact: {e}"))?
                        .map(str::to_string),
                    email: c
                        .opt_s("email")
                        .map_err(|e| format!("contact: {e}"))?
                        .map(str::to_string),
                })
            }
            Some(_) => return Err("attribute contact is not of type M".into()),
        };
        r.opt_n("message_count")?;
        Ok(SourceThread {
            thread_id: r.s("thread_id")?.to_string(),
            channel_id: r.s("channel_id")?.to_string(),
            channel_type: r.s("channel_type")?.to_string(),
            contact,
            subject: r.opt_s("subject")?.map(str::to_string),
            status: status.to_string(),
            starred: r.opt_bool("starred")?,
            created_at: r.millis("created_at")?,
            last_message_at: r.millis("last_message_at")?,
            webchat_conversation_id: r.opt_s("webchat_conversation_id")?.map(str::to_string),
        })
    };
    parse().map_err(|why| {
        reject(
            THREADS,
            item,
            key_of(item, &["shopper_id", "thread_id"]),
            why,
        )
    })
}

/// Validates a message item of `thread_id` / `shopper_id`.
pub fn message(item: &Item, thread_id: &str, shopper_id: &str) -> Result<SourceMessage, Reject> {
    let r = Reader { item };
    let parse = || -> Check<SourceMessage> {
        if r.s("thread_id")? != thread_id {
            return Err("thread_id does not match the thread".into());
        }
        if r.s("shopper_id")? != shopper_id {
            return Err("shopper_id does not match the C1".into());
        }
        let direction = r.s("direction")?;
        if direction != "inbound" && direction != "outbound" {
            return Err(format!(
                "direction {direction:?} is neither inbound nor outbound"
            ));
        }
        let attachments = match r.present("attachments") {
            None => Vec::new(),
            Some(Attr::L(l)) => l.iter().map(attachment).collect(),
            Some(_) => return Err("attribute attachments is not of type L".into()),
        };
        let telephony = match r.present("telephony") {
            None => None,
            Some(v @ Attr::M(_)) => Some(plain_json(v)),
            Some(_) => return Err("attribute telephony is not of type M".into()),
        };
        let extra = r.extra(MESSAGE_ATTRS);
        let mut meta = Map::new();
        if let Some(t) = telephony {
            meta.insert("telephony".into(), t);
        }
        if !extra.is_empty() {
            meta.insert("extra".into(), Value::Object(extra));
        }
        Ok(SourceMessage {
            thread_id: thread_id.to_string(),
            sort_key: r.s("sort_key")?.to_string(),
            message_id: r.s("message_id")?.to_string(),
            direction: direction.to_string(),
            author_name: r.opt_s("author_name")?.map(str::to_string),
            body: r.opt_s("body")?.map(str::to_string),
            sent_at: r.millis("sent_at")?,
            starred: r.opt_bool("starred")?,
            attachments,
            metadata: (!meta.is_empty()).then_some(Value::Object(meta)),
            webchat_message_id: r.opt_s("webchat_message_id")?.map(str::to_string),
        })
    };
    parse().map_err(|why| {
        reject(
            MESSAGES,
            item,
            key_of(item, &["thread_id", "sort_key"]),
            why,
        )
    })
}

/// An attachment entry; a defective one is kept with the defect (it fails, the message stays).
fn attachment(v: &Attr) -> SourceAttachment {
    let Attr::M(m) = v else {
        return SourceAttachment {
            defect: Some("attachment entry is not of type M".into()),
            ..Default::default()
        };
    };
    let r = Reader { item: m };
    let mut a = SourceAttachment::default();
    let mut defects = Vec::new();
    let take_s = |k: &str, defects: &mut Vec<String>| match r.opt_s(k) {
        Ok(Some(s)) => Some(s.to_string()),
        Ok(None) => {
            defects.push(format!("missing {k}"));
            None
        }
        Err(e) => {
            defects.push(e);
            None
        }
    };
    a.media_url = take_s("media_url", &mut defects);
    a.content_type = take_s("content_type", &mut defects);
    a.file_name = take_s("file_name", &mut defects);
    match r.opt_n("size_bytes") {
        Ok(Some(n)) => a.size_bytes = Some(n),
        Ok(None) => defects.push("missing size_bytes".into()),
        Err(e) => defects.push(e),
    }
    if a.media_url.is_none() {
        a.defect = Some(defects.join("; "));
    } else if !defects.is_empty() {
        // the bytes can still be fetched; the defect is recorded if the download fails
        tracing::debug!(defects = %defects.join("; "), "attachment entry incomplete");
    }
    a
}

/// Thread attributes the contract lists (unlisted ones are ignored on threads).
pub fn thread_attrs() -> &'static [&'static str] {
    THREAD_ATTRS
}

/// A page key as JSON, for checkpoints.
pub fn key_to_json(key: &Item) -> Value {
    raw_json(key)
}

/// A checkpointed page key back into a DynamoDB key.
pub fn key_from_json(v: &Value) -> Option<Item> {
    let obj = v.as_object()?;
    let mut out = Item::new();
    for (k, tv) in obj {
        let t = tv.as_object()?;
        let av = if let Some(s) = t.get("S").and_then(Value::as_str) {
            Attr::S(s.to_string())
        } else if let Some(n) = t.get("N").and_then(Value::as_str) {
            Attr::N(n.to_string())
        } else if let Some(b) = t.get("B").and_then(Value::as_str) {
            Attr::B(base64::engine::general_purpose::STANDARD.decode(b).ok()?)
        } else {
            return None;
        };
        out.insert(k.clone(), av);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Attr {
        Attr::S(v.into())
    }
    fn n(v: i64) -> Attr {
        Attr::N(v.to_string())
    }

    fn good_thread() -> Item {
        Item::from([
            ("shopper_id".into(), s("s1")),
            ("thread_id".into(), s("t1")),
            ("channel_id".into(), s("ch_1")),
            ("channel_type".into(), s("sms")),
            ("status".into(), s("open")),
            ("created_at".into(), n(1_700_000_000_000)),
            ("last_message_at".into(), n(1_700_000_100_000)),
        ])
    }

    #[test]
    fn threads_follow_the_contract() {
        let t = thread(&good_thread(), "s1").unwrap();
        assert!(!t.starred && t.contact.is_none() && t.subject.is_none());
        let mut bad = good_thread();
        bad.insert("created_at".into(), s("yesterday"));
        assert!(thread(&bad, "s1")
            .unwrap_err()
            .reason
            .contains("created_at"));
        let mut bad = good_thread();
        bad.remove("channel_id");
        let r = thread(&bad, "s1").unwrap_err();
        assert!(r.reason.contains("channel_id"));
        assert_eq!(r.raw["thread_id"]["S"], "t1");
        let mut bad = good_thread();
        bad.insert("status".into(), s("pending"));
        assert!(thread(&bad, "s1").is_err());
        assert!(thread(&good_thread(), "s2").is_err());
        let mut nullish = good_thread();
        nullish.insert("subject".into(), Attr::Null(true));
        nullish.insert("starred".into(), Attr::Bool(true));
        let t = thread(&nullish, "s1").unwrap();
        assert!(t.subject.is_none() && t.starred);
        let mut c = good_thread();
        c.insert(
            "contact".into(),
            Attr::M(Item::from([("name".into(), n(3))])),
        );
        assert!(thread(&c, "s1").is_err());
    }

    #[test]
    fn messages_keep_unicode_metadata_and_defective_attachments() {
        let body = "héllo \u{0} 🎉 \u{202e}";
        let item = Item::from([
            ("thread_id".into(), s("t1")),
            ("sort_key".into(), s("1700000000000#m1")),
            ("message_id".into(), s("m1")),
            ("shopper_id".into(), s("s1")),
            ("direction".into(), s("inbound")),
            ("body".into(), s(body)),
            ("sent_at".into(), Attr::N("1.7E12".into())),
            (
                "telephony".into(),
                Attr::M(Item::from([("duration".into(), n(42))])),
            ),
            ("campaign".into(), s("x")),
            (
                "attachments".into(),
                Attr::L(vec![
                    Attr::M(Item::from([
                        ("media_url".into(), s("http://m/1")),
                        ("content_type".into(), s("image/png")),
                        ("file_name".into(), s("a.png")),
                        ("size_bytes".into(), n(3)),
                    ])),
                    s("not a map"),
                ]),
            ),
        ]);
        let m = message(&item, "t1", "s1").unwrap();
        assert_eq!(m.body.as_deref(), Some(body));
        assert_eq!(m.sent_at.timestamp_millis(), 1_700_000_000_000);
        assert_eq!(m.metadata.as_ref().unwrap()["telephony"]["duration"], 42);
        assert_eq!(m.metadata.as_ref().unwrap()["extra"]["campaign"], "x");
        assert!(m.attachments[0].defect.is_none());
        assert!(m.attachments[1].defect.is_some());
        let mut bad = item.clone();
        bad.insert("direction".into(), s("sideways"));
        assert!(message(&bad, "t1", "s1").is_err());
        let mut bad = item;
        bad.insert("body".into(), n(1));
        assert!(message(&bad, "t1", "s1")
            .unwrap_err()
            .reason
            .contains("body"));
    }

    #[test]
    fn every_source_instant_outside_four_digit_years_is_a_reject_at_both_ends() {
        use crate::source::{EARLIEST_INSTANT_MS, LATEST_INSTANT_MS};
        let msg = |at: i64| {
            Item::from([
                ("thread_id".into(), s("t1")),
                ("sort_key".into(), s("0#m1")),
                ("message_id".into(), s("m1")),
                ("shopper_id".into(), s("s1")),
                ("direction".into(), s("inbound")),
                ("sent_at".into(), n(at)),
            ])
        };
        for attr in ["created_at", "last_message_at", "sent_at"] {
            let parse = |at: i64| -> Result<DateTime<Utc>, String> {
                if attr == "sent_at" {
                    message(&msg(at), "t1", "s1").map(|m| m.sent_at)
                } else {
                    let mut t = good_thread();
                    t.insert(attr.into(), n(at));
                    thread(&t, "s1").map(|t| {
                        if attr == "created_at" {
                            t.created_at
                        } else {
                            t.last_message_at
                        }
                    })
                }
                .map_err(|r| r.reason)
            };
            for ok in [EARLIEST_INSTANT_MS, LATEST_INSTANT_MS] {
                assert_eq!(parse(ok).unwrap().timestamp_millis(), ok, "{attr} at {ok}");
            }
            for bad in [
                EARLIEST_INSTANT_MS - 1,
                LATEST_INSTANT_MS + 1,
                300_000_000_000_000,
            ] {
                let why = parse(bad).unwrap_err();
                assert!(
                    why.contains(attr) && why.contains("RFC 3339"),
                    "{attr} at {bad}: {why}"
                );
            }
        }
    }

    #[test]
    fn page_keys_round_trip() {
        let k = Item::from([
            ("thread_id".into(), s("t")),
            ("last_message_at".into(), n(5)),
        ]);
        assert_eq!(key_from_json(&key_to_json(&k)).unwrap(), k);
    }
}
