//! `GET /accounts`, with the eligibility check against Conversations and its degraded path.

use super::{conn, views};
use crate::auth::AppUser;
use crate::error::ApiResult;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use migrator_core::db::queries::accounts;
use migrator_core::MigrationStatus;

/// The caller's account with brands and channels.
pub async fn get_accounts(st: web::Data<AppState>, user: AppUser) -> ApiResult<HttpResponse> {
    let mut c = conn(&st).await?;
    let mut account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    if account.migration_status == MigrationStatus::NotStarted {
        drop(c);
        // Conversations down or slow: answer not-started anyway; the migration job checks again
        let nothing = match st.conversations.eligibility(&user.shopper_id).await {
            Ok(None) => true,
            Ok(Some(e)) => !e.needs_migration,
            Err(e) => {
                tracing::info!(error = %e, "eligibility unknown; answering not-started");
                false
            }
        };
        c = conn(&st).await?;
        if nothing {
            account.migration_status =
                accounts::mark_nothing_to_migrate(&mut c, account.id).await?;
        }
    }
    let tree = accounts::tree(&mut c, account).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "accounts": [views::account(&tree, false)] })))
}
