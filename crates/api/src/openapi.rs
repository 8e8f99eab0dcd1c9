//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` and their typed bodies:
//! the document and the code cannot disagree. `migrator-api openapi` prints it; a test keeps the
//! checked-in `crates/api/openapi.json` equal to it.

use crate::views::{admin, app, ErrorBody, PageInfo};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "re:amaze migration API",
        description = "Mobile app and operator endpoints of the Conversations -> re:amaze migration."
    ),
    modifiers(&BearerAuth),
    paths(
        crate::routes::accounts::get_accounts,
        crate::routes::migration::post_migrate,
        crate::routes::migration::check_status,
        crate::routes::inbox::list_conversations,
        crate::routes::inbox::list_messages,
        crate::routes::attachments::get_attachment,
        crate::routes::webchat::create_conversation,
        crate::routes::webchat::add_message,
        crate::routes::admin::create_account,
        crate::routes::admin::migration,
        crate::routes::admin::remigrate,
        crate::routes::admin::list_migrations,
        crate::routes::admin::repair,
        crate::routes::admin::cancel,
        crate::routes::fleet::counts,
        crate::routes::fleet::state,
        crate::routes::fleet::pause,
        crate::routes::fleet::resume,
        crate::routes::fleet::throttle,
        crate::routes::campaigns::start,
        crate::routes::campaigns::list,
        crate::routes::campaigns::get,
        crate::routes::campaigns::set_pace,
        crate::routes::import::import_accounts,
        crate::routes::campaigns::pause,
        crate::routes::campaigns::resume,
        crate::routes::campaigns::cancel,
        crate::routes::campaigns::get_program,
        crate::routes::campaigns::dry_run,
        crate::routes::program_history::get_history,
        crate::routes::recovery::retry_failed,
        crate::routes::recovery::unpark,
        crate::routes::recovery::list_parked,
        crate::routes::recovery::list_attachments,
        crate::routes::recovery::list_dead_letters,
        crate::routes::recovery::replay_dead_letter,
        crate::routes::recovery::list_audit_log,
        crate::routes::history::get_history,
        crate::routes::history::list_rejects,
        crate::routes::ops::healthz,
        crate::routes::ops::readyz,
        crate::routes::ops::metrics,
        crate::routes::ops::openapi,
        crate::routes::verify::verify,
        crate::routes::verify::latest,
        crate::routes::verify::preflight,
    ),
    components(schemas(
        ErrorBody,
        PageInfo,
        app::Direction,
        admin::NewAccount,
        crate::routes::recovery::AttachmentStatus
    ))
)]
pub struct ApiDoc;

/// The document as served, pretty-printed.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_document_is_the_generated_one() {
        let checked_in = include_str!("../openapi.json");
        assert!(
            checked_in.trim_end() == document().trim_end(),
            "crates/api/openapi.json is stale: run `cargo run -p migrator-api -- openapi > crates/api/openapi.json`"
        );
    }

    #[test]
    fn every_endpoint_of_the_spec_is_documented() {
        let doc: serde_json::Value = serde_json::from_str(&document()).unwrap();
        for path in [
            "/accounts",
            "/migrate",
            "/check-migration-status",
            "/conversations",
            "/conversations/{id}/messages",
            "/attachments/{id}",
            "/webchat/conversations",
            "/webchat/conversations/{id}/messages",
            "/admin/accounts",
            "/admin/accounts/batch",
            "/admin/accounts/{shopper_id}/migration",
            "/admin/accounts/{shopper_id}/remigrate",
            "/admin/migrations",
            "/admin/migrations/repair",
            "/admin/campaigns",
            "/admin/campaigns/{id}",
            "/admin/campaigns/{id}/pause",
            "/admin/campaigns/{id}/resume",
            "/admin/campaigns/{id}/cancel",
            "/admin/program",
            "/admin/program/history",
            "/admin/campaigns/dry-run",
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} documented");
        }
        let statuses = doc["components"]["schemas"]["MigrationStatus"]["enum"]
            .as_array()
            .unwrap();
        assert_eq!(statuses.len(), 8);
    }
}
