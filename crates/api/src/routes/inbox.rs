//! The inbox: conversations and messages. Another account's ids answer 404.

use super::{conn, paging, parse_id, views::ts};
use crate::auth::AppUser;
use crate::error::ApiResult;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use migrator_core::db::queries::{accounts, inbox};
use migrator_core::ids::ConversationId;
use serde::Deserialize;
use serde_json::json;

/// `?page=&per_page=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    page: Option<i64>,
    per_page: Option<i64>,
}

/// Newest `last_message_at` first.
pub async fn list_conversations(
    st: web::Data<AppState>,
    user: AppUser,
    q: web::Query<Paging>,
) -> ApiResult<HttpResponse> {
    let (page, per_page) = paging(q.page, q.per_page, 50, 100)?;
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    let (rows, total) = inbox::conversations_page(&mut c, account.id, page, per_page).await?;
    let list: Vec<_> = rows
        .iter()
        .map(|(cv, ct)| {
            json!({
                "id": cv.id,
                "channel_id": cv.channel_id,
                "subject": cv.subject,
                "status": cv.status,
                "starred": cv.starred,
                "contact": {
                    "name": ct.as_ref().and_then(|c| c.name.clone()),
                    "phone": ct.as_ref().and_then(|c| c.phone.clone()),
                    "email": ct.as_ref().and_then(|c| c.email.clone()),
                },
                "created_at": ts(cv.created_at),
                "last_message_at": ts(cv.last_message_at),
                "message_count": cv.message_count,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(
        json!({ "conversations": list, "page": page, "per_page": per_page, "total_count": total }),
    ))
}

/// Oldest first, with attachments.
pub async fn list_messages(
    st: web::Data<AppState>,
    user: AppUser,
    path: web::Path<String>,
    q: web::Query<Paging>,
) -> ApiResult<HttpResponse> {
    let id: ConversationId = parse_id(&path)?;
    let (page, per_page) = paging(q.page, q.per_page, 100, 100)?;
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    let (rows, total) = inbox::messages_page(&mut c, account.id, id, page, per_page).await?;
    let list: Vec<_> = rows
        .iter()
        .map(|(m, atts)| {
            json!({
                "id": m.id,
                "direction": m.direction,
                "author_name": m.author_name,
                "body": m.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
                "sent_at": ts(m.sent_at),
                "starred": m.starred,
                "metadata": m.metadata,
                "attachments": atts.iter().map(|a| json!({
                    "id": a.id,
                    "file_name": a.file_name,
                    "content_type": a.content_type,
                    "size_bytes": a.size_bytes,
                    "status": a.status,
                    "url": (a.status == "stored").then(|| format!("/attachments/{}", a.id)),
                    "failure": a.failure,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(
        json!({ "messages": list, "page": page, "per_page": per_page, "total_count": total }),
    ))
}
