//! Row structs, one per table (the ones read back as whole rows).

use super::schema::*;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use migrator_core::ids::*;
use migrator_core::status::MigrationStatus;
use migrator_core::text::ExactText;

/// A re:amaze account.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// The C1.
    pub shopper_id: ShopperId,
    /// Display name.
    pub name: String,
    /// Account status (`active`), untouched by the migration.
    pub status: String,
    /// Migration status (see `status.rs`).
    pub migration_status: MigrationStatus,
    /// The run in force.
    pub current_run_id: Option<RunId>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A brand.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = brands)]
pub struct Brand {
    /// Id.
    pub id: BrandId,
    /// Owner.
    pub account_id: AccountId,
    /// Conversations `brand_id`, if migrated or matched.
    pub source_id: Option<ExactText>,
    /// Name.
    pub name: ExactText,
    /// Website.
    pub website: Option<ExactText>,
    /// Created in re:amaze, not by the migration.
    pub native: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A channel (credentials stay sealed; they never leave core as plain text).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = channels)]
pub struct Channel {
    /// Id.
    pub id: ChannelId,
    /// Owner.
    pub account_id: AccountId,
    /// Brand.
    pub brand_id: BrandId,
    /// `sms`, `webchat`, … (unknown kinds are kept as they are).
    pub kind: ExactText,
    /// Name.
    pub name: ExactText,
    /// Phone number, address, site.
    pub address: Option<ExactText>,
    /// Created in re:amaze.
    pub native: bool,
}

/// A conversation row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = conversations)]
pub struct Conversation {
    /// Id.
    pub id: ConversationId,
    /// Owner.
    pub account_id: AccountId,
    /// Channel.
    pub channel_id: ChannelId,
    /// Contact.
    pub contact_id: Option<ContactId>,
    /// Subject.
    pub subject: Option<ExactText>,
    /// `open` / `closed`.
    pub status: String,
    /// Starred.
    pub starred: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Newest message.
    pub last_message_at: DateTime<Utc>,
    /// Messages held.
    pub message_count: i32,
}

/// A contact.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts)]
pub struct Contact {
    /// Id.
    pub id: ContactId,
    /// Name.
    pub name: Option<ExactText>,
    /// Phone.
    pub phone: Option<ExactText>,
    /// Email.
    pub email: Option<ExactText>,
}

/// A message row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages)]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// Conversation.
    pub conversation_id: ConversationId,
    /// `inbound` / `outbound`.
    pub direction: String,
    /// Author.
    pub author_name: Option<ExactText>,
    /// UTF-8 body bytes.
    pub body: Option<Vec<u8>>,
    /// Sent.
    pub sent_at: DateTime<Utc>,
    /// Starred.
    pub starred: bool,
    /// Telephony and extra source attributes.
    pub metadata: Option<serde_json::Value>,
}

/// An attachment row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = attachments)]
pub struct Attachment {
    /// Id.
    pub id: AttachmentId,
    /// Owner.
    pub account_id: AccountId,
    /// Message.
    pub message_id: MessageId,
    /// Index in the source message.
    pub position: i32,
    /// Source URL.
    pub media_url: Option<ExactText>,
    /// File name.
    pub file_name: Option<ExactText>,
    /// MIME type.
    pub content_type: Option<ExactText>,
    /// Size.
    pub size_bytes: Option<i64>,
    /// `pending`, `stored`, `failed`.
    pub status: String,
    /// Download attempts.
    pub attempts: i32,
    /// Why it failed, in full (operators).
    pub failure_reason: Option<String>,
    /// Where the bytes are.
    pub blob_key: Option<String>,
    /// The run that wrote it.
    pub run_id: Option<RunId>,
    /// When a pending download is tried again (after a transient failure).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Short code the app sees for a failed one (`not_found`, `too_large`, …).
    pub failure: Option<String>,
    /// Refusals of our cert JWT counted against it (systemic ones are not).
    pub refusals: i32,
}

/// One migration run of an account, with its lease, checkpoint and figures.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = migration_runs)]
pub struct MigrationRun {
    /// Id.
    pub id: RunId,
    /// Account.
    pub account_id: AccountId,
    /// Phase in force (`done` when the run is over).
    pub phase: String,
    /// Superseded by a forced re-migration.
    pub cancelled: bool,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Hop attempts of the phase in force.
    pub hop_attempts: i32,
    /// Last error.
    pub last_error: Option<String>,
    /// Lease holder.
    pub lease_owner: Option<String>,
    /// Lease expiry.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Phase checkpoint (DynamoDB cursor).
    pub checkpoint: Option<serde_json::Value>,
    /// Threads in Conversations.
    pub threads_total: i32,
    /// Threads written.
    pub threads_migrated: i32,
    /// Messages written.
    pub messages_migrated: i64,
    /// Attachments stored.
    pub attachments_stored: i32,
    /// Attachments failed.
    pub attachments_failed: i32,
    /// Source items rejected.
    pub rejects: i32,
    /// Channels migrated.
    pub channels_migrated: i32,
    /// Channels phase done.
    pub channels_at: Option<DateTime<Utc>>,
    /// Recent phase done.
    pub recent_at: Option<DateTime<Utc>>,
    /// All-messages phase done.
    pub completed_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Failed attempts of the run across deliveries, re-enqueues and repairs.
    pub total_attempts: i32,
    /// Given up after `worker.max_total_attempts`: the fleet leaves it alone until an operator
    /// un-parks it.
    pub parked_at: Option<DateTime<Utc>>,
    /// Attachments waiting for a download (first try or a retry after a transient failure).
    pub attachments_pending: i32,
    /// The latest verification's result of this run (`match`, `diff`).
    pub verification: Option<String>,
    /// When that verification ended.
    pub verified_at: Option<DateTime<Utc>>,
}

/// A hop that was given up, as operators see it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dead_letters)]
pub struct DeadLetter {
    /// Id.
    pub id: i64,
    /// Account (None: the message could not be read).
    pub account_id: Option<AccountId>,
    /// Run.
    pub run_id: Option<RunId>,
    /// Phase (`unknown` for an unreadable message).
    pub phase: String,
    /// The hop as published (or the raw body).
    pub hop: serde_json::Value,
    /// Why it was given up.
    pub error: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When an operator replayed it.
    pub replayed_at: Option<DateTime<Utc>>,
}

/// An operator's write, as recorded.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    /// Id.
    pub id: i64,
    /// Who: the operator token's `sub`.
    pub actor: String,
    /// What (`remigrate`, `repair`, `retry`, …).
    pub action: String,
    /// On what (a shopper id, a dead letter id, `fleet`).
    pub target: String,
    /// The outcome.
    pub detail: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}
