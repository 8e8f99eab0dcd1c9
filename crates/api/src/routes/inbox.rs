//! The inbox: conversations and messages. Another account's ids answer 404.

use super::shared::{conn, paging, parse_id, Depth, Paging};
use crate::auth::AppUser;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::views::app::{ConversationBody, ConversationsBody, MessageBody, MessagesBody};
use crate::views::errors::Errors;
use crate::views::PageInfo;
use actix_web::web;
use migrator_core::ids::ConversationId;
use migrator_store::queries::{destination::accounts, destination::inbox};
use serde::Deserialize;
use utoipa::IntoParams;

/// `?page=&per_page=&after=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1-based, reaching at most 10,000 rows deep (`page` × `per_page`; an offset walks the
    /// index to its row): past it a 400 `invalid_page` names `after`, the list's cursor.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<i64>,
    /// At most 100.
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<i64>,
    /// The previous page's `next`: the page after it, at the cost of the first at any depth
    /// (wins over `page`).
    #[param(max_length = 2048)]
    after: Option<String>,
}

impl PageQuery {
    /// Checked, with a default page size, for a list walked in `order`.
    fn checked(&self, default: i64, order: &str) -> Result<Paging, crate::error::ApiError> {
        paging(
            self.page,
            self.per_page,
            self.after.as_deref(),
            (default, 100, Depth::App),
            order,
        )
    }
}

/// The account's conversations, newest `last_message_at` first.
#[utoipa::path(get, path = "/conversations", tag = "app", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, description = "a page of conversations", body = ConversationsBody), Errors))]
pub async fn list_conversations(
    st: web::Data<AppState>,
    user: AppUser,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<ConversationsBody>> {
    let asked = q.checked(50, inbox::CONVERSATIONS)?;
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    let page = inbox::conversations_page(&mut c, account.id, &asked.start, asked.per_page).await?;
    Ok(web::Json(ConversationsBody {
        conversations: page.rows.iter().map(ConversationBody::from).collect(),
        paging: PageInfo::of(&asked, &page),
    }))
}

/// A conversation's messages, oldest first, with their attachments.
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "app", security(("bearer" = [])),
    params(("id" = ConversationId, Path, description = "a conversation of the caller"), PageQuery),
    responses((status = 200, description = "a page of messages", body = MessagesBody), Errors))]
pub async fn list_messages(
    st: web::Data<AppState>,
    user: AppUser,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<MessagesBody>> {
    let id: ConversationId = parse_id(&path)?;
    let asked = q.checked(100, inbox::MESSAGES)?;
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    let page = inbox::messages_page(&mut c, account.id, id, &asked.start, asked.per_page).await?;
    Ok(web::Json(MessagesBody {
        messages: page.rows.iter().map(MessageBody::from).collect(),
        paging: PageInfo::of(&asked, &page),
    }))
}
