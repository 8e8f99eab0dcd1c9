//! Native web chat: conversations created in re:amaze before any migration (the migration only
//! carries their starred flags over).

use crate::queries::destination::brands::native_webchat;
use crate::schema::{contacts, conversations, messages};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::ids::{AccountId, ContactId, ConversationId, MessageId};

/// A new native web chat conversation with its first (inbound) message.
pub async fn create_webchat_conversation(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    contact_name: Option<String>,
    body: String,
) -> CoreResult<(ConversationId, MessageId)> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        let (channel_id, _) = native_webchat(c, account_id)
            .await?
            .ok_or(CoreError::NotFound("web chat channel"))?;
        let contact_id = ContactId::new();
        diesel::insert_into(contacts::table)
            .values((
                contacts::id.eq(contact_id),
                contacts::account_id.eq(account_id),
                contacts::name.eq(contact_name.map(migrator_core::text::ExactText::from)),
                contacts::native.eq(true),
            ))
            .execute(c)
            .await?;
        let now = chrono::Utc::now();
        let conversation_id = ConversationId::new();
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
    })
    .await
}

/// Adds a message to one of the account's native web chat conversations.
pub async fn add_webchat_message(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    conversation_id: ConversationId,
    direction: &'static str,
    body: String,
) -> CoreResult<MessageId> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        let owned: Option<ConversationId> = conversations::table
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
    })
    .await
}

async fn insert_native_message(
    c: &mut AsyncPgConnection,
    account_id: AccountId,
    conversation_id: ConversationId,
    direction: &str,
    body: String,
) -> CoreResult<MessageId> {
    let id = MessageId::new();
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
