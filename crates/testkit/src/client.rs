//! Calls to the api as the mobile app or an operator would make them, with signed tokens.

use crate::TestEnv;
use jsonwebtoken::{EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

impl TestEnv {
    /// A token of the C1 `shopper_id` (HS256 with the configured secret), valid for an hour.
    pub fn app_token(&self, shopper_id: &str) -> String {
        self.token(json!({ "sub": shopper_id, "exp": now() + 3600 }))
    }

    /// An operator token: signed with the operators' own secret, for their audience.
    pub fn admin_token(&self) -> String {
        let a = &self.settings.api;
        let mut claims = json!({ "sub": "operator", "role": "admin", "exp": now() + 3600 });
        if !a.admin_jwt_issuer.is_empty() {
            claims["iss"] = a.admin_jwt_issuer.clone().into();
        }
        if !a.admin_jwt_audience.is_empty() {
            claims["aud"] = a.admin_jwt_audience.clone().into();
        }
        sign(&a.admin_jwt_secret, &claims)
    }

    /// Signs arbitrary claims with the app secret (what an app token is signed with).
    pub fn token(&self, claims: Value) -> String {
        sign(&self.settings.api.jwt_secret, &claims)
    }

    /// A request to the api; returns the status and the JSON body (Null when not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        // operators' endpoints live on the admin listener when the api has one
        let base = if path.starts_with("/admin") || path == "/metrics" {
            &self.admin_url
        } else {
            &self.api_url
        };
        let mut req = self.http.request(method, format!("{base}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("api reachable");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `POST /admin/accounts/{shopper}/verify?wait_secs=30` as the operator: the result when
    /// it comes within 30 s (200), else the request (202).
    pub async fn verify_waiting(&self, shopper: &str) -> (StatusCode, Value) {
        let path = format!("/admin/accounts/{shopper}/verify?wait_secs=30");
        self.admin(reqwest::Method::POST, &path, None).await
    }

    /// The api's `/metrics` text (on the operators' listener when there is one).
    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.admin_url);
        let resp = self.http.get(url).send().await.expect("api reachable");
        resp.text().await.expect("metrics text")
    }

    /// GET as the C1.
    pub async fn get(&self, shopper_id: &str, path: &str) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::GET,
            path,
            Some(&self.app_token(shopper_id)),
            None,
        )
        .await
    }

    /// POST as the C1.
    pub async fn post(
        &self,
        shopper_id: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::POST,
            path,
            Some(&self.app_token(shopper_id)),
            body,
        )
        .await
    }

    /// The operators' view of a C1's migration (`GET /admin/accounts/{shopper}/migration`).
    pub async fn admin_view(&self, shopper_id: &str) -> Value {
        let path = format!("/admin/accounts/{shopper_id}/migration");
        self.admin(reqwest::Method::GET, &path, None).await.1
    }

    /// The C1's latest verification once it is done (or failed), polled through the admin
    /// api; panics after `timeout`.
    pub async fn finished_verification(
        &self,
        shopper_id: &str,
        timeout: std::time::Duration,
    ) -> Value {
        let started = std::time::Instant::now();
        let path = format!("/admin/accounts/{shopper_id}/verification");
        loop {
            let (s, v) = self.admin(reqwest::Method::GET, &path, None).await;
            if s == StatusCode::OK && matches!(v["status"].as_str(), Some("done" | "failed")) {
                return v;
            }
            assert!(
                started.elapsed() < timeout,
                "no verification finished: {s} {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Admin call.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, Some(&self.admin_token()), body)
            .await
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// HS256 with `secret`.
pub fn sign(secret: &secrecy::SecretString, claims: &Value) -> String {
    let secret = secrecy::ExposeSecret::expose_secret(secret);
    jsonwebtoken::encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("an HS256 key"),
    )
    .expect("sign")
}
