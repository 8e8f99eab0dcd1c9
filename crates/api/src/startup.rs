//! Builds the app from settings, binds, and runs.

use crate::auth::JwtVerifier;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::routes;
use crate::state::AppState;
use actix_web::dev::{ServerHandle, Service};
use actix_web::{web, App, HttpServer};
use migrator_core::blob::FsBlobStore;
use migrator_core::conversations::ConversationsClient;
use migrator_core::db;
use migrator_core::queue::{Broker, Publisher};
use migrator_core::retry::Backoff;
use migrator_core::settings::Settings;
use std::sync::Arc;
use std::time::Duration;

/// A running api.
pub struct RunningApi {
    /// `http://host:port`.
    pub base_url: String,
    /// Stops it.
    pub handle: ServerHandle,
    stop_relay: tokio::sync::watch::Sender<bool>,
}

impl RunningApi {
    /// Stops the server and its relay.
    pub async fn stop(self) {
        let _ = self.stop_relay.send(true);
        self.handle.stop(true).await;
    }
}

/// Applies migrations, binds `api.listen` (port 0 for any) and serves in the background.
pub async fn start(settings: Settings) -> anyhow::Result<RunningApi> {
    db::run_migrations(settings.database.url.as_str()).await?;
    let pool = db::pool(&settings.database)?;
    let publisher = Arc::new(Publisher::new(Broker::from_settings(&settings.amqp)));
    let (stop_relay, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(migrator_core::relay::run(
        pool.clone(),
        publisher.clone(),
        Duration::from_secs(2),
        stop_rx,
    ));
    let max_body = settings.api.max_body_bytes;
    let listen = settings.api.listen.clone();
    let state = web::Data::new(AppState {
        jwt: JwtVerifier::app(&settings.api)?,
        admin_jwt: JwtVerifier::admin(&settings.api)?,
        conversations: ConversationsClient::new(
            &settings.conversations.base_url,
            settings.conversations.token.clone(),
            Duration::from_millis(settings.api.eligibility_timeout_ms),
            Backoff::none(),
        ),
        blobs: Arc::new(FsBlobStore::new(&settings.blobs.dir)),
        metrics: Arc::new(Metrics::default()),
        openapi: crate::openapi::document(),
        settings: Arc::new(settings),
        pool,
        publisher,
    });
    let server =
        HttpServer::new(move || {
            let metrics = state.metrics.clone();
            App::new()
                .app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(max_body)
                        .error_handler(|e, _| {
                            let (status, code) = match &e {
                                actix_web::error::JsonPayloadError::Overflow { .. }
                                | actix_web::error::JsonPayloadError::OverflowKnownLength {
                                    ..
                                } => (
                                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                                    "body_too_large",
                                ),
                                actix_web::error::JsonPayloadError::ContentType => (
                                    actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                                    "unsupported_media_type",
                                ),
                                _ => (actix_web::http::StatusCode::BAD_REQUEST, "invalid_json"),
                            };
                            ApiError::new(status, code, e.to_string()).into()
                        }),
                )
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::bad_request("invalid_query", e.to_string()).into()
                }))
                .app_data(web::PathConfig::default().error_handler(|e, _| {
                    ApiError::bad_request("invalid_path", e.to_string()).into()
                }))
                .wrap_fn(move |req, srv| {
                    let method = req.method().to_string();
                    let metrics = metrics.clone();
                    let fut = srv.call(req);
                    async move {
                        let res = fut.await?;
                        metrics.request(&method, res.status().as_u16());
                        Ok(res)
                    }
                })
                .configure(routes::configure)
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(ApiError::not_found("endpoint"))
                }))
        })
        .disable_signals()
        .bind(&listen)?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    tracing::info!(%addr, "api listening");
    Ok(RunningApi {
        base_url: format!("http://{addr}"),
        handle,
        stop_relay,
    })
}
