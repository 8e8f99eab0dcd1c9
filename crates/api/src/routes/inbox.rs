//! The inbox: conversations and messages. Another account's ids answer 404.

use super::shared::{conn, paging, parse_id};
use crate::auth::AppUser;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::views::app::{ConversationBody, ConversationsBody, MessageBody, MessagesBody};
use crate::views::errors::Errors;
use crate::views::PageInfo;
use actix_web::web;
use migrator_core::ids::ConversationId;
use migrator_store::queries::{accounts, inbox};
use serde::Deserialize;
use utoipa::IntoParams;

/// `?page=&per_page=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// 1-based, at most 1,000,000.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<i64>,
    /// At most 100.
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<i64>,
}

impl Paging {
    /// Checked, with a default page size.
    pub fn checked(&self, default: i64) -> Result<(i64, i64), crate::error::ApiError> {
        paging(self.page, self.per_page, default, 100)
    }
}

/// The account's conversations, newest `last_message_at` first.
#[utoipa::path(get, path = "/conversations", tag = "app", security(("bearer" = [])), params(Paging),
    responses((status = 200, description = "a page of conversations", body = ConversationsBody), Errors))]
pub async fn list_conversations(
    st: web::Data<AppState>,
    user: AppUser,
    q: web::Query<Paging>,
) -> ApiResult<web::Json<ConversationsBody>> {
    let (page, per_page) = q.checked(50)?;
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    let (rows, total) = inbox::conversations_page(&mut c, account.id, page, per_page).await?;
    Ok(web::Json(ConversationsBody {
        conversations: rows.iter().map(ConversationBody::from).collect(),
        paging: PageInfo::new(page, per_page, total),
    }))
}

/// A conversation's messages, oldest first, with their attachments.
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "app", security(("bearer" = [])),
    params(("id" = ConversationId, Path, description = "a conversation of the caller"), Paging),
    responses((status = 200, description = "a page of messages", body = MessagesBody), Errors))]
pub async fn list_messages(
    st: web::Data<AppState>,
    user: AppUser,
    path: web::Path<String>,
    q: web::Query<Paging>,
) -> ApiResult<web::Json<MessagesBody>> {
    let id: ConversationId = parse_id(&path)?;
    let (page, per_page) = q.checked(100)?;
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    let (rows, total) = inbox::messages_page(&mut c, account.id, id, page, per_page).await?;
    Ok(web::Json(MessagesBody {
        messages: rows.iter().map(MessageBody::from).collect(),
        paging: PageInfo::new(page, per_page, total),
    }))
}
