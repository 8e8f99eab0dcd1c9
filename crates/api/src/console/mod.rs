//! The operators' console (spec/api.md, Operator console): server-rendered pages under
//! `/console/` on the admin listener only, readable without JavaScript, each showing or doing
//! what an admin API handler shows or does — the console calls those handlers with the
//! signed-in operator, so its reads are the same queries and its writes the same audited
//! writes.
//!
//! | page | path | admin API behind it |
//! |---|---|---|
//! | overview | `/console/` | program, program history (charts), counts, fleet, campaigns; fleet pause/resume/throttle, campaign pause/resume |
//! | campaigns | `/console/campaigns`, `/console/campaigns/{id}`, `/console/campaigns/new` | campaigns, a campaign and its history; dry run, start, pause/resume/cancel |
//! | accounts | `/console/accounts` | migrations by status, stuck for, error, verification; parked |
//! | account | `/console/accounts/{shopper_id}` | migration, history, verification, rejects, attachments; retry, cancel, verify, unpark, remigrate |
//! | dead letters | `/console/dead-letters` | dead letters; replay |
//! | audit log | `/console/audit` | audit log |
//!
//! Every page answers with `Cache-Control: no-store` and a Content-Security-Policy that loads
//! nothing but the console's own stylesheet; every POST must come from the console's own
//! origin (`Origin`, `Sec-Fetch-Site`) and carry the session's CSRF token.

mod account;
mod bars;
mod campaigns;
pub mod charts;
mod figures;
mod pages;
pub mod render;
pub mod session;

use crate::error::ApiError;
use actix_web::dev::Service;
use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpResponse, ResponseError};
use futures::future::{ready, Either};

/// The largest form the console takes, in bytes (a start listing 10,000 shopper ids of up to
/// 64 characters, percent-encoded).
const FORM_LIMIT: usize = 2 << 20;

/// The console's stylesheet (its only static file).
const CSS: &str = include_str!("../../templates/console/console.css");

/// Whether a state-changing request comes from the console's own origin: browsers send
/// `Origin` (and `Sec-Fetch-Site`) with every form POST; a request with neither is not from a
/// browser's cross-site form and still needs the session's CSRF token.
fn same_origin(req: &actix_web::dev::ServiceRequest) -> bool {
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    match h.get("origin").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = req.connection_info().host().to_string();
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(&host))
        }
    }
}

/// `/console/…` on the admin listener.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            // a campaign's start form may list 10,000 shopper ids
            .app_data(web::FormConfig::default().limit(FORM_LIMIT))
            // the origin check inside, the headers outside (its 403 carries them too)
            .wrap_fn(|req, srv| {
                if req.method() == Method::POST && !same_origin(&req) {
                    let e = render::ConsoleError::from(ApiError::forbidden(
                        "this form was not sent from the console's own pages",
                    ));
                    let res = req.into_response(e.error_response());
                    return Either::Left(ready(Ok(res)));
                }
                Either::Right(srv.call(req))
            })
            .wrap(
                DefaultHeaders::new()
                    .add(("cache-control", "no-store"))
                    .add(("x-frame-options", "DENY"))
                    .add(("x-content-type-options", "nosniff"))
                    .add(("referrer-policy", "same-origin"))
                    .add((
                        "content-security-policy",
                        "default-src 'none'; style-src 'self'; form-action 'self'; \
                         frame-ancestors 'none'; base-uri 'none'",
                    )),
            )
            .route("/", web::get().to(pages::overview))
            .route("/console.css", web::get().to(css))
            .route("/sign-in", web::get().to(session::sign_in_form))
            .route("/sign-in", web::post().to(session::sign_in))
            .route("/sign-out", web::post().to(session::sign_out))
            .route("/fleet/{action}", web::post().to(pages::fleet_action))
            .route("/campaigns", web::get().to(campaigns::list))
            .route("/campaigns", web::post().to(campaigns::start))
            .route("/campaigns/new", web::get().to(campaigns::new_form))
            .route("/campaigns/dry-run", web::post().to(campaigns::dry_run))
            .route("/campaigns/{id}", web::get().to(campaigns::show))
            .route(
                "/campaigns/{id}/{action}",
                web::post().to(campaigns::action),
            )
            .route("/accounts", web::get().to(pages::accounts))
            .route("/accounts/{shopper_id}", web::get().to(account::show))
            .route(
                "/accounts/{shopper_id}/remigrate",
                web::get().to(account::confirm_remigrate),
            )
            .route(
                "/accounts/{shopper_id}/{action}",
                web::post().to(account::action),
            )
            .route("/dead-letters", web::get().to(pages::dead_letters))
            .route("/dead-letters/{id}/replay", web::post().to(pages::replay))
            .route("/audit", web::get().to(pages::audit))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(render::ConsoleError::from(ApiError::not_found("page")))
            })),
    );
    cfg.route(
        "/console",
        web::get().to(|| async { render::see_other("/console/") }),
    );
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(CSS)
}
