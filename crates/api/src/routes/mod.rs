//! Endpoints, one module per area, wired here: which path, method and handler, on which
//! listener. What handlers share is in [`shared`] (parameters, the connection) and [`starts`]
//! (how a started migration is answered and its hop published).

pub mod accounts;
pub mod admin;
pub mod attachments;
pub mod campaigns;
pub mod fleet;
pub mod history;
pub mod import;
pub mod inbox;
pub mod migration;
pub mod ops;
pub mod program_history;
pub mod recovery;
pub mod shared;
pub mod starts;
pub mod verify;
pub mod webchat;

use actix_web::web;

/// `405 Method Not Allowed` with the methods a path takes.
fn not_allowed(
    allow: &'static str,
) -> impl Fn() -> std::future::Ready<actix_web::HttpResponse> + Clone + 'static {
    move || {
        let allow = allow.to_ascii_uppercase();
        let body = crate::views::ErrorBody {
            error: "method_not_allowed".into(),
            message: format!("this endpoint takes {allow}"),
        };
        std::future::ready(
            actix_web::HttpResponse::MethodNotAllowed()
                .insert_header(("allow", allow))
                .json(body),
        )
    }
}

/// One path, its one method and handler; any other method answers 405 with `Allow`.
macro_rules! endpoint {
    ($cfg:expr, $method:ident, $path:expr, $handler:expr) => {
        $cfg.service(
            web::resource($path)
                .route(web::$method().to($handler))
                .default_service(web::to(not_allowed(stringify!($method)))),
        )
    };
}

/// Every endpoint, on one listener (`api.admin_listen` empty: development, tests).
pub fn configure(cfg: &mut web::ServiceConfig) {
    configure_app(cfg);
    configure_admin(cfg);
}

/// The public listener when operators have their own: the app's endpoints, probes, and the
/// OpenAPI document (which describes both).
pub fn configure_public(cfg: &mut web::ServiceConfig) {
    configure_app(cfg);
    configure_probes(cfg);
    endpoint!(cfg, get, "/openapi.json", ops::openapi);
}

/// The app's endpoints.
fn configure_app(cfg: &mut web::ServiceConfig) {
    endpoint!(cfg, get, "/accounts", accounts::get_accounts);
    endpoint!(cfg, post, "/migrate", migration::post_migrate);
    endpoint!(cfg, get, "/check-migration-status", migration::check_status);
    endpoint!(cfg, get, "/conversations", inbox::list_conversations);
    endpoint!(
        cfg,
        get,
        "/conversations/{id}/messages",
        inbox::list_messages
    );
    endpoint!(cfg, get, "/attachments/{id}", attachments::get_attachment);
    endpoint!(
        cfg,
        post,
        "/webchat/conversations",
        webchat::create_conversation
    );
    endpoint!(
        cfg,
        post,
        "/webchat/conversations/{id}/messages",
        webchat::add_message
    );
}

/// Probes: on every listener, so each port can be checked on its own.
fn configure_probes(cfg: &mut web::ServiceConfig) {
    endpoint!(cfg, get, "/healthz", ops::healthz);
    endpoint!(cfg, get, "/readyz", ops::readyz);
}

/// The admin listener with the operators' console (`console.enabled`): the console is served
/// there only, never where the app's endpoints are.
pub fn configure_admin_console(cfg: &mut web::ServiceConfig) {
    configure_admin(cfg);
    crate::console::configure(cfg);
}

/// Operators' endpoints, probes, `/metrics` and the OpenAPI document: the admin listener.
#[allow(
    clippy::too_many_lines,
    reason = "a table: one entry per endpoint, read top to bottom"
)]
pub fn configure_admin(cfg: &mut web::ServiceConfig) {
    endpoint!(cfg, post, "/admin/accounts", admin::create_account);
    endpoint!(cfg, post, "/admin/accounts/batch", import::import_accounts);
    endpoint!(
        cfg,
        get,
        "/admin/accounts/{shopper_id}/migration",
        admin::migration
    );
    endpoint!(
        cfg,
        post,
        "/admin/accounts/{shopper_id}/remigrate",
        admin::remigrate
    );
    endpoint!(
        cfg,
        post,
        "/admin/accounts/{shopper_id}/retry",
        recovery::retry_failed
    );
    endpoint!(
        cfg,
        post,
        "/admin/accounts/{shopper_id}/cancel",
        admin::cancel
    );
    endpoint!(
        cfg,
        post,
        "/admin/accounts/{shopper_id}/unpark",
        recovery::unpark
    );
    endpoint!(
        cfg,
        get,
        "/admin/accounts/{shopper_id}/attachments",
        recovery::list_attachments
    );
    endpoint!(
        cfg,
        get,
        "/admin/accounts/{shopper_id}/history",
        history::get_history
    );
    endpoint!(
        cfg,
        get,
        "/admin/accounts/{shopper_id}/rejects",
        history::list_rejects
    );
    endpoint!(cfg, get, "/admin/migrations", admin::list_migrations);
    endpoint!(cfg, post, "/admin/migrations/repair", admin::repair);
    endpoint!(cfg, get, "/admin/parked", recovery::list_parked);
    endpoint!(cfg, get, "/admin/audit-log", recovery::list_audit_log);
    endpoint!(cfg, get, "/admin/dead-letters", recovery::list_dead_letters);
    endpoint!(
        cfg,
        post,
        "/admin/dead-letters/{id}/replay",
        recovery::replay_dead_letter
    );
    endpoint!(
        cfg,
        post,
        "/admin/accounts/{shopper_id}/verify",
        verify::verify
    );
    endpoint!(
        cfg,
        get,
        "/admin/accounts/{shopper_id}/verification",
        verify::latest
    );
    endpoint!(
        cfg,
        get,
        "/admin/accounts/{shopper_id}/preflight",
        verify::preflight
    );
    endpoint!(cfg, get, "/admin/counts", fleet::counts);
    endpoint!(cfg, get, "/admin/fleet", fleet::state);
    endpoint!(cfg, post, "/admin/fleet/pause", fleet::pause);
    endpoint!(cfg, post, "/admin/fleet/resume", fleet::resume);
    endpoint!(cfg, post, "/admin/fleet/throttle", fleet::throttle);
    endpoint!(cfg, get, "/admin/program", campaigns::get_program);
    endpoint!(
        cfg,
        get,
        "/admin/program/history",
        program_history::get_history
    );
    endpoint!(cfg, post, "/admin/campaigns/dry-run", campaigns::dry_run);
    cfg.service(
        web::resource("/admin/campaigns")
            .route(web::post().to(campaigns::start))
            .route(web::get().to(campaigns::list))
            .default_service(web::to(not_allowed("GET, POST"))),
    );
    cfg.service(
        web::resource("/admin/campaigns/{id}")
            .route(web::get().to(campaigns::get))
            .route(web::patch().to(campaigns::set_pace))
            .default_service(web::to(not_allowed("GET, PATCH"))),
    );
    endpoint!(cfg, post, "/admin/campaigns/{id}/pause", campaigns::pause);
    endpoint!(cfg, post, "/admin/campaigns/{id}/resume", campaigns::resume);
    endpoint!(cfg, post, "/admin/campaigns/{id}/cancel", campaigns::cancel);
    configure_probes(cfg);
    endpoint!(cfg, get, "/metrics", ops::metrics);
    endpoint!(cfg, get, "/openapi.json", ops::openapi);
}
