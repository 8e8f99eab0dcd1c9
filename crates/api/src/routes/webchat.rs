//! Native web chat: conversations that live in re:amaze before any migration.

use super::shared::{conn, parse_id};
use crate::auth::AppUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonObject;
use crate::state::AppState;
use crate::views::app::{
    is_text, CreatedConversation, CreatedMessage, Direction, NewConversation, NewMessage,
};
use crate::views::errors::{BodyErrors, Errors};
use actix_web::{web, HttpResponse};
use migrator_core::ids::ConversationId;
use migrator_store::queries::{destination::accounts, destination::webchat};

const MAX_BODY_CHARS: usize = 65_536;

fn check_body(body: &str) -> Result<(), ApiError> {
    if !is_text(body) || body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::bad_request(
            "invalid_body",
            "body must be 1-65536 characters, not only spaces, without NUL",
        ));
    }
    Ok(())
}

/// Creates a conversation with its first (inbound) message.
#[utoipa::path(post, path = "/webchat/conversations", tag = "app", security(("bearer" = [])),
    request_body = NewConversation,
    responses((status = 201, description = "created", body = CreatedConversation), Errors, BodyErrors))]
pub async fn create_conversation(
    st: web::Data<AppState>,
    user: AppUser,
    body: JsonObject<NewConversation>,
) -> ApiResult<HttpResponse> {
    let NewConversation { contact, body } = body.into_inner();
    check_body(&body)?;
    if contact
        .name
        .as_deref()
        .is_some_and(|n| n.chars().count() > 256 || n.contains('\0'))
    {
        return Err(ApiError::bad_request(
            "invalid_contact",
            "contact name is too long or holds a NUL character",
        ));
    }
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    let (conversation_id, message_id) =
        webchat::create_webchat_conversation(&mut c, account.id, contact.name, body).await?;
    Ok(HttpResponse::Created().json(CreatedConversation {
        conversation_id,
        message_id,
    }))
}

/// Adds a message to one of the caller's native web chat conversations.
#[utoipa::path(post, path = "/webchat/conversations/{id}/messages", tag = "app",
    security(("bearer" = [])),
    params(("id" = ConversationId, Path, description = "a native web chat conversation of the caller")),
    request_body = NewMessage,
    responses((status = 201, description = "created", body = CreatedMessage), Errors, BodyErrors))]
pub async fn add_message(
    st: web::Data<AppState>,
    user: AppUser,
    path: web::Path<String>,
    body: JsonObject<NewMessage>,
) -> ApiResult<HttpResponse> {
    let id: ConversationId = parse_id(&path)?;
    let NewMessage { body, direction } = body.into_inner();
    check_body(&body)?;
    let dir = match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    };
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    let message_id = webchat::add_webchat_message(&mut c, account.id, id, dir, body).await?;
    Ok(HttpResponse::Created().json(CreatedMessage { message_id }))
}
