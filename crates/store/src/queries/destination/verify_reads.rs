//! What the verifier reads of the destination: rows by their source ids, a page at a time, and
//! the rows no source item accounts for (through a session-local table of the ids seen, so
//! memory stays bounded whatever the account's size).

use crate::schema::{channel_sources, channels, contacts, conversations, messages, rejects};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::ids::{AccountId, ConversationId, MessageId};
use migrator_core::text::ExactText;

/// A migrated conversation as the verifier compares it.
#[derive(Debug, Clone, Queryable)]
pub struct DestThread {
    pub source_id: ExactText,
    pub id: ConversationId,
    pub subject: Option<ExactText>,
    pub status: String,
    pub starred: bool,
    pub last_message_at: DateTime<Utc>,
    pub contact_name: Option<ExactText>,
    pub contact_phone: Option<ExactText>,
    pub contact_email: Option<ExactText>,
}

/// Migrated conversations of the account with these source thread ids.
pub async fn threads_by_source(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    ids: &[ExactText],
) -> CoreResult<Vec<DestThread>> {
    Ok(conversations::table
        .left_join(contacts::table)
        .filter(conversations::account_id.eq(account))
        .filter(conversations::source_id.eq_any(ids))
        .select((
            conversations::source_id.assume_not_null(),
            conversations::id,
            conversations::subject,
            conversations::status,
            conversations::starred,
            conversations::last_message_at,
            contacts::name.nullable(),
            contacts::phone.nullable(),
            contacts::email.nullable(),
        ))
        .load(conn)
        .await?)
}

/// Conversations the migration wrote for the account (native ones aside).
pub async fn migrated_thread_count(
    conn: &mut AsyncPgConnection,
    account: AccountId,
) -> CoreResult<i64> {
    Ok(conversations::table
        .filter(conversations::account_id.eq(account))
        .filter(conversations::native.eq(false))
        .filter(conversations::source_id.is_not_null())
        .count()
        .get_result(conn)
        .await?)
}

/// A migrated message as the verifier compares it.
#[derive(Debug, Clone, QueryableByName)]
pub struct DestMessage {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub source_id: ExactText,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub conversation_id: ConversationId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub direction: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub author_name: Option<ExactText>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bytea>)]
    pub body: Option<Vec<u8>>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub sent_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub starred: bool,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub attachments: i64,
}

/// Migrated messages of the account with these source message ids, with their attachment
/// counts.
pub async fn messages_by_source(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    ids: &[ExactText],
) -> CoreResult<Vec<DestMessage>> {
    use diesel::sql_types::{Array, Text, Uuid};
    Ok(diesel::sql_query(
        "SELECT m.source_id, m.conversation_id, m.direction, m.author_name, m.body, m.sent_at, \
                m.starred, (SELECT count(*) FROM attachments a WHERE a.message_id = m.id) \
                AS attachments \
         FROM messages m WHERE m.account_id = $1 AND m.source_id = ANY($2)",
    )
    .bind::<Uuid, _>(account)
    .bind::<Array<Text>, _>(ids)
    .load(conn)
    .await?)
}

/// How many migrated message rows (with a source id) each of `conversations` holds (those
/// with none are absent), in one
/// statement for a page of threads.
pub async fn message_counts(
    conn: &mut AsyncPgConnection,
    conversations: &[ConversationId],
) -> CoreResult<std::collections::HashMap<ConversationId, i64>> {
    if conversations.is_empty() {
        return Ok(Default::default());
    }
    // migrated rows only: a reply written in re:amaze after the switch is not the source's
    Ok(messages::table
        .filter(messages::conversation_id.eq_any(conversations))
        .filter(messages::source_id.is_not_null())
        .group_by(messages::conversation_id)
        .select((messages::conversation_id, diesel::dsl::count_star()))
        .load::<(ConversationId, i64)>(conn)
        .await?
        .into_iter()
        .collect())
}

/// Whether any of `keys` of `table` is a recorded reject of the account.
pub async fn is_rejected(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    table: &str,
    keys: &[ExactText],
) -> CoreResult<bool> {
    let n: i64 = rejects::table
        .filter(rejects::account_id.eq(account))
        .filter(rejects::source_table.eq(table))
        .filter(rejects::source_key.eq_any(keys))
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}

/// A native conversation's starred flag (None: not this account's).
pub async fn conversation_starred(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    id: ConversationId,
) -> CoreResult<Option<bool>> {
    Ok(conversations::table
        .find(id)
        .filter(conversations::account_id.eq(account))
        .select(conversations::starred)
        .first(conn)
        .await
        .optional()?)
}

/// A message's starred flag (None: not this account's). The same read as
/// [`conversation_starred`] on another table: Diesel's table types differ, so each its own.
pub async fn message_starred(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    id: MessageId,
) -> CoreResult<Option<bool>> {
    Ok(messages::table
        .find(id)
        .filter(messages::account_id.eq(account))
        .select(messages::starred)
        .first(conn)
        .await
        .optional()?)
}

/// Every Conversations channel of the account -> the re:amaze channel it was carried onto:
/// (kind, name, native), in one read.
pub async fn channels_by_source(
    conn: &mut AsyncPgConnection,
    account: AccountId,
) -> CoreResult<std::collections::HashMap<String, (ExactText, ExactText, bool)>> {
    let rows: Vec<(ExactText, ExactText, ExactText, bool)> = channel_sources::table
        .inner_join(channels::table.on(channels::id.eq(channel_sources::channel_id)))
        .filter(channel_sources::account_id.eq(account))
        .select((
            channel_sources::source_id,
            channels::kind,
            channels::name,
            channels::native,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(source, kind, name, native)| (source.into_string(), (kind, name, native)))
        .collect())
}

/// A set of source ids seen, on one connection (a session-local table).
#[derive(Debug, Clone, Copy)]
pub enum Seen {
    /// Thread ids of the account.
    Threads,
    /// Message ids of one thread.
    Messages,
}

impl Seen {
    fn table(self) -> &'static str {
        match self {
            Seen::Threads => "verify_seen_threads",
            Seen::Messages => "verify_seen_messages",
        }
    }
}

/// Starts the set `seen` on this connection, empty.
pub async fn seen_reset(conn: &mut AsyncPgConnection, seen: Seen) -> CoreResult<()> {
    let t = seen.table();
    diesel::sql_query(format!(
        "CREATE TEMP TABLE IF NOT EXISTS {t} (source_id text PRIMARY KEY) ON COMMIT PRESERVE ROWS"
    ))
    .execute(conn)
    .await?;
    diesel::sql_query(format!("TRUNCATE {t}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds source ids to the set (same connection as [`seen_reset`]).
pub async fn seen_add(
    conn: &mut AsyncPgConnection,
    seen: Seen,
    ids: &[ExactText],
) -> CoreResult<()> {
    use diesel::sql_types::{Array, Text};
    diesel::sql_query(format!(
        "INSERT INTO {} SELECT DISTINCT unnest($1::text[]) ON CONFLICT DO NOTHING",
        seen.table()
    ))
    .bind::<Array<Text>, _>(ids)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct SourceIdRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    source_id: ExactText,
}

/// Migrated conversations of the account whose source id is not in [`Seen::Threads`]: up to
/// `limit`.
pub async fn unseen_threads(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    limit: i64,
) -> CoreResult<Vec<String>> {
    use diesel::sql_types::{BigInt, Uuid};
    let rows: Vec<SourceIdRow> = diesel::sql_query(
        "SELECT c.source_id FROM conversations c \
         WHERE c.account_id = $1 AND NOT c.native AND c.source_id IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM verify_seen_threads s WHERE s.source_id = c.source_id) \
         ORDER BY c.source_id LIMIT $2",
    )
    .bind::<Uuid, _>(account)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| r.source_id.into_string())
        .collect())
}

/// Messages of a conversation whose source id is not in [`Seen::Messages`]: up to `limit`.
pub async fn unseen_messages(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
    limit: i64,
) -> CoreResult<Vec<String>> {
    use diesel::sql_types::{BigInt, Uuid};
    let rows: Vec<SourceIdRow> = diesel::sql_query(
        "SELECT m.source_id FROM messages m \
         WHERE m.conversation_id = $1 AND m.source_id IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM verify_seen_messages s WHERE s.source_id = m.source_id) \
         ORDER BY m.source_id LIMIT $2",
    )
    .bind::<Uuid, _>(conversation)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| r.source_id.into_string())
        .collect())
}
