//! Bodies of the mobile app's endpoints.

use super::{ts, PageInfo};
use migrator_core::ids::*;
use migrator_core::MigrationStatus;
use migrator_store::models::{Attachment, Contact, Conversation, Message};
use migrator_store::queries::destination::accounts::AccountTree;
use migrator_store::queries::operators::overview::StatusView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /accounts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountsBody {
    /// The caller's account (one).
    pub accounts: Vec<AccountBody>,
}

/// An account with its brands and channels; credentials are never included.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountBody {
    pub id: AccountId,
    pub shopper_id: ShopperId,
    pub name: String,
    /// Account status (`active`), untouched by the migration.
    pub status: String,
    pub migration_status: MigrationStatus,
    pub brands: Vec<BrandBody>,
}

/// A brand.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandBody {
    pub id: BrandId,
    pub name: String,
    pub website: Option<String>,
    pub channels: Vec<ChannelBody>,
}

/// A channel (no credentials).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelBody {
    pub id: ChannelId,
    /// `sms`, `voice`, `email`, `facebook`, `instagram`, `whatsapp`, `webchat`, or another kind
    /// kept as the source named it.
    pub kind: String,
    pub name: String,
    pub address: Option<String>,
}

impl AccountBody {
    /// The account with the status the reader may see (`real`: operators).
    pub fn new(tree: &AccountTree, real: bool) -> Self {
        let a = &tree.account;
        Self {
            id: a.id,
            shopper_id: a.shopper_id.clone(),
            name: a.name.clone(),
            status: a.status.clone(),
            migration_status: if real {
                a.migration_status
            } else {
                a.migration_status.app_facing()
            },
            brands: tree
                .brands
                .iter()
                .map(|(b, chans)| BrandBody {
                    id: b.id,
                    name: b.name.to_string(),
                    website: b.website.clone().map(String::from),
                    channels: chans
                        .iter()
                        .map(|c| ChannelBody {
                            id: c.id,
                            kind: c.kind.to_string(),
                            name: c.name.to_string(),
                            address: c.address.clone().map(String::from),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// `POST /migrate` and the operators' starts: the status now in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct MigrateBody {
    pub migration_status: MigrationStatus,
}

/// `GET /check-migration-status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusBody {
    /// App-facing: never `messages-failure`.
    pub migration_status: MigrationStatus,
    /// The inbox can be shown (true from `channels-migrated` on).
    pub inbox_ready: bool,
    pub progress: Progress,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// What has moved so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    pub threads_total: i32,
    pub threads_migrated: i32,
    pub messages_migrated: i64,
    pub attachments_failed: i32,
    /// Waiting for a download (a first try, or a retry after a transient failure).
    pub attachments_pending: i32,
    /// 0–100 over the whole migration, weighted by work (channels 5, then threads); 100 only
    /// at `completed`.
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
    /// 0–100 of the phase running.
    #[schema(minimum = 0, maximum = 100)]
    pub phase_percent: u8,
    /// Seconds left at the run's own measured rate; null until a rate is known.
    pub eta_seconds: Option<i64>,
}

impl StatusBody {
    /// The app's view of `v` now; the recent phase moves at most `recent_max_threads`.
    pub fn new(v: &StatusView, recent_max_threads: i64) -> Self {
        let d = migrator_core::progress::draw(v, chrono::Utc::now(), recent_max_threads);
        Self {
            migration_status: v.migration_status.app_facing(),
            inbox_ready: d.inbox_ready,
            progress: Progress {
                threads_total: v.threads_total,
                threads_migrated: v.threads_migrated,
                messages_migrated: v.messages_migrated,
                attachments_failed: v.attachments_failed,
                attachments_pending: v.attachments_pending,
                percent: d.percent,
                phase_percent: d.phase_percent,
                eta_seconds: d.eta_seconds,
            },
            updated_at: ts(v.updated_at),
        }
    }
}

/// `GET /conversations`: newest `last_message_at` first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationsBody {
    pub conversations: Vec<ConversationBody>,
    #[serde(flatten)]
    pub paging: PageInfo,
}

/// A conversation of the inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationBody {
    pub id: ConversationId,
    pub channel_id: ChannelId,
    pub subject: Option<String>,
    /// `open` or `closed`.
    pub status: String,
    pub starred: bool,
    pub contact: ContactBody,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_message_at: String,
    pub message_count: i32,
}

/// The conversation's contact (each field may be absent).
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactBody {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

impl From<&(Conversation, Option<Contact>)> for ConversationBody {
    fn from((cv, ct): &(Conversation, Option<Contact>)) -> Self {
        Self {
            id: cv.id,
            channel_id: cv.channel_id,
            subject: cv.subject.clone().map(String::from),
            status: cv.status.clone(),
            starred: cv.starred,
            contact: ContactBody {
                name: ct.as_ref().and_then(|c| c.name.clone().map(String::from)),
                phone: ct.as_ref().and_then(|c| c.phone.clone().map(String::from)),
                email: ct.as_ref().and_then(|c| c.email.clone().map(String::from)),
            },
            created_at: ts(cv.created_at),
            last_message_at: ts(cv.last_message_at),
            message_count: cv.message_count,
        }
    }
}

/// `GET /conversations/{id}/messages`: oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagesBody {
    pub messages: Vec<MessageBody>,
    #[serde(flatten)]
    pub paging: PageInfo,
}

/// A message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    pub id: MessageId,
    /// `inbound` or `outbound`.
    pub direction: String,
    pub author_name: Option<String>,
    /// Any Unicode; absent or empty for attachment-only messages.
    pub body: Option<String>,
    #[schema(format = DateTime)]
    pub sent_at: String,
    pub starred: bool,
    /// Telephony data and source attributes outside the contract.
    pub metadata: Option<serde_json::Value>,
    pub attachments: Vec<AttachmentBody>,
}

/// An attachment of a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentBody {
    pub id: AttachmentId,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub size_bytes: Option<i64>,
    /// `stored`, `pending` (retried later) or `failed`.
    pub status: String,
    /// `/attachments/{id}` for stored ones.
    pub url: Option<String>,
    /// Short code of a failure (`not_found`, `too_large`, `forbidden_origin`, …).
    pub failure: Option<String>,
}

impl From<&(Message, Vec<Attachment>)> for MessageBody {
    fn from((m, atts): &(Message, Vec<Attachment>)) -> Self {
        Self {
            id: m.id,
            direction: m.direction.clone(),
            author_name: m.author_name.clone().map(String::from),
            body: m
                .body
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            sent_at: ts(m.sent_at),
            starred: m.starred,
            metadata: m.metadata.clone(),
            attachments: atts
                .iter()
                .map(|a| AttachmentBody {
                    id: a.id,
                    file_name: a.file_name.clone().map(String::from),
                    content_type: a.content_type.clone().map(String::from),
                    size_bytes: a.size_bytes,
                    status: a.status.clone(),
                    url: (a.status == "stored").then(|| format!("/attachments/{}", a.id)),
                    failure: a.failure.clone(),
                })
                .collect(),
        }
    }
}

/// Text a person typed: at least one character that is not a space, a tab or a line break,
/// and no NUL (the pattern the bodies below declare).
pub fn is_text(s: &str) -> bool {
    !s.contains('\0') && s.chars().any(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
}

/// `{"name": …}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactIn {
    /// At most 256 characters, no NUL.
    #[schema(max_length = 256, pattern = "^[^\\u0000]*$")]
    pub name: Option<String>,
}

/// `POST /webchat/conversations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    pub contact: ContactIn,
    /// 1 to 65,536 characters, not only spaces, no NUL.
    #[schema(
        min_length = 1,
        max_length = 65536,
        pattern = "^[^\\u0000]*[^\\u0000 \\t\\n\\r][^\\u0000]*$"
    )]
    pub body: String,
}

/// Message direction.
#[derive(Debug, Deserialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// From the C1.
    Outbound,
}

/// `POST /webchat/conversations/{id}/messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// 1 to 65,536 characters, not only spaces, no NUL.
    #[schema(
        min_length = 1,
        max_length = 65536,
        pattern = "^[^\\u0000]*[^\\u0000 \\t\\n\\r][^\\u0000]*$"
    )]
    pub body: String,
    pub direction: Direction,
}

/// A conversation created.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedConversation {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
}

/// A message created.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedMessage {
    pub message_id: MessageId,
}
