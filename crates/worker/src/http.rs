//! The worker's own small HTTP port (`worker.listen`, never exposed publicly): `/healthz`
//! (the process is up), `/readyz` (the database answers), `/metrics` (Prometheus text).

use crate::context::Ctx;
use actix_web::{web, App, HttpResponse, HttpServer};
use diesel_async::RunQueryDsl;

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
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

async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(migrator_core::metrics::render())
}

/// Binds `worker.listen` and serves until the returned handle stops it.
pub fn start(ctx: &Ctx) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let data = web::Data::new(ctx.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    .bind(&ctx.settings.worker.listen)?;
    tracing::info!(addr = ?server.addrs(), "worker http port listening");
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(handle)
}
