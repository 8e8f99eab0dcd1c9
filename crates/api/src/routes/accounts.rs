//! `GET /accounts`, with the eligibility check against Conversations and its degraded path.

use super::{conn, views};
use crate::auth::AppUser;
use crate::error::ApiResult;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use migrator_core::db::queries::accounts;
use migrator_core::MigrationStatus;
use secrecy::ExposeSecret;
use std::time::Duration;

/// What Conversations says of a C1; `None` when it could not be asked.
async fn nothing_to_migrate(st: &AppState, shopper_id: &str) -> Option<bool> {
    let c = &st.settings.conversations;
    let url = format!(
        "{}/v1/accounts/{}/migration",
        c.base_url.trim_end_matches('/'),
        shopper_id
    );
    let resp = st
        .http
        .get(url)
        .bearer_auth(c.token.expose_secret())
        .timeout(Duration::from_millis(
            st.settings.api.eligibility_timeout_ms,
        ))
        .send()
        .await
        .ok()?;
    match resp.status().as_u16() {
        404 => Some(true),
        200 => {
            let v: serde_json::Value = resp.json().await.ok()?;
            v.get("needs_migration")
                .and_then(|b| b.as_bool())
                .map(|needs| !needs)
        }
        _ => None,
    }
}

/// The caller's account with brands and channels.
pub async fn get_accounts(st: web::Data<AppState>, user: AppUser) -> ApiResult<HttpResponse> {
    let mut c = conn(&st).await?;
    let mut account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    if account.migration_status == MigrationStatus::NotStarted.as_str() {
        drop(c);
        // Conversations down: answer not-started anyway; the migration job checks again
        let nothing = nothing_to_migrate(&st, user.shopper_id.as_str()).await;
        c = conn(&st).await?;
        if nothing == Some(true) {
            let now = accounts::mark_nothing_to_migrate(&mut c, account.id).await?;
            account.migration_status = now.as_str().to_string();
        }
    }
    let tree = accounts::tree(&mut c, account).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "accounts": [views::account(&tree, false)] })))
}
