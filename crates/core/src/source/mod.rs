//! What the worker reads from Conversations, after validation against the source contract.
//! Items that break the contract become [`Reject`]s instead.

pub mod attr;
pub mod items;
pub mod webchat;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The earliest source instant the API can print: `0001-01-01T00:00:00Z`, in epoch ms.
pub const EARLIEST_INSTANT_MS: i64 = -62_135_596_800_000;
/// The latest source instant the API can print: `9999-12-31T23:59:59.999Z`, in epoch ms.
pub const LATEST_INSTANT_MS: i64 = 253_402_300_799_999;

/// A source instant (`sent_at`, `created_at`, `last_message_at`: epoch milliseconds) as a time
/// the API can write: RFC 3339 (section 5.6) has four-digit years, so an instant outside
/// [`EARLIEST_INSTANT_MS`] ..= [`LATEST_INSTANT_MS`] would be printed as `+11476-…` and break
/// the app's date parser. `Err` says why, for the reject's reason.
pub fn instant(ms: i64) -> Result<DateTime<Utc>, String> {
    if !(EARLIEST_INSTANT_MS..=LATEST_INSTANT_MS).contains(&ms) {
        return Err(format!(
            "{ms} ms is outside 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999Z (RFC 3339 years \
             have four digits)"
        ));
    }
    DateTime::from_timestamp_millis(ms).ok_or_else(|| format!("{ms} ms is out of range"))
}

/// A brand from `POST /v1/configs-migration`.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceBrand {
    /// `brand_id`.
    pub brand_id: String,
    /// Name (absent or null: named after its id).
    #[serde(default)]
    pub name: Option<String>,
    /// Website.
    #[serde(default)]
    pub website: Option<String>,
    /// Channels.
    #[serde(default)]
    pub channels: Vec<SourceChannel>,
}

/// A channel from configs-migration. `credentials` is secret: sealed before it is stored.
#[derive(Clone, Deserialize)]
pub struct SourceChannel {
    /// `channel_id`.
    pub channel_id: String,
    /// `type`: known or not, kept as it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Address.
    #[serde(default)]
    pub address: Option<String>,
    /// Settings (free-form).
    #[serde(default)]
    pub settings: Option<serde_json::Value>,
    /// Secrets (free-form).
    #[serde(default)]
    pub credentials: Option<serde_json::Value>,
}

impl std::fmt::Debug for SourceChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // credentials are never logged
        f.debug_struct("SourceChannel")
            .field("channel_id", &self.channel_id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The channels of configs-migration as they are migrated (and verified): each channel id
/// once, in the order first listed, with its last listing and the index of that listing's
/// brand in `brands` — a channel listed twice is the last listing, as one upsert after another
/// would leave it.
pub fn channels_as_migrated(brands: &[SourceBrand]) -> Vec<(usize, &SourceChannel)> {
    let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut out: Vec<(usize, &SourceChannel)> = Vec::new();
    for (b, brand) in brands.iter().enumerate() {
        for ch in &brand.channels {
            match at.get(ch.channel_id.as_str()) {
                Some(&i) => out[i] = (b, ch),
                None => {
                    at.insert(&ch.channel_id, out.len());
                    out.push((b, ch));
                }
            }
        }
    }
    out
}

/// The contact of a thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceContact {
    /// Name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
}

impl SourceContact {
    /// The key that identifies a migrated contact within an account.
    pub fn source_key(&self) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}",
            self.name.as_deref().unwrap_or(""),
            self.phone.as_deref().unwrap_or(""),
            self.email.as_deref().unwrap_or("")
        )
    }
}

/// A valid item of `conversations_threads`.
#[derive(Debug, Clone)]
pub struct SourceThread {
    /// `thread_id`.
    pub thread_id: String,
    /// `channel_id`.
    pub channel_id: String,
    /// `channel_type`.
    pub channel_type: String,
    /// `contact`.
    pub contact: Option<SourceContact>,
    /// `subject`.
    pub subject: Option<String>,
    /// `open` / `closed`.
    pub status: String,
    /// `starred`.
    pub starred: bool,
    /// `created_at`.
    pub created_at: DateTime<Utc>,
    /// `last_message_at`.
    pub last_message_at: DateTime<Utc>,
    /// Web chat threads: the re:amaze conversation mirrored.
    pub webchat_conversation_id: Option<String>,
}

impl SourceThread {
    /// Web chat threads only carry starred flags over.
    pub fn is_webchat(&self) -> bool {
        self.channel_type == "webchat" || self.webchat_conversation_id.is_some()
    }
}

/// An attachment reference of a message; fields the contract requires may still be missing,
/// which fails the attachment (recorded), never the message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceAttachment {
    /// `media_url`.
    pub media_url: Option<String>,
    /// `content_type`.
    pub content_type: Option<String>,
    /// `file_name`.
    pub file_name: Option<String>,
    /// `size_bytes`.
    pub size_bytes: Option<i64>,
    /// Why this entry is unusable, if it is.
    pub defect: Option<String>,
}

/// A valid item of `conversations_messages`.
#[derive(Debug, Clone)]
pub struct SourceMessage {
    /// `thread_id`.
    pub thread_id: String,
    /// `sort_key`.
    pub sort_key: String,
    /// `message_id`.
    pub message_id: String,
    /// `inbound` / `outbound`.
    pub direction: String,
    /// `author_name`.
    pub author_name: Option<String>,
    /// `body` (any Unicode).
    pub body: Option<String>,
    /// `sent_at`.
    pub sent_at: DateTime<Utc>,
    /// `starred`.
    pub starred: bool,
    /// `attachments`.
    pub attachments: Vec<SourceAttachment>,
    /// `telephony` and unlisted attributes.
    pub metadata: Option<serde_json::Value>,
    /// Web chat threads: the re:amaze message mirrored.
    pub webchat_message_id: Option<String>,
}

impl SourceMessage {
    /// About how many bytes this message holds in memory and in a statement (its strings and
    /// metadata; attachments by their URLs and names): what write batches are bounded by.
    pub fn approx_bytes(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let attachments: usize = self
            .attachments
            .iter()
            .map(|a| 32 + opt(&a.media_url) + opt(&a.content_type) + opt(&a.file_name))
            .sum();
        128 + self.thread_id.len()
            + self.sort_key.len()
            + self.message_id.len()
            + self.direction.len()
            + opt(&self.author_name)
            + opt(&self.body)
            + opt(&self.webchat_message_id)
            + self.metadata.as_ref().map_or(0, json_bytes)
            + attachments
    }
}

/// About how many bytes a JSON value holds (strings and keys by length, scalars by 8).
pub fn json_bytes(v: &serde_json::Value) -> usize {
    use serde_json::Value;
    match v {
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(json_bytes).sum::<usize>(),
        Value::Object(m) => {
            2 + m
                .iter()
                .map(|(k, v)| k.len() + 3 + json_bytes(v))
                .sum::<usize>()
        }
        _ => 8,
    }
}

/// A source item that broke the contract.
#[derive(Debug, Clone)]
pub struct Reject {
    /// `conversations_threads` or `conversations_messages`.
    pub source_table: String,
    /// Its key, as far as it could be read.
    pub source_key: String,
    /// Why.
    pub reason: String,
    /// The raw item.
    pub raw: serde_json::Value,
}

impl Reject {
    /// About how many bytes this reject holds (its raw item above all).
    pub fn approx_bytes(&self) -> usize {
        64 + self.source_table.len()
            + self.source_key.len()
            + self.reason.len()
            + json_bytes(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_the_api_can_print_and_those_it_cannot() {
        let print =
            |ms| instant(ms).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        assert_eq!(
            print(EARLIEST_INSTANT_MS).unwrap(),
            "0001-01-01T00:00:00.000Z"
        );
        assert_eq!(
            print(LATEST_INSTANT_MS).unwrap(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(print(0).unwrap(), "1970-01-01T00:00:00.000Z");
        for bad in [
            EARLIEST_INSTANT_MS - 1,
            LATEST_INSTANT_MS + 1,
            300_000_000_000_000,
            i64::MIN,
            i64::MAX,
        ] {
            assert!(instant(bad).unwrap_err().contains("RFC 3339"), "{bad}");
        }
    }

    fn brand(id: &str, channels: &[(&str, &str)]) -> SourceBrand {
        SourceBrand {
            brand_id: id.into(),
            name: None,
            website: None,
            channels: channels
                .iter()
                .map(|(id, name)| SourceChannel {
                    channel_id: (*id).into(),
                    kind: "sms".into(),
                    name: Some((*name).into()),
                    address: None,
                    settings: None,
                    credentials: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_channel_listed_twice_is_its_last_listing_in_its_first_place() {
        let brands = [
            brand("b1", &[("a", "A1"), ("b", "B1"), ("a", "A2")]),
            brand("b2", &[("c", "C1"), ("a", "A3")]),
        ];
        let got: Vec<(usize, &str, Option<&str>)> = channels_as_migrated(&brands)
            .into_iter()
            .map(|(b, ch)| (b, ch.channel_id.as_str(), ch.name.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "a", Some("A3")),
                (0, "b", Some("B1")),
                (1, "c", Some("C1"))
            ]
        );
    }
}
