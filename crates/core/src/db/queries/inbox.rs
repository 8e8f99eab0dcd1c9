//! The inbox as the app reads it, and native web chat (created in re:amaze, not migrated).

use crate::db::models::{Attachment, Contact, Conversation, Message};
use crate::db::schema::{attachments, channels, contacts, conversations, messages};
use crate::error::{CoreError, CoreResult};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use scoped_futures::ScopedFutureExt;
use std::collections::HashMap;
use uuid::Uuid;

/// The account's conversations, newest `last_message_at` first, with their contacts.
pub async fn conversations_page(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
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
    account_id: Uuid,
    conversation_id: Uuid,
    page: i64,
    per_page: i64,
) -> CoreResult<(Vec<(Message, Vec<Attachment>)>, i64)> {
    let owned: Option<Uuid> = conversations::table
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
    let ids: Vec<Uuid> = msgs.iter().map(|m| m.id).collect();
    let atts: Vec<Attachment> = attachments::table
        .filter(attachments::message_id.eq_any(&ids))
        .order((attachments::message_id, attachments::position))
        .select(Attachment::as_select())
        .load(conn)
        .await?;
    let mut by_msg: HashMap<Uuid, Vec<Attachment>> = HashMap::new();
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
    account_id: Uuid,
    id: Uuid,
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

/// A new native web chat conversation with its first (inbound) message.
pub async fn create_webchat_conversation(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    contact_name: Option<String>,
    body: String,
) -> CoreResult<(Uuid, Uuid)> {
    conn.transaction::<_, CoreError, _>(|c| {
        async move {
            let channel_id: Uuid = channels::table
                .filter(channels::account_id.eq(account_id))
                .filter(channels::kind.eq("webchat"))
                .order((channels::native.desc(), channels::created_at))
                .select(channels::id)
                .first(c)
                .await
                .optional()?
                .ok_or(CoreError::NotFound("web chat channel"))?;
            let contact_id = Uuid::new_v4();
            diesel::insert_into(contacts::table)
                .values((
                    contacts::id.eq(contact_id),
                    contacts::account_id.eq(account_id),
                    contacts::name.eq(contact_name),
                    contacts::native.eq(true),
                ))
                .execute(c)
                .await?;
            let now = chrono::Utc::now();
            let conversation_id = Uuid::new_v4();
            diesel::insert_into(conversations::table)
                .values((
                    conversations::id.eq(conversation_id),
                    conversations::account_id.eq(account_id),
                    conversations::channel_id.eq(channel_id),
                    conversations::contact_id.eq(Some(contact_id)),
                    conversations::status.eq("open"),
                    conversations::created_at.eq(now),
                    conversations::last_message_at.eq(now),
                    conversations::messages_complete.eq(true),
                    conversations::native.eq(true),
                ))
                .execute(c)
                .await?;
            let message_id =
                insert_native_message(c, account_id, conversation_id, "inbound", body).await?;
            Ok((conversation_id, message_id))
        }
        .scope_boxed()
    })
    .await
}

/// Adds a message to one of the account's native web chat conversations.
pub async fn add_webchat_message(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    conversation_id: Uuid,
    direction: &'static str,
    body: String,
) -> CoreResult<Uuid> {
    conn.transaction::<_, CoreError, _>(|c| {
        async move {
            let owned: Option<Uuid> = conversations::table
                .find(conversation_id)
                .filter(conversations::account_id.eq(account_id))
                .filter(conversations::native.eq(true))
                .select(conversations::id)
                .for_no_key_update()
                .first(c)
                .await
                .optional()?;
            owned.ok_or(CoreError::NotFound("conversation"))?;
            insert_native_message(c, account_id, conversation_id, direction, body).await
        }
        .scope_boxed()
    })
    .await
}

async fn insert_native_message(
    c: &mut AsyncPgConnection,
    account_id: Uuid,
    conversation_id: Uuid,
    direction: &str,
    body: String,
) -> CoreResult<Uuid> {
    let id = Uuid::new_v4();
    let now = chrono::Utc::now();
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(id),
            messages::account_id.eq(account_id),
            messages::conversation_id.eq(conversation_id),
            messages::direction.eq(direction),
            messages::body.eq(Some(body.into_bytes())),
            messages::sent_at.eq(now),
            messages::native.eq(true),
        ))
        .execute(c)
        .await?;
    diesel::update(conversations::table.find(conversation_id))
        .set((
            conversations::message_count.eq(conversations::message_count + 1),
            conversations::last_message_at.eq(now),
        ))
        .execute(c)
        .await?;
    Ok(id)
}
