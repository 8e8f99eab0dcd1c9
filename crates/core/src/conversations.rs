//! The Conversations REST API, one client for the api and the worker: the eligibility check
//! (`GET /accounts` asks it with a short timeout and no retries; the channels phase with
//! retries) and configs-migration.

use crate::ids::ShopperId;
use crate::ratelimit::RateLimiter;
use crate::retry::{retry, Attempt, Backoff};
use crate::source::SourceBrand;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// A client of the Conversations REST API.
#[derive(Clone)]
pub struct ConversationsClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    backoff: Backoff,
    limiter: Option<Arc<RateLimiter>>,
}

/// Why a call to Conversations did not answer as the contract says.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// Worth another try later: 5xx, 429, a timeout, a refused connection.
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help: the C1 is unknown, or an answer outside the contract.
    #[error("{0}")]
    Permanent(String),
    /// The source asked us to slow down (DynamoDB throttling after the SDK's retries).
    #[error("{0}")]
    Throttled(String),
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
    /// A client with a per-request `timeout` and `backoff.retries` retries of transient failures.
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
            limiter: None,
        }
    }

    /// Every call waits for a token of `limiter` first (the worker's share of the fleet's cap).
    pub fn with_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    async fn admitted(&self) {
        if let Some(l) = &self.limiter {
            l.acquire().await;
        }
    }

    /// Does the C1 have data? `None` when Conversations never knew it (404).
    pub async fn eligibility(
        &self,
        shopper: &ShopperId,
    ) -> Result<Option<Eligibility>, SourceError> {
        let url = format!("{}/v1/accounts/{}/migration", self.base, shopper);
        retry(self.backoff, || async {
            self.admitted().await;
            let resp = self
                .http
                .get(&url)
                .bearer_auth(self.token.expose_secret())
                .send()
                .await
                .map_err(|e| transient(format!("eligibility: {e}")))?;
            match resp.status().as_u16() {
                200 => resp
                    .json::<Eligibility>()
                    .await
                    .map(Some)
                    .map_err(|e| transient(format!("eligibility body: {e}"))),
                404 => Ok(None),
                s => Err(classify(s, "eligibility")),
            }
        })
        .await
    }

    /// `POST /v1/configs-migration`: brands and channels. 404 is a permanent failure.
    pub async fn configs(&self, shopper: &ShopperId) -> Result<Vec<SourceBrand>, SourceError> {
        let url = format!("{}/v1/configs-migration", self.base);
        retry(self.backoff, || async {
            self.admitted().await;
            let resp = self
                .http
                .post(&url)
                .bearer_auth(self.token.expose_secret())
                .json(&serde_json::json!({ "shopper_id": shopper }))
                .send()
                .await
                .map_err(|e| transient(format!("configs-migration: {e}")))?;
            match resp.status().as_u16() {
                200 => resp
                    .json::<ConfigsResponse>()
                    .await
                    .map(|r| r.brands)
                    .map_err(|e| {
                        Attempt::Permanent(SourceError::Permanent(format!(
                            "configs-migration answered a body outside the contract: {e}"
                        )))
                    }),
                404 => Err(Attempt::Permanent(SourceError::Permanent(
                    "configs-migration: Conversations does not know this C1 (404)".into(),
                ))),
                s => Err(classify(s, "configs-migration")),
            }
        })
        .await
    }
}

fn transient(msg: String) -> Attempt<SourceError> {
    Attempt::Transient(SourceError::Transient(msg))
}

/// 5xx, 429 and 408 are transient; other statuses are not.
fn classify(status: u16, what: &str) -> Attempt<SourceError> {
    let msg = format!("{what}: HTTP {status}");
    if status >= 500 || status == 429 || status == 408 {
        Attempt::Transient(SourceError::Transient(msg))
    } else {
        Attempt::Permanent(SourceError::Permanent(msg))
    }
}
