//! `GET /accounts`, with the eligibility check against Conversations and its degraded path.

use super::shared::conn;
use crate::auth::AppUser;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::views::app::{AccountBody, AccountsBody};
use crate::views::errors::Errors;
use actix_web::web;
use migrator_core::metrics::SOURCE_REFUSALS;
use migrator_core::MigrationStatus;
use migrator_source::conversations::SourceError;
use migrator_store::queries::destination::accounts;
use migrator_store::queries::workflow::migration;

/// The caller's account with brands and channels. While `not-started`, asks Conversations
/// (at most once per `api.eligibility_every_secs` a C1) whether there is anything to migrate
/// (nothing: `completed`); Conversations down or slow: `not-started` anyway.
#[utoipa::path(get, path = "/accounts", tag = "app", security(("bearer" = [])),
    responses((status = 200, description = "the caller's account", body = AccountsBody), Errors))]
pub async fn get_accounts(
    st: web::Data<AppState>,
    user: AppUser,
) -> ApiResult<web::Json<AccountsBody>> {
    let mut c = conn(&st).await?;
    let mut account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    // Conversations is asked at most once per api.eligibility_every_secs for a C1
    if account.migration_status == MigrationStatus::NotStarted
        && st.limits.eligibility_due(&user.shopper_id)
    {
        drop(c);
        let nothing = match st.eligibility.eligibility(&user.shopper_id).await {
            Ok(None) => true,
            Ok(Some(e)) => !e.needs_migration,
            Err(e @ SourceError::Refused(_)) => {
                // our service token, not the C1: operators must see it
                metrics::counter!(SOURCE_REFUSALS, "service" => "rest").increment(1);
                tracing::warn!(error = %e, "eligibility unknown; answering not-started");
                false
            }
            Err(e) => {
                tracing::info!(error = %e, "eligibility unknown; answering not-started");
                false
            }
        };
        c = conn(&st).await?;
        if nothing {
            account.migration_status =
                migration::mark_nothing_to_migrate(&mut c, account.id).await?;
        }
    }
    let tree = accounts::tree(&mut c, account).await?;
    Ok(web::Json(AccountsBody {
        accounts: vec![AccountBody::new(&tree, false)],
    }))
}
