//! The inbox as the app reads it: conversations, messages with attachments, one attachment.
//! Every read is scoped to the caller's account.

use crate::models::{Attachment, Contact, Conversation, Message};
use crate::schema::{attachments, contacts, conversations, messages};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::ids::{AccountId, AttachmentId, ConversationId, MessageId};
use std::collections::HashMap;

/// The account's conversations, newest `last_message_at` first, with their contacts.
pub async fn conversations_page(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    page: i64,
    per_page: i64,
) -> CoreResult<(Vec<(Conversation, Option<Contact>)>, i64)> {
    let total: i64 = conversations::table
        .filter(conversations::account_id.eq(account_id))
        .count()
        .get_result(conn)
        .await?;
    let rows = conversations::table
        .left_join(contacts::table)
        .filter(conversations::account_id.eq(account_id))
        .order((conversations::last_message_at.desc(), conversations::id))
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select((Conversation::as_select(), Option::<Contact>::as_select()))
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// A conversation's messages, oldest first, with attachments; 404 for another account's.
pub async fn messages_page(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    conversation_id: ConversationId,
    page: i64,
    per_page: i64,
) -> CoreResult<(Vec<(Message, Vec<Attachment>)>, i64)> {
    let owned: Option<ConversationId> = conversations::table
        .find(conversation_id)
        .filter(conversations::account_id.eq(account_id))
        .select(conversations::id)
        .first(conn)
        .await
        .optional()?;
    owned.ok_or(CoreError::NotFound("conversation"))?;
    let total: i64 = messages::table
        .filter(messages::conversation_id.eq(conversation_id))
        .count()
        .get_result(conn)
        .await?;
    let msgs: Vec<Message> = messages::table
        .filter(messages::conversation_id.eq(conversation_id))
        .order((messages::sent_at, messages::source_sort, messages::id))
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select(Message::as_select())
        .load(conn)
        .await?;
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
    Ok((
        msgs.into_iter()
            .map(|m| {
                let a = by_msg.remove(&m.id).unwrap_or_default();
                (m, a)
            })
            .collect(),
        total,
    ))
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
