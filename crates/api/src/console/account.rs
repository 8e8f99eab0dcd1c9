//! One C1's page: the migration as it is, its timeline, the latest verification with its
//! differences, rejects with their raw items, attachments pending or failed; and the buttons
//! retry, cancel, verify, unpark, and remigrate behind a confirmation naming the account.

use super::pages::done_text;
use super::render::{page, see_other, urlencode, ConsoleError};
use super::session::ConsoleUser;
use crate::error::ApiError;
use crate::routes::{admin, history, recovery, verify};
use crate::state::AppState;
use crate::views::admin::{AttachmentsPage, MigrationBody};
use crate::views::history::{HistoryBody, RejectsPage};
use crate::views::verify::VerificationBody;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

/// `?done=&rejects_after=`.
#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
    rejects_after: Option<String>,
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct Account {
    user: ConsoleUser,
    notice: Option<&'static str>,
    path_id: String,
    migration: MigrationBody,
    history: HistoryBody,
    verification: Option<VerificationBody>,
    rejects: RejectsPage,
    failed: AttachmentsPage,
    pending: AttachmentsPage,
}

fn attachments_query(status: recovery::AttachmentStatus) -> web::Query<recovery::AttachmentQuery> {
    web::Query(recovery::AttachmentQuery {
        status,
        page: None,
        per_page: Some(20),
        after: None,
    })
}

/// The account's page.
pub async fn show(
    st: web::Data<AppState>,
    user: ConsoleUser,
    id: web::Path<String>,
    q: web::Query<AccountQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let who = || user.admin();
    let path = || web::Path::from(id.clone());
    let migration = admin::migration(st.clone(), who(), path()).await?.0;
    let history = history::get_history(st.clone(), who(), path()).await?.0;
    let verification = match verify::latest(st.clone(), who(), path()).await {
        Ok(v) => Some(v.0),
        Err(e) if e.status == StatusCode::NOT_FOUND => None,
        Err(e) => return Err(e.into()),
    };
    let rq = recovery::Page {
        page: None,
        per_page: Some(20),
        after: q.rejects_after.clone(),
    };
    let rejects = history::list_rejects(st.clone(), who(), path(), web::Query(rq))
        .await?
        .0;
    use recovery::AttachmentStatus::{Failed, Pending};
    let failed = recovery::list_attachments(st.clone(), who(), path(), attachments_query(Failed))
        .await?
        .0;
    let pending = recovery::list_attachments(st.clone(), who(), path(), attachments_query(Pending))
        .await?
        .0;
    let notice = done_text(q.done.as_deref());
    page(
        HttpResponse::Ok(),
        &Account {
            path_id: urlencode(&id),
            user,
            notice,
            migration,
            history,
            verification,
            rejects,
            failed,
            pending,
        },
    )
}

#[derive(Template)]
#[template(path = "console/remigrate.html")]
struct Confirm {
    user: ConsoleUser,
    notice: Option<&'static str>,
    shopper_id: String,
    path_id: String,
    mismatch: bool,
}

/// The confirmation a re-migration needs: the operator types the shopper id.
pub async fn confirm_remigrate(
    st: web::Data<AppState>,
    user: ConsoleUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    // the account must exist (and the id be valid) before anything is asked
    let m = admin::migration(st, user.admin(), web::Path::from(id.clone()))
        .await?
        .0;
    page(
        HttpResponse::Ok(),
        &Confirm {
            user,
            notice: None,
            path_id: urlencode(&id),
            shopper_id: m.shopper_id.to_string(),
            mismatch: false,
        },
    )
}

/// An account action's form: the CSRF token, and for a re-migration the typed shopper id.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

/// `retry`, `cancel`, `verify`, `verify-repair`, `unpark` or `remigrate` the account, then back
/// to its page.
pub async fn action(
    st: web::Data<AppState>,
    user: ConsoleUser,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    let (id, action) = path.into_inner();
    let who = user.admin();
    let p = web::Path::from(id.clone());
    match action.as_str() {
        "retry" => recovery::retry_failed(st, who, p).await.map(drop)?,
        "unpark" => recovery::unpark(st, who, p).await.map(drop)?,
        "cancel" => admin::cancel(st, who, p).await.map(drop)?,
        "verify" | "verify-repair" => {
            let q = web::Query(verify::WaitQuery {
                wait_secs: None,
                repair: Some(action == "verify-repair"),
            });
            verify::verify(st, who, p, q).await.map(drop)?
        }
        "remigrate" => {
            if form.confirm.trim() != id {
                let shopper_id = id.clone();
                return page(
                    HttpResponse::UnprocessableEntity(),
                    &Confirm {
                        user,
                        notice: None,
                        path_id: urlencode(&id),
                        shopper_id,
                        mismatch: true,
                    },
                );
            }
            admin::remigrate(st, who, p).await.map(drop)?
        }
        _ => return Err(ApiError::not_found("action").into()),
    }
    Ok(see_other(&format!(
        "/console/accounts/{}?done={action}",
        urlencode(&id)
    )))
}
