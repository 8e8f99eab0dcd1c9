//! Health, readiness, metrics, OpenAPI.

use super::conn;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use diesel_async::RunQueryDsl;
use serde_json::json;

/// Process up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Database and broker reachable.
pub async fn readyz(st: web::Data<AppState>) -> HttpResponse {
    let db = match conn(&st).await {
        Ok(mut c) => diesel::sql_query("SELECT 1").execute(&mut c).await.is_ok(),
        Err(_) => false,
    };
    let broker = st.publisher.ping().await;
    let body = json!({ "database": db, "broker": broker });
    if db && broker {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text.
pub async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(st.metrics.render())
}

/// OpenAPI 3 of every endpoint.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(include_str!("../../openapi.json"))
}
