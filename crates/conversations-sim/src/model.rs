//! What a simulated C1 holds, and a generator of realistic synthetic ones.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One C1 as the simulator serves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct C1Spec {
    /// The C1.
    pub shopper_id: String,
    /// Answer of the eligibility endpoint.
    pub needs_migration: bool,
    /// Brands with channels (served by configs-migration).
    pub brands: Vec<BrandSpec>,
    /// Threads with messages (written to DynamoDB).
    pub threads: Vec<ThreadSpec>,
    /// Raw items that break the contract: (table, DynamoDB-JSON item).
    #[serde(default)]
    pub malformed: Vec<(String, Value)>,
}

/// A brand.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrandSpec {
    /// `brand_id`.
    pub brand_id: String,
    /// Name.
    pub name: String,
    /// Website.
    pub website: Option<String>,
    /// Channels.
    pub channels: Vec<ChannelSpec>,
}

/// A channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelSpec {
    /// `channel_id`.
    pub channel_id: String,
    /// `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Settings.
    pub settings: Value,
    /// Secrets.
    pub credentials: Value,
}

/// A thread.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadSpec {
    /// `thread_id`.
    pub thread_id: String,
    /// `channel_id`.
    pub channel_id: String,
    /// `channel_type`.
    pub channel_type: String,
    /// Contact name/phone/email.
    pub contact: Option<(Option<String>, Option<String>, Option<String>)>,
    /// Subject.
    pub subject: Option<String>,
    /// `open` / `closed`.
    pub status: String,
    /// Starred (None = attribute absent).
    pub starred: Option<bool>,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub last_message_at: i64,
    /// Web chat threads only.
    pub webchat_conversation_id: Option<String>,
    /// Messages, oldest first.
    pub messages: Vec<MessageSpec>,
}

/// A message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageSpec {
    /// `message_id`.
    pub message_id: String,
    /// `inbound` / `outbound`.
    pub direction: String,
    /// Author.
    pub author_name: Option<String>,
    /// Body (None = attribute absent).
    pub body: Option<String>,
    /// Epoch ms.
    pub sent_at: i64,
    /// Starred (None = attribute absent).
    pub starred: Option<bool>,
    /// Attachments.
    pub attachments: Vec<AttachmentSpec>,
    /// Call data.
    pub telephony: Option<Value>,
    /// Web chat threads only.
    pub webchat_message_id: Option<String>,
}

/// An attachment; its bytes are derived from `media_id` (see `media.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachmentSpec {
    /// Media id in the URL (an absolute URL is used as the `media_url` itself).
    pub media_id: String,
    /// MIME type.
    pub content_type: String,
    /// File name.
    pub file_name: String,
    /// Size.
    pub size_bytes: u64,
}

impl MessageSpec {
    /// The contract's sort key.
    pub fn sort_key(&self) -> String {
        format!("{:013}#{}", self.sent_at, self.message_id)
    }
}

/// Now, epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Knobs of the generator.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Threads (web chat ones excluded).
    pub threads: usize,
    /// Messages per thread.
    pub messages_per_thread: usize,
    /// One message in this many has an attachment (0 = none).
    pub attachment_every: usize,
    /// Attachments whose media is gone (404).
    pub gone_attachments: usize,
    /// Malformed items added.
    pub malformed: usize,
    /// Random seed.
    pub seed: u64,
    /// "Now", epoch ms: threads spread over the 120 days before.
    pub now_ms: i64,
}

impl GenOptions {
    /// `threads` threads of `messages` messages each, from `seed`, ending now; no attachments
    /// and no malformed items unless added.
    pub fn new(threads: usize, messages: usize, seed: u64) -> Self {
        Self {
            threads,
            messages_per_thread: messages,
            attachment_every: 0,
            gone_attachments: 0,
            malformed: 0,
            seed,
            now_ms: now_ms(),
        }
    }

    /// One message in `every` has an attachment, `gone` of them with media gone.
    pub fn attachments(mut self, every: usize, gone: usize) -> Self {
        self.attachment_every = every;
        self.gone_attachments = gone;
        self
    }

    /// `n` malformed items added.
    pub fn malformed(mut self, n: usize) -> Self {
        self.malformed = n;
        self
    }
}

const BODIES: &[&str] = &[
    "Hi, is the plumber available tomorrow morning?",
    "Your appointment is confirmed for 9:00 🛠️",
    "¿Pueden venir el sábado?",
    "Merci beaucoup ! À bientôt.",
    "請問明天有空嗎？",
    "Спасибо, всё работает.",
    "مرحبا، هل يمكنكم المساعدة؟",
    "Invoice #4411 attached — thanks!",
    "👍",
    "Line one\nline two\n\ttabbed \"quoted\" \\ backslash",
];
const NAMES: &[&str] = &[
    "Ana García",
    "Bob O'Neil",
    "Chloé Dubois",
    "李雷",
    "Ömer Yıldız",
    "Zoë",
];

/// A realistic synthetic C1: sms, voice, email, whatsapp and an unknown channel type, web chat,
/// Unicode bodies, attachment-only messages, telephony data.
pub fn generate(shopper_id: &str, o: &GenOptions) -> C1Spec {
    let mut rng = StdRng::seed_from_u64(o.seed);
    let kinds = ["sms", "voice", "email", "whatsapp", "sms", "tiktok"];
    let channels = channels_of(shopper_id, &kinds);
    let day = 86_400_000i64;
    let mut att_n = 0usize;
    let mut gone_left = o.gone_attachments;
    let threads = (0..o.threads)
        .map(|t| {
            let ch = &channels[t % kinds.len()];
            let last = o.now_ms - rng.random_range(0..120 * day);
            let n = o.messages_per_thread.max(1);
            let created = last - (n as i64) * 60_000 - rng.random_range(0..day);
            let messages = (0..n)
                .map(|m| {
                    let sent_at = if m + 1 == n { last } else { created + (m as i64) * 60_000 };
                    let with_att = o.attachment_every > 0 && (t * n + m).is_multiple_of(o.attachment_every);
                    let attachments = if with_att {
                        att_n += 1;
                        let gone = gone_left > 0;
                        gone_left = gone_left.saturating_sub(1);
                        let size = 200 + (att_n as u64 * 37) % 3000;
                        vec![AttachmentSpec {
                            media_id: format!("{}{shopper_id}-a{att_n}-s{size}", if gone { "gone-" } else { "" }),
                            content_type: "image/png".into(),
                            file_name: format!("photo {att_n} ✓.png"),
                            size_bytes: size,
                        }]
                    } else {
                        vec![]
                    };
                    MessageSpec {
                        message_id: format!("{shopper_id}-t{t}-m{m}"),
                        direction: if m % 2 == 0 { "inbound" } else { "outbound" }.into(),
                        author_name: (m % 3 != 2).then(|| NAMES[(t + m) % NAMES.len()].to_string()),
                        body: if with_att && m % 2 == 0 {
                            None
                        } else {
                            Some(format!("{} (#{m})", BODIES[(t * 7 + m) % BODIES.len()]))
                        },
                        sent_at,
                        starred: (m % 11 == 3).then_some(true),
                        attachments,
                        telephony: (ch.kind == "voice")
                            .then(|| json!({"duration_s": 30 + m, "recording": false, "from": "+14805550199"})),
                        webchat_message_id: None,
                    }
                })
                .collect();
            ThreadSpec {
                thread_id: format!("{shopper_id}-t{t}"),
                channel_id: ch.channel_id.clone(),
                channel_type: ch.kind.clone(),
                contact: Some((
                    Some(NAMES[t % NAMES.len()].to_string()),
                    (ch.kind != "email").then(|| format!("+1602555{:04}", t % 10_000)),
                    (ch.kind == "email").then(|| format!("customer{t}@mail.example")),
                )),
                subject: (ch.kind == "email").then(|| format!("Question #{t} — ünïcödé")),
                status: if t % 3 == 0 { "closed" } else { "open" }.into(),
                starred: (t % 5 == 0).then_some(true),
                created_at: created,
                last_message_at: last,
                webchat_conversation_id: None,
                messages,
            }
        })
        .collect();
    let malformed = malformed_items(shopper_id, o, &channels);
    C1Spec {
        shopper_id: shopper_id.to_string(),
        needs_migration: true,
        brands: vec![BrandSpec {
            brand_id: format!("{shopper_id}-br1"),
            name: "Acme Plumbing".into(),
            website: Some("acme.example".into()),
            channels,
        }],
        threads,
        malformed,
    }
}

/// The C1's channels: one of each kind in `kinds`, then web chat.
fn channels_of(shopper_id: &str, kinds: &[&str]) -> Vec<ChannelSpec> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, k)| ChannelSpec {
            channel_id: format!("{shopper_id}-ch{i}"),
            kind: k.to_string(),
            name: format!("{k} line {i}"),
            address: match *k {
                "email" => format!("support{i}@acme.example"),
                _ => format!("+1480555{:04}", i),
            },
            settings: json!({"auto_reply": "Back soon", "index": i}),
            credentials: json!({"provider_token": format!("tok_{shopper_id}_{i}_SECRET")}),
        })
        .chain(std::iter::once(ChannelSpec {
            channel_id: format!("{shopper_id}-webchat"),
            kind: "webchat".into(),
            name: "Website chat".into(),
            address: "acme.example".into(),
            settings: json!({}),
            credentials: json!({}),
        }))
        .collect()
}

/// `o.malformed` raw items the source contract refuses, threads and messages in turn.
fn malformed_items(
    shopper_id: &str,
    o: &GenOptions,
    channels: &[ChannelSpec],
) -> Vec<(String, serde_json::Value)> {
    (0..o.malformed)
        .map(|i| {
            if i % 2 == 0 {
                (
                    "threads".to_string(),
                    json!({"shopper_id": {"S": shopper_id}, "thread_id": {"S": format!("{shopper_id}-bad{i}")},
                           "channel_id": {"S": channels[0].channel_id}, "channel_type": {"S": "sms"},
                           "status": {"S": "open"}, "created_at": {"S": "not a number"},
                           "last_message_at": {"N": (o.now_ms - 1000).to_string()}}),
                )
            } else {
                (
                    "messages".to_string(),
                    json!({"thread_id": {"S": format!("{shopper_id}-t0")}, "sort_key": {"S": format!("{:013}#{shopper_id}-badm{i}", o.now_ms)},
                           "shopper_id": {"S": shopper_id}, "direction": {"S": "inbound"},
                           "sent_at": {"N": o.now_ms.to_string()}}),
                )
            }
        })
        .collect()
}
