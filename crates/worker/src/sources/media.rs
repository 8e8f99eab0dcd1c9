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

/// Why a download did not store anything.
#[derive(Debug, Clone)]
pub struct MediaFailure {
    /// Short code shown to the C1 (`not_found`, `forbidden`, `unavailable`, …).
    pub code: &'static str,
    /// The full error, for logs and the admin view.
    pub detail: String,
    /// Worth trying again later (5xx, 429, timeouts, resets); otherwise final.
    pub transient: bool,
}

impl MediaFailure {
    fn transient(detail: String) -> Self {
        Self {
            code: "unavailable",
            detail,
            transient: true,
        }
    }

    /// A final failure with its code.
    pub fn fatal(code: &'static str, detail: String) -> Self {
        Self {
            code,
            detail,
            transient: false,
        }
    }

    /// What the attachment row keeps: the code, then the detail.
    pub fn reason(&self) -> String {
        format!("{}: {}", self.code, self.detail)
    }
}

/// A final failure's code for an HTTP status the media service answered.
fn status_code(status: u16) -> &'static str {
    match status {
        401 | 403 => "forbidden",
        404 | 410 => "not_found",
        413 => "too_large",
        _ => "rejected",
    }
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

    /// Downloads `url`, retrying 5xx, 429, timeouts and refused connections a few times in the
    /// hop; other answers fail at once. Returns the outcome and the attempts made.
    pub async fn download(&self, url: &str) -> (Result<Download, MediaFailure>, u32) {
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
                    .map_err(|e| {
                        Attempt::Transient(MediaFailure::transient(format!("request failed: {e}")))
                    })?;
                let status = resp.status().as_u16();
                if status >= 500 || status == 429 || status == 408 {
                    let detail = format!("media service answered {status}");
                    return Err(Attempt::Transient(MediaFailure::transient(detail)));
                }
                if status != 200 {
                    let detail = format!("media service answered {status}");
                    return Err(Attempt::Permanent(MediaFailure::fatal(
                        status_code(status),
                        detail,
                    )));
                }
                let content_type = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let bytes = resp.bytes().await.map_err(|e| {
                    Attempt::Transient(MediaFailure::transient(format!("body: {e}")))
                })?;
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
