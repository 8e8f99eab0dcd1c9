//! Migrated conversations and their contacts, keyed by the source thread id; and the starred
//! flag a web chat thread carries onto the native conversation it mirrors.

use crate::schema::{contacts, conversations};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::ids::{AccountId, ChannelId, ContactId, ConversationId};
use migrator_core::source::SourceThread;
use migrator_core::text::{exact, ExactText};
use std::collections::HashMap;

/// A conversation as written: its id and whether its messages are all in already.
#[derive(Debug, Clone, Copy)]
pub struct ThreadRow {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// All messages written by an earlier pass.
    pub messages_complete: bool,
}

/// Upserts the contact and the conversation of a source thread.
pub async fn upsert_thread(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    channel_id: ChannelId,
    t: &SourceThread,
) -> CoreResult<ThreadRow> {
    Ok(upsert_threads(conn, account_id, &[(channel_id, t)]).await?[0])
}

/// The key of a thread's contact, when it has one worth keeping.
fn contact_key(t: &SourceThread) -> Option<String> {
    t.contact
        .as_ref()
        .filter(|c| c.name.is_some() || c.phone.is_some() || c.email.is_some())
        .map(|c| c.source_key())
}

/// Upserts the contacts and conversations of several source threads in two statements;
/// returns their rows in the order given.
pub async fn upsert_threads(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    threads: &[(ChannelId, &SourceThread)],
) -> CoreResult<Vec<ThreadRow>> {
    // contacts: one row per distinct key (an upsert may not touch a row twice)
    let mut keys: Vec<String> = Vec::new();
    let mut contact_rows = Vec::new();
    for (_, t) in threads {
        let (Some(key), Some(c)) = (contact_key(t), t.contact.as_ref()) else {
            continue;
        };
        if !keys.contains(&key) {
            contact_rows.push((
                contacts::id.eq(ContactId::new()),
                contacts::account_id.eq(account_id),
                contacts::source_id.eq(ExactText::from(key.clone())),
                contacts::name.eq(exact(c.name.as_deref())),
                contacts::phone.eq(exact(c.phone.as_deref())),
                contacts::email.eq(exact(c.email.as_deref())),
            ));
            keys.push(key);
        }
    }
    let contact_ids: HashMap<String, ContactId> = if contact_rows.is_empty() {
        HashMap::new()
    } else {
        diesel::insert_into(contacts::table)
            .values(&contact_rows)
            .on_conflict((contacts::account_id, contacts::source_id))
            .do_update()
            .set(contacts::name.eq(excluded(contacts::name)))
            .returning((contacts::source_id.assume_not_null(), contacts::id))
            .get_results::<(ExactText, ContactId)>(conn)
            .await?
            .into_iter()
            .map(|(key, id)| (key.into_string(), id))
            .collect()
    };
    let rows: Vec<_> = threads
        .iter()
        .map(|(channel_id, t)| {
            let contact_id = contact_key(t).and_then(|k| contact_ids.get(&k).copied());
            (
                conversations::id.eq(ConversationId::new()),
                conversations::account_id.eq(account_id),
                conversations::channel_id.eq(*channel_id),
                conversations::contact_id.eq(contact_id),
                conversations::source_id.eq(ExactText::from(t.thread_id.as_str())),
                conversations::subject.eq(exact(t.subject.as_deref())),
                conversations::status.eq(t.status.clone()),
                conversations::starred.eq(t.starred),
                conversations::created_at.eq(t.created_at),
                conversations::last_message_at.eq(t.last_message_at),
            )
        })
        .collect();
    let written: HashMap<String, ThreadRow> = diesel::insert_into(conversations::table)
        .values(&rows)
        .on_conflict((conversations::account_id, conversations::source_id))
        .do_update()
        // a thread that gained messages after the switch has a later last_message_at
        .set((
            conversations::starred.eq(excluded(conversations::starred)),
            conversations::last_message_at.eq(excluded(conversations::last_message_at)),
        ))
        .returning((
            conversations::source_id.assume_not_null(),
            conversations::id,
            conversations::messages_complete,
        ))
        .get_results::<(ExactText, ConversationId, bool)>(conn)
        .await?
        .into_iter()
        .map(|(s, conversation_id, messages_complete)| {
            let row = ThreadRow {
                conversation_id,
                messages_complete,
            };
            (s.into_string(), row)
        })
        .collect();
    Ok(threads.iter().map(|(_, t)| written[&t.thread_id]).collect())
}

/// Which of the source threads `thread_ids` already have all their messages written (an
/// earlier phase of the run moved them in full), in one statement.
pub async fn completed_among(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    thread_ids: &[&str],
) -> CoreResult<std::collections::HashSet<String>> {
    let ids: Vec<ExactText> = thread_ids.iter().map(|t| ExactText::from(*t)).collect();
    Ok(conversations::table
        .filter(conversations::account_id.eq(account_id))
        .filter(conversations::source_id.eq_any(ids))
        .filter(conversations::messages_complete.eq(true))
        .select(conversations::source_id.assume_not_null())
        .load::<ExactText>(conn)
        .await?
        .into_iter()
        .map(ExactText::into_string)
        .collect())
}

/// Marks conversations' messages complete; returns how many this call flipped (count each once).
pub async fn complete_threads(
    conn: &mut AsyncPgConnection,
    ids: &[ConversationId],
) -> CoreResult<i32> {
    let n = diesel::update(
        conversations::table
            .filter(conversations::id.eq_any(ids))
            .filter(conversations::messages_complete.eq(false)),
    )
    .set(conversations::messages_complete.eq(true))
    .execute(conn)
    .await?;
    Ok(n as i32)
}

/// Carries a web chat thread's starred flag onto the re:amaze conversation it mirrors; false when
/// that conversation does not exist in this account.
pub async fn star_webchat_conversation(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    reamaze_id: &str,
    starred: bool,
) -> CoreResult<bool> {
    let Ok(id) = reamaze_id.parse::<ConversationId>() else {
        return Ok(false);
    };
    let n = diesel::update(
        conversations::table
            .find(id)
            .filter(conversations::account_id.eq(account_id)),
    )
    .set(conversations::starred.eq(starred))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// What [`clear_for_repair`] removed: the run's figures lose it (the copy counts it again once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, diesel::QueryableByName)]
pub struct Removed {
    /// Migrated messages removed.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub messages: i64,
    /// Conversations opened again (they were complete).
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub threads: i64,
}

/// Before a repair copies `threads` again (in the caller's fenced transaction): their migrated
/// messages are removed (rows without a source id, which re:amaze made itself, stay; their
/// stored files queued for removal), their conversations are opened again (`messages_complete`
/// false), and those of threads not in `in_source` that hold nothing of re:amaze's own are
/// removed.
pub async fn clear_for_repair(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    threads: &[String],
    in_source: &[String],
) -> CoreResult<Removed> {
    use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
    // the files of the attachments about to go, removed by the sweeper
    diesel::sql_query(
        "INSERT INTO blob_removals (prefix, reason) \
         SELECT a.blob_key, 'repair' FROM attachments a \
         JOIN messages m ON m.id = a.message_id \
         JOIN conversations c ON c.id = m.conversation_id \
         WHERE c.account_id = $1 AND c.source_id = ANY($2::text[]) \
           AND m.source_id IS NOT NULL AND a.blob_key IS NOT NULL",
    )
    .bind::<SqlUuid, _>(account_id.0)
    .bind::<Array<Text>, _>(threads)
    .execute(conn)
    .await?;
    let removed: Removed = diesel::sql_query(
        "WITH convs AS ( \
           SELECT id, messages_complete FROM conversations \
           WHERE account_id = $1 AND source_id = ANY($2::text[])), \
         gone AS ( \
           DELETE FROM messages m USING convs c \
           WHERE m.conversation_id = c.id AND m.source_id IS NOT NULL RETURNING 1), \
         reopened AS ( \
           UPDATE conversations SET messages_complete = false \
           WHERE id IN (SELECT id FROM convs WHERE messages_complete) RETURNING 1) \
         SELECT (SELECT count(*) FROM gone) AS messages, \
                (SELECT count(*) FROM reopened) AS threads",
    )
    .bind::<SqlUuid, _>(account_id.0)
    .bind::<Array<Text>, _>(threads)
    .get_result(conn)
    .await?;
    // the conversations of threads the source no longer has, empty of anything of ours
    diesel::sql_query(
        "DELETE FROM conversations c WHERE c.account_id = $1 AND c.source_id = ANY($2::text[]) \
         AND NOT (c.source_id = ANY($3::text[])) \
         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)",
    )
    .bind::<SqlUuid, _>(account_id.0)
    .bind::<Array<Text>, _>(threads)
    .bind::<Array<Text>, _>(in_source)
    .execute(conn)
    .await?;
    Ok(removed)
}
