//! The worker's own small HTTP port (`worker.listen`, never exposed publicly): `/healthz`
//! (the process is up, and where it listens), `/readyz` (the database answers), `/metrics`
//! (Prometheus text).
//!
//! Several workers may run on one host: with `worker.listen` empty (none configured) a worker
//! takes [`DEFAULT_LISTEN`], or any free loopback port when another has it, and says which in
//! its log and `/healthz`. A configured address that is taken stops the start with one line
//! naming the setting.

use crate::context::Ctx;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context as _;
use diesel_async::RunQueryDsl;
use std::net::SocketAddr;

/// Where a worker listens when `worker.listen` is empty and this port is free.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9091";

/// Where the port listens, for `/healthz`.
struct Listening(SocketAddr);

async fn healthz(at: web::Data<Listening>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "listen": at.0.to_string() }))
}

async fn readyz(ctx: web::Data<Ctx>) -> HttpResponse {
    let database = match ctx.conn().await {
        Ok(mut c) => diesel::sql_query("SELECT 1").execute(&mut c).await.is_ok(),
        Err(_) => false,
    };
    let body = serde_json::json!({ "database": database });
    if database {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(ctx: web::Data<Ctx>) -> HttpResponse {
    migrator_store::record_pool_gauges(&ctx.pool);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(migrator_runtime::metrics::render())
}

/// The listener `worker.listen` asks for: the configured address (taken: an error naming the
/// setting), or, none configured, [`DEFAULT_LISTEN`] or else any free loopback port.
fn listener(configured: &str) -> anyhow::Result<std::net::TcpListener> {
    let configured = configured.trim();
    if !configured.is_empty() {
        return std::net::TcpListener::bind(configured)
            .with_context(|| format!("worker.listen = {configured}"));
    }
    match std::net::TcpListener::bind(DEFAULT_LISTEN) {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let l = std::net::TcpListener::bind("127.0.0.1:0")
                .context("worker.listen (any free loopback port)")?;
            tracing::info!(
                taken = DEFAULT_LISTEN,
                addr = %l.local_addr()?,
                "another process listens on the default worker port; this worker listens elsewhere"
            );
            Ok(l)
        }
        Err(e) => Err(e).with_context(|| format!("worker.listen (default {DEFAULT_LISTEN})")),
    }
}

/// Binds the worker's port (see the module's top) and serves until the returned handle stops
/// it; returns the address too.
pub fn start(ctx: &Ctx) -> anyhow::Result<(actix_web::dev::ServerHandle, SocketAddr)> {
    let l = listener(&ctx.settings.worker.listen)?;
    let addr = l.local_addr()?;
    let data = web::Data::new(ctx.clone());
    let at = web::Data::new(Listening(addr));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(at.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    .listen(l)
    .with_context(|| format!("worker.listen = {addr}"))?;
    tracing::info!(%addr, "worker http port listening");
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((handle, addr))
}
