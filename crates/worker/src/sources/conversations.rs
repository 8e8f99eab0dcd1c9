//! The Conversations REST API: eligibility check and configs-migration.

use crate::error::{HopError, HopResult};
use crate::retry::{retry, Attempt, Backoff};
use migrator_core::source::SourceBrand;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

/// A client of the Conversations REST API.
#[derive(Clone)]
pub struct ConversationsClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    backoff: Backoff,
}

/// `GET /v1/accounts/{shopper_id}/migration`.
#[derive(Debug, Clone, Deserialize)]
pub struct Eligibility {
    /// Anything to move.
    pub needs_migration: bool,
    /// Threads held.
    #[serde(default)]
    pub thread_count: Option<i64>,
}

#[derive(Deserialize)]
struct ConfigsResponse {
    #[serde(default)]
    brands: Vec<SourceBrand>,
}

impl ConversationsClient {
    /// A client with a per-request timeout and in-hop retries.
    pub fn new(base: &str, token: SecretString, timeout: Duration, backoff: Backoff) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .expect("http client");
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
            backoff,
        }
    }

    /// Does the C1 have data? `None` when Conversations never knew it (404).
    pub async fn eligibility(&self, shopper_id: &str) -> HopResult<Option<Eligibility>> {
        let url = format!("{}/v1/accounts/{}/migration", self.base, shopper_id);
        retry(self.backoff, || async {
            let resp = self
                .http
                .get(&url)
                .bearer_auth(self.token.expose_secret())
                .send()
                .await
                .map_err(|e| {
                    Attempt::Transient(HopError::Transient(format!("eligibility: {e}")))
                })?;
            match resp.status().as_u16() {
                200 => resp.json::<Eligibility>().await.map(Some).map_err(|e| {
                    Attempt::Transient(HopError::Transient(format!("eligibility body: {e}")))
                }),
                404 => Ok(None),
                s => Err(classify(s, "eligibility")),
            }
        })
        .await
    }

    /// `POST /v1/configs-migration`: brands and channels. 404 is a permanent failure.
    pub async fn configs(&self, shopper_id: &str) -> HopResult<Vec<SourceBrand>> {
        let url = format!("{}/v1/configs-migration", self.base);
        retry(self.backoff, || async {
            let resp = self
                .http
                .post(&url)
                .bearer_auth(self.token.expose_secret())
                .json(&serde_json::json!({ "shopper_id": shopper_id }))
                .send()
                .await
                .map_err(|e| {
                    Attempt::Transient(HopError::Transient(format!("configs-migration: {e}")))
                })?;
            match resp.status().as_u16() {
                200 => resp
                    .json::<ConfigsResponse>()
                    .await
                    .map(|r| r.brands)
                    .map_err(|e| {
                        Attempt::Permanent(HopError::Permanent(format!(
                            "configs-migration answered a body outside the contract: {e}"
                        )))
                    }),
                404 => Err(Attempt::Permanent(HopError::Permanent(
                    "configs-migration: Conversations does not know this C1 (404)".into(),
                ))),
                s => Err(classify(s, "configs-migration")),
            }
        })
        .await
    }
}

/// 5xx and 429 are transient; other statuses are not.
fn classify(status: u16, what: &str) -> Attempt<HopError> {
    if status >= 500 || status == 429 || status == 408 {
        Attempt::Transient(HopError::Transient(format!("{what}: HTTP {status}")))
    } else {
        Attempt::Permanent(HopError::Permanent(format!("{what}: HTTP {status}")))
    }
}
