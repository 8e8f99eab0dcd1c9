//! Endpoints, one module per area.

pub mod accounts;
pub mod admin;
pub mod attachments;
pub mod inbox;
pub mod migration;
pub mod ops;
pub mod recovery;
pub mod views;
pub mod webchat;

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::web;
use migrator_core::db::{self, DbConn};

/// A pooled connection or a 503.
pub async fn conn(st: &AppState) -> Result<DbConn, ApiError> {
    Ok(db::conn(&st.pool).await?)
}

/// Pagination from the query string, checked: page >= 1, 1 <= per_page <= max.
pub fn paging(
    page: Option<i64>,
    per_page: Option<i64>,
    default: i64,
    max: i64,
) -> Result<(i64, i64), ApiError> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(default);
    if !(1..=1_000_000).contains(&page) {
        return Err(ApiError::bad_request(
            "invalid_page",
            "page must be between 1 and 1000000",
        ));
    }
    if !(1..=max).contains(&per_page) {
        return Err(ApiError::bad_request(
            "invalid_per_page",
            format!("per_page must be between 1 and {max}"),
        ));
    }
    Ok((page, per_page))
}

/// Parses a path id of the type the route names, or 400.
pub fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request("invalid_id", "the id is not a valid identifier"))
}

/// Registers every endpoint.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts", web::get().to(accounts::get_accounts))
        .route("/migrate", web::post().to(migration::post_migrate))
        .route(
            "/check-migration-status",
            web::get().to(migration::check_status),
        )
        .route("/conversations", web::get().to(inbox::list_conversations))
        .route(
            "/conversations/{id}/messages",
            web::get().to(inbox::list_messages),
        )
        .route(
            "/attachments/{id}",
            web::get().to(attachments::get_attachment),
        )
        .route(
            "/webchat/conversations",
            web::post().to(webchat::create_conversation),
        )
        .route(
            "/webchat/conversations/{id}/messages",
            web::post().to(webchat::add_message),
        )
        .route("/admin/accounts", web::post().to(admin::create_account))
        .route(
            "/admin/accounts/{shopper_id}/migration",
            web::get().to(admin::migration),
        )
        .route(
            "/admin/accounts/{shopper_id}/remigrate",
            web::post().to(admin::remigrate),
        )
        .route("/admin/migrations", web::get().to(admin::list_migrations))
        .route("/admin/migrations/repair", web::post().to(admin::repair))
        .route(
            "/admin/accounts/{shopper_id}/retry",
            web::post().to(recovery::retry_failed),
        )
        .route(
            "/admin/accounts/{shopper_id}/unpark",
            web::post().to(recovery::unpark),
        )
        .route("/admin/parked", web::get().to(recovery::list_parked))
        .route(
            "/admin/accounts/{shopper_id}/attachments",
            web::get().to(recovery::list_attachments),
        )
        .route("/admin/audit-log", web::get().to(recovery::list_audit_log))
        .route(
            "/admin/dead-letters",
            web::get().to(recovery::list_dead_letters),
        )
        .route(
            "/admin/dead-letters/{id}/replay",
            web::post().to(recovery::replay_dead_letter),
        )
        .route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/openapi.json", web::get().to(ops::openapi));
}
