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

#[cfg(test)]
mod tests {
    #[test]
    fn openapi_documents_every_endpoint_of_the_spec() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../openapi.json")).unwrap();
        assert_eq!(doc["openapi"], "3.0.3");
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
            "/admin/accounts/{shopper_id}/migration",
            "/admin/accounts/{shopper_id}/remigrate",
            "/admin/migrations",
            "/admin/migrations/repair",
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
