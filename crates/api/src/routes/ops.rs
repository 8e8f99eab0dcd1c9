//! Health, readiness, metrics, the OpenAPI document. No token.

use super::shared::conn;
use crate::state::AppState;
use crate::views::admin::{HealthBody, ReadyBody};
use actix_web::{web, HttpResponse};
use diesel_async::RunQueryDsl;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "up", body = HealthBody)))]
pub async fn healthz() -> web::Json<HealthBody> {
    web::Json(HealthBody {
        status: "ok".into(),
    })
}

/// Ready when the database answers; the broker's state is reported, not required (accepted
/// migrations wait in the outbox while it is down).
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "ready", body = ReadyBody),
        (status = 503, description = "the database is unreachable", body = ReadyBody)))]
pub async fn readyz(st: web::Data<AppState>) -> HttpResponse {
    let database = match conn(&st).await {
        Ok(mut c) => diesel::sql_query("SELECT 1").execute(&mut c).await.is_ok(),
        Err(_) => false,
    };
    let broker = st.publisher.ping().await;
    let body = ReadyBody { database, broker };
    if database {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text format; the fleet's and the program's gauges read now.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain", body = String)))]
pub async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    crate::metrics::refresh_fleet_gauges(&st.pool).await;
    crate::metrics::refresh_program_gauges(&st).await;
    migrator_store::record_pool_gauges(&st.pool);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(migrator_runtime::metrics::render())
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
pub async fn openapi(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(st.openapi.clone())
}
