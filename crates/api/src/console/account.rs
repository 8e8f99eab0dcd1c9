//! One C1's page: the migration as it is, its timeline, the latest verification with its
//! differences, its runs' phases as bars on a time axis, rejects with their raw items, attachments pending or failed; and the buttons
//! retry, cancel, verify, unpark, and remigrate behind a confirmation naming the account.

use super::pages::done_text;
use super::render::{page, see_other, urlencode, ConsoleError};
use super::session::ConsoleUser;
use crate::error::ApiError;
use crate::routes::shared::shopper;
use crate::routes::{admin, history, recovery, verify};
use crate::state::AppState;
use crate::views::admin::{AttachmentsPage, MigrationBody};
use crate::views::history::{HistoryBody, RejectsPage};
use crate::views::verify::VerificationBody;
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
    phases: Option<super::charts::Figure>,
}

fn first_twenty(status: recovery::AttachmentStatus) -> recovery::AttachmentQuery {
    recovery::AttachmentQuery {
        status,
        page: None,
        per_page: Some(20),
        after: None,
    }
}

/// The account's page.
pub async fn show(
    st: web::Data<AppState>,
    user: ConsoleUser,
    id: web::Path<String>,
    q: web::Query<AccountQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let shopper_id = shopper(&id)?;
    let migration = admin::migration_of(&st, &shopper_id).await?;
    let history = history::history_of(&st, shopper_id.clone()).await?;
    let verification = verify::latest_of(&st, &shopper_id).await?;
    let rq = recovery::Page {
        page: None,
        per_page: Some(20),
        after: q.rejects_after.clone(),
    };
    let rejects = history::rejects_page(&st, &shopper_id, &rq).await?;
    use recovery::AttachmentStatus::{Failed, Pending};
    let failed = recovery::attachments_page(&st, &shopper_id, &first_twenty(Failed)).await?;
    let pending = recovery::attachments_page(&st, &shopper_id, &first_twenty(Pending)).await?;
    let notice = done_text(q.done.as_deref());
    let phases = super::bars::phases(&history);
    page(
        HttpResponse::Ok(),
        &Account {
            phases,
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
    let m = admin::migration_of(&st, &shopper(&id)?).await?;
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
    let shopper_id = shopper(&id)?;
    match action.as_str() {
        "retry" => _ = recovery::restart_failed(&st, &who, shopper_id, false).await?,
        "unpark" => _ = recovery::restart_failed(&st, &who, shopper_id, true).await?,
        "cancel" => _ = admin::cancel_account(&st, &who, shopper_id).await?,
        "verify" | "verify-repair" => {
            let q = verify::WaitQuery {
                wait_secs: None,
                repair: Some(action == "verify-repair"),
            };
            _ = verify::request_verification(&st, &who, shopper_id, &q).await?
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
            _ = admin::remigrate_account(&st, &who, shopper_id).await?
        }
        _ => return Err(ApiError::not_found("action").into()),
    }
    Ok(see_other(&format!(
        "/console/accounts/{}?done={action}",
        urlencode(&id)
    )))
}
