//! The inbox as the app reads it: conversations, messages with attachments, one attachment.
//! Every read is scoped to the caller's account.

use crate::models::{Attachment, Contact, Conversation, Message};
use crate::queries::page::{self, Key, Page, Start, Total};
use crate::schema::{attachments, contacts, conversation_counts, conversations, messages};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::ids::{AccountId, AttachmentId, ConversationId, MessageId};
use std::collections::HashMap;

/// The account's conversations, newest `last_message_at` first (ties by id), with their
/// contacts: `per_page` from `start` along `conversations_inbox`, the next page's cursor
/// (order `inbox`) and the exact total (`conversation_counts`, kept by triggers). A cursor's
/// page costs what the first does at any depth; a page number walks the index to its row,
/// index-only.
pub async fn conversations_page(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    start: &Start,
    per_page: i64,
) -> CoreResult<Page<(Conversation, Option<Contact>)>> {
    let total: Option<i64> = conversation_counts::table
        .find(account_id)
        .select(conversation_counts::n)
        .first(conn)
        .await
        .optional()?;
    let mut q = conversations::table
        .left_join(contacts::table)
        .filter(conversations::account_id.eq(account_id))
        .into_boxed();
    if let Start::After(k) = start {
        let (at, id) = (page::time(k.n), key_uuid(k));
        q = q.filter(conversations::last_message_at.le(at)).filter(
            conversations::last_message_at
                .lt(at)
                .or(conversations::id.gt(ConversationId(id))),
        );
    }
    if let Start::Offset(skip) = start {
        // a deep page: its rows' ids found index-only (the skipped rows are never read)
        let ids: Vec<ConversationId> = conversations::table
            .filter(conversations::account_id.eq(account_id))
            .order((conversations::last_message_at.desc(), conversations::id))
            .offset(*skip)
            .limit(per_page + 1)
            .select(conversations::id)
            .load(conn)
            .await?;
        q = q.filter(conversations::id.eq_any(ids));
    }
    let rows = q
        .order((conversations::last_message_at.desc(), conversations::id))
        .limit(per_page + 1)
        .select((Conversation::as_select(), Option::<Contact>::as_select()))
        .load(conn)
        .await?;
    let total = Total {
        n: total.unwrap_or(0),
        exact: true,
    };
    Ok(Page::of(rows, per_page, total, |(c, _)| {
        Key::new(CONVERSATIONS, page::micros(c.last_message_at), c.id)
    }))
}

/// The order name of a conversations cursor.
pub const CONVERSATIONS: &str = "inbox";
/// The order name of a messages cursor.
pub const MESSAGES: &str = "thread";

/// A conversation's messages, oldest first (`sent_at`, then the source's sort key with none
/// last, then id), with attachments; 404 for another account's. `per_page` from `start`
/// along `messages_thread`, with the next page's cursor (order `thread`) and the exact total
/// (the conversation's `message_count`, kept with every insert).
pub async fn messages_page(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    conversation_id: ConversationId,
    start: &Start,
    per_page: i64,
) -> CoreResult<Page<(Message, Vec<Attachment>)>> {
    let total: i32 = conversations::table
        .find(conversation_id)
        .filter(conversations::account_id.eq(account_id))
        .select(conversations::message_count)
        .first(conn)
        .await
        .optional()?
        .ok_or(CoreError::NotFound("conversation"))?;
    let mut q = messages::table
        .filter(messages::conversation_id.eq(conversation_id))
        .into_boxed();
    if let Start::After(k) = start {
        let at = page::time(k.n);
        q = q
            .filter(messages::sent_at.ge(at))
            .filter(messages::sent_at.gt(at).or(after_in_thread(k)));
    }
    if let Start::Offset(skip) = start {
        // a deep page: its rows' ids found index-only (the skipped rows are never read)
        let ids: Vec<MessageId> = messages::table
            .filter(messages::conversation_id.eq(conversation_id))
            .order((messages::sent_at, messages::source_sort, messages::id))
            .offset(*skip)
            .limit(per_page + 1)
            .select(messages::id)
            .load(conn)
            .await?;
        q = q.filter(messages::id.eq_any(ids));
    }
    let msgs: Vec<(Message, Option<String>)> = q
        .order((messages::sent_at, messages::source_sort, messages::id))
        .limit(per_page + 1)
        .select((Message::as_select(), messages::source_sort))
        .load(conn)
        .await?;
    // the key of the last row shown, before the sort keys are dropped
    let next = (msgs.len() as i64 > per_page)
        .then(|| msgs.get(per_page.max(0) as usize - 1))
        .flatten()
        .map(|(m, sort)| {
            Key::new(MESSAGES, page::micros(m.sent_at), m.id)
                .with_middle(sort.clone())
                .cursor()
        });
    let msgs: Vec<Message> = msgs
        .into_iter()
        .take(per_page.max(0) as usize)
        .map(|(m, _)| m)
        .collect();
    let rows = with_attachments(conn, msgs).await?;
    let total = Total {
        n: i64::from(total),
        exact: true,
    };
    Ok(Page { rows, next, total })
}

/// A boxed SQL condition on messages.
type Condition =
    Box<dyn BoxableExpression<messages::table, diesel::pg::Pg, SqlType = diesel::sql_types::Bool>>;

/// Messages after cursor `k` among those sent at its time: `(source_sort NULLS LAST, id)`
/// greater than the key's, spelled out for the NULLs.
fn after_in_thread(k: &Key) -> Condition {
    use diesel::sql_types::{Bool, Text, Uuid};
    match &k.middle {
        Some(m) => Box::new(
            diesel::dsl::sql::<Bool>("(messages.source_sort > ")
                .bind::<Text, _>(m.clone())
                .sql(" OR messages.source_sort IS NULL OR (messages.source_sort = ")
                .bind::<Text, _>(m.clone())
                .sql(" AND messages.id > ")
                .bind::<Uuid, _>(key_uuid(k))
                .sql("))"),
        ),
        None => Box::new(
            diesel::dsl::sql::<Bool>("(messages.source_sort IS NULL AND messages.id > ")
                .bind::<Uuid, _>(key_uuid(k))
                .sql(")"),
        ),
    }
}

/// Each message with its attachments in their order (one query for the page).
async fn with_attachments(
    conn: &mut AsyncPgConnection,
    msgs: Vec<Message>,
) -> CoreResult<Vec<(Message, Vec<Attachment>)>> {
    let ids: Vec<MessageId> = msgs.iter().map(|m| m.id).collect();
    let atts: Vec<Attachment> = attachments::table
        .filter(attachments::message_id.eq_any(&ids))
        .order((attachments::message_id, attachments::position))
        .select(Attachment::as_select())
        .load(conn)
        .await?;
    let mut by_msg: HashMap<MessageId, Vec<Attachment>> = HashMap::new();
    for a in atts {
        by_msg.entry(a.message_id).or_default().push(a);
    }
    Ok(msgs
        .into_iter()
        .map(|m| {
            let a = by_msg.remove(&m.id).unwrap_or_default();
            (m, a)
        })
        .collect())
}

/// A cursor's tie-breaker as a uuid (a malformed one sorts first, giving a page from the
/// key's time: cursors are checked when parsed, so only a hand-made one gets here).
fn key_uuid(k: &Key) -> uuid::Uuid {
    k.id.parse().unwrap_or_default()
}

/// One attachment of the account.
pub async fn attachment(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    id: AttachmentId,
) -> CoreResult<Attachment> {
    attachments::table
        .find(id)
        .filter(attachments::account_id.eq(account_id))
        .select(Attachment::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(CoreError::NotFound("attachment"))
}
