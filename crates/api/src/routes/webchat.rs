//! Native web chat: conversations that live in re:amaze before any migration.

use super::{conn, parse_id};
use crate::auth::AppUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use migrator_core::db::queries::{accounts, webchat};
use migrator_core::ids::ConversationId;
use serde::Deserialize;
use serde_json::json;

const MAX_BODY_CHARS: usize = 65_536;

/// `{"name": …}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactIn {
    name: Option<String>,
}

/// `POST /webchat/conversations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    contact: ContactIn,
    body: String,
}

/// Message direction.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// From the C1.
    Outbound,
}

/// `POST /webchat/conversations/{id}/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    body: String,
    direction: Direction,
}

fn check_body(body: &str) -> Result<(), ApiError> {
    if body.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "body must not be empty",
        ));
    }
    if body.chars().count() > MAX_BODY_CHARS || body.contains('\0') {
        return Err(ApiError::bad_request(
            "invalid_body",
            "body is too long or holds a NUL character",
        ));
    }
    Ok(())
}

/// Creates a conversation with its first message.
pub async fn create_conversation(
    st: web::Data<AppState>,
    user: AppUser,
    body: web::Json<NewConversation>,
) -> ApiResult<HttpResponse> {
    let NewConversation { contact, body } = body.into_inner();
    check_body(&body)?;
    if contact
        .name
        .as_deref()
        .is_some_and(|n| n.len() > 256 || n.contains('\0'))
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
    Ok(HttpResponse::Created()
        .json(json!({ "conversation_id": conversation_id, "message_id": message_id })))
}

/// Adds a message to a native web chat conversation of the caller.
pub async fn add_message(
    st: web::Data<AppState>,
    user: AppUser,
    path: web::Path<String>,
    body: web::Json<NewMessage>,
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
    Ok(HttpResponse::Created().json(json!({ "message_id": message_id })))
}
