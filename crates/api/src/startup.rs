//! Builds the app from settings, binds, and runs.

use crate::error::ApiError;
use crate::jwt::JwtVerifier;
use crate::routes;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::JsonPayloadError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use migrator_core::retry::Backoff;
use migrator_queue::{Broker, Publisher};
use migrator_runtime::settings::Settings;
use migrator_source::conversations::ConversationsClient;
use migrator_source::{RateLimits, Sources};
use migrator_store as db;
use std::sync::Arc;
use std::time::Duration;
use tracing_actix_web::TracingLogger;

/// A running api.
pub struct RunningApi {
    /// `http://host:port` of `api.listen`.
    pub base_url: String,
    /// `http://host:port` of operators' endpoints and `/metrics`: `api.admin_listen`'s, or
    /// `base_url` when there is one listener.
    pub admin_url: String,
    handles: Vec<ServerHandle>,
    /// Stops the background tasks: the outbox relay, the limits' pruning.
    stop_tasks: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    publisher: Arc<Publisher>,
}

impl RunningApi {
    /// Stops the server (requests in hand finish) and its background tasks (the relay), then
    /// closes the broker connection.
    pub async fn stop(self) {
        let _ = self.stop_tasks.send(true);
        for h in self.handles {
            h.stop(true).await;
        }
        for t in self.tasks {
            let _ = t.await;
        }
        self.publisher.close().await;
    }
}

/// Brings the schema to this release (applies migrations when `database.migrate_at_start`,
/// else waits for the release's migrate Job; `database.schema_wait_secs` at most), binds `api.listen` and
/// `api.admin_listen` (port 0 for any) and serves in the background.
pub async fn start(settings: Settings) -> anyhow::Result<RunningApi> {
    migrator_runtime::metrics::handle();
    db::schema_setup::prepare(&settings.database, "migrator-api").await?;
    let pool = db::pool(&settings.database)?;
    let broker = Broker::from_settings(&settings.amqp);
    tokio::spawn(apply_policies(
        broker.clone(),
        settings.amqp.management_url.clone(),
    ));
    let publisher = Arc::new(Publisher::new(broker));
    let (stop_tasks, stop_rx) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(migrator_queue::relay::run(
        pool.clone(),
        publisher.clone(),
        Duration::from_secs(2),
        stop_rx.clone(),
    ));
    let max_body = settings.api.max_body_bytes;
    let listen = settings.api.listen.clone();
    let settings_admin_listen =
        Some(settings.api.admin_listen.clone()).filter(|a| !a.trim().is_empty());
    let state = web::Data::new(AppState {
        jwt: JwtVerifier::app(&settings.api)?,
        admin_jwt: JwtVerifier::admin(&settings.api)?,
        // GET /accounts waits for Conversations briefly and never retries: it answers anyway
        eligibility: ConversationsClient::from_settings(
            &settings,
            Duration::from_millis(settings.api.eligibility_timeout_ms),
            Backoff::none(),
        ),
        sources: Sources::from_settings(&settings, RateLimits::default()).await,
        blobs: migrator_store::blob::from_settings(&settings.blobs).await?,
        openapi: crate::openapi::document(),
        limits: crate::limits::AppLimits::new(&settings.api),
        settings: Arc::new(settings),
        pool,
        publisher: publisher.clone(),
    });
    let pruning = {
        let (state, stop) = (state.clone(), stop_rx);
        tokio::spawn(async move { state.limits.prune_every_minute(stop).await })
    };
    let (routes, admin): (Routes, Option<String>) = match settings_admin_listen {
        Some(admin) => (routes::configure_public, Some(admin)),
        None => {
            if state.settings.console.enabled {
                tracing::info!("the console is served on api.admin_listen only: it is empty");
            }
            (routes::configure, None)
        }
    };
    let admin_routes: Routes = if state.settings.console.enabled {
        routes::configure_admin_console
    } else {
        routes::configure_admin
    };
    let public = serve(("api.listen", &listen), state.clone(), max_body, routes)?;
    let admin = admin
        .map(|a| serve(("api.admin_listen", &a), state, max_body, admin_routes))
        .transpose()?;
    let base_url = public.0.clone();
    let admin_url = admin.as_ref().map_or(base_url.clone(), |a| a.0.clone());
    let mut handles = vec![public.1];
    handles.extend(admin.map(|a| a.1));
    Ok(RunningApi {
        base_url,
        admin_url,
        handles,
        stop_tasks,
        tasks: vec![relay, pruning],
        publisher,
    })
}

/// Applies the queues' policies (their bounds) through the management API, in the background:
/// a start never waits on it; a failure is logged with the commands that do it by hand.
async fn apply_policies(broker: Broker, management: String) {
    use migrator_queue::policies;
    if management.trim().is_empty() {
        tracing::info!(commands = ?policies::rabbitmqctl(&broker), "amqp.management_url is empty: apply the queue policies by hand");
        return;
    }
    match policies::apply(&broker, &management).await {
        Ok(()) => tracing::info!("queue policies applied"),
        Err(e) => tracing::warn!(
            error = %e,
            commands = ?policies::rabbitmqctl(&broker),
            "queue policies not applied: the dead-letter queue is unbounded until they are"
        ),
    }
}

/// What one listener serves.
type Routes = fn(&mut web::ServiceConfig);

/// Binds `listen` (the value of `setting`) and serves `routes` on it in the background:
/// (`http://addr`, handle).
fn serve(
    (setting, listen): (&str, &str),
    state: web::Data<AppState>,
    max_body: usize,
    routes: Routes,
) -> anyhow::Result<(String, ServerHandle)> {
    let server = HttpServer::new(move || app(state.clone(), max_body, routes))
        .disable_signals()
        .bind(listen)
        .with_context(|| format!("{setting} = {listen}"))?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    tracing::info!(%addr, "api listening");
    Ok((format!("http://{addr}"), handle))
}

/// The app: body limits and their errors, metrics, request ids and tracing, then `routes`.
fn app(
    state: web::Data<AppState>,
    max_body: usize,
    routes: Routes,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(max_body)
                .error_handler(|e, _| {
                    let (status, code) = match &e {
                        JsonPayloadError::Overflow { .. }
                        | JsonPayloadError::OverflowKnownLength { .. } => {
                            (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
                        }
                        JsonPayloadError::ContentType => {
                            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                        }
                        _ => (StatusCode::BAD_REQUEST, "invalid_json"),
                    };
                    ApiError::new(status, code, e.to_string()).into()
                }),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::bad_request("invalid_query", e.to_string()).into()),
        )
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| ApiError::bad_request("invalid_path", e.to_string()).into()),
        )
        .wrap_fn(|req, srv| {
            // inside the router's match: the route template is known here
            let started = std::time::Instant::now();
            let fut = srv.call(req);
            async move {
                let res = fut.await?;
                let (route, method) = crate::metrics::labels_of(&res);
                crate::metrics::record(route, method, started, &res);
                Ok(res)
            }
        })
        .wrap_fn(|req, srv| {
            // the request id of the span, returned to the caller for support requests
            let id = crate::request_id::of(&req);
            let fut = srv.call(req);
            async move {
                let mut res = fut.await?;
                if let Some(id) = id.and_then(|i| HeaderValue::from_str(&i).ok()) {
                    res.headers_mut()
                        .insert(HeaderName::from_static("x-request-id"), id);
                }
                Ok(res)
            }
        })
        .wrap(TracingLogger::<crate::request_id::Spans>::new())
        .configure(routes)
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(ApiError::not_found("endpoint"))
        }))
}
