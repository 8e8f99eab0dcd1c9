//! The Conversations media service: downloads with a cert JWT (RS256 with re:amaze's private
//! key; `iss`, `aud = conversations-media`, `iat`, `exp` at most 300 s later).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use migrator_core::retry::{retry, Attempt, Backoff};
use serde::Serialize;
use std::time::Duration;

/// Signs cert JWTs and downloads media.
#[derive(Clone)]
pub struct MediaClient {
    http: reqwest::Client,
    key: EncodingKey,
    issuer: String,
    ttl_secs: u64,
    backoff: Backoff,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// A downloaded file.
#[derive(Debug)]
pub struct Download {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// `Content-Type` as served.
    pub content_type: Option<String>,
}

/// A failed download: the reason and the attempts made.
#[derive(Debug)]
pub struct DownloadError {
    /// Why.
    pub reason: String,
    /// Attempts made.
    pub attempts: u32,
}

impl MediaClient {
    /// A client signing with the PEM private key at `pem`.
    pub fn new(
        pem: &[u8],
        issuer: &str,
        ttl_secs: u64,
        timeout: Duration,
        backoff: Backoff,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder().timeout(timeout).build()?,
            key: EncodingKey::from_rsa_pem(pem)?,
            issuer: issuer.to_string(),
            ttl_secs: ttl_secs.min(300),
            backoff,
        })
    }

    /// A fresh cert JWT.
    pub fn cert_jwt(&self) -> String {
        let now = chrono::Utc::now().timestamp() as u64;
        let claims = Claims {
            iss: &self.issuer,
            aud: "conversations-media",
            iat: now,
            exp: now + self.ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .expect("RS256 signing with a parsed key")
    }

    /// Downloads `url`, retrying 5xx, timeouts and refused connections; 4xx fail at once.
    pub async fn download(&self, url: &str) -> (Result<Download, String>, u32) {
        let mut attempts = 0u32;
        let res = retry(self.backoff, || {
            attempts += 1;
            async {
                let resp = self
                    .http
                    .get(url)
                    .bearer_auth(self.cert_jwt())
                    .send()
                    .await
                    .map_err(|e| Attempt::Transient(format!("request failed: {e}")))?;
                let status = resp.status().as_u16();
                if status >= 500 || status == 429 || status == 408 {
                    return Err(Attempt::Transient(format!(
                        "media service answered {status}"
                    )));
                }
                if status != 200 {
                    return Err(Attempt::Permanent(format!(
                        "media service answered {status}"
                    )));
                }
                let content_type = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let bytes = resp
                    .bytes()
                    .await
                    .map_err(|e| Attempt::Transient(format!("body: {e}")))?;
                Ok(Download {
                    bytes: bytes.to_vec(),
                    content_type,
                })
            }
        })
        .await;
        (res, attempts)
    }
}
