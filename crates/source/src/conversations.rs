//! The Conversations REST API, one client for the api and the worker: the eligibility check
//! (`GET /accounts` asks it with a short timeout and no retries; the channels phase with
//! retries) and configs-migration.
//!
//! Its answers are untrusted input: no redirect is followed (the service token goes to the
//! configured origin only), a body is read up to `conversations.max_body_bytes` and refused
//! past it, and a 401/403 is a refusal of our service token — a configuration fault retried
//! later and shown to operators, never "this C1 is unknown".

use crate::ratelimit::RateLimiter;
use crate::retry::{retry, Attempt};
use migrator_core::ids::ShopperId;
use migrator_core::retry::Backoff;
use migrator_core::source::SourceBrand;
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
    max_body: usize,
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
    /// The source refused our credentials (REST 401/403: the service token): a fault of our
    /// configuration, worth retrying later, never a property of the C1.
    #[error("{0}")]
    Refused(String),
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

/// The largest body read from Conversations when none is configured (see
/// [`ConversationsClient::with_max_body`]).
pub const DEFAULT_MAX_BODY: usize = 4 << 20;

impl ConversationsClient {
    /// A client with a per-request `timeout` and `backoff.retries` retries of transient failures;
    /// it follows no redirect and reads at most [`DEFAULT_MAX_BODY`] bytes of a body.
    pub fn new(base: &str, token: SecretString, timeout: Duration, backoff: Backoff) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
            backoff,
            limiter: None,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// The client `settings.conversations` describe (base URL, token, `max_body_bytes`), with
    /// a per-request `timeout` and `backoff`.
    pub fn from_settings(
        settings: &migrator_runtime::settings::Settings,
        timeout: Duration,
        backoff: Backoff,
    ) -> Self {
        let c = &settings.conversations;
        Self::new(&c.base_url, c.token.clone(), timeout, backoff).with_max_body(c.max_body_bytes)
    }

    /// Reads at most `bytes` of a body (`conversations.max_body_bytes`); a longer one is an
    /// answer outside the contract.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes.max(1);
        self
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
                200 => {
                    let body = read_capped(resp, self.max_body, "eligibility").await?;
                    serde_json::from_slice::<Eligibility>(&body)
                        .map(Some)
                        .map_err(|e| transient(format!("eligibility body: {e}")))
                }
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
                200 => {
                    let body = read_capped(resp, self.max_body, "configs-migration").await?;
                    serde_json::from_slice::<ConfigsResponse>(&body)
                        .map(|r| r.brands)
                        .map_err(|e| {
                            Attempt::Permanent(SourceError::Permanent(format!(
                                "configs-migration answered a body outside the contract: {e}"
                            )))
                        })
                }
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

/// Reads a body chunk by chunk, refusing it past `max` bytes (whatever `Content-Length` says):
/// memory stays bounded by the cap. A body cut short by the connection is transient.
async fn read_capped(
    mut resp: reqwest::Response,
    max: usize,
    what: &str,
) -> Result<Vec<u8>, Attempt<SourceError>> {
    let too_large = || {
        Attempt::Permanent(SourceError::Permanent(format!(
            "{what}: the body is over the {max} byte cap (conversations.max_body_bytes)"
        )))
    };
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| transient(format!("{what} body: {e}")))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// 5xx, 429 and 408 are transient; 401/403 are a refusal of our token (not retried within
/// the call: another try meets the same token); a redirect (never followed) and other
/// statuses are outside the contract.
fn classify(status: u16, what: &str) -> Attempt<SourceError> {
    let msg = format!("{what}: HTTP {status}");
    match status {
        s if s >= 500 || s == 429 || s == 408 => Attempt::Transient(SourceError::Transient(msg)),
        401 | 403 => Attempt::Permanent(SourceError::Refused(format!(
            "{msg}: Conversations refused our service token (conversations.token)"
        ))),
        _ => Attempt::Permanent(SourceError::Permanent(msg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_token_is_not_an_unknown_c1() {
        for s in [401, 403] {
            assert!(matches!(
                classify(s, "configs-migration"),
                Attempt::Permanent(SourceError::Refused(m)) if m.contains("service token")
            ));
        }
        assert!(matches!(classify(503, "x"), Attempt::Transient(_)));
        assert!(matches!(
            classify(302, "x"),
            Attempt::Permanent(SourceError::Permanent(_))
        ));
    }
}
