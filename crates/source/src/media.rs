//! The Conversations media service: downloads with a cert JWT (RS256 with re:amaze's private
//! key; `iss`, `aud = conversations-media`, `iat`, `exp` at most 300 s later).
//!
//! Clocks differ between us and the media service: `iat` is set back by
//! `media.clock_skew_secs` (and `exp` stays within 300 s of it), so a verifier whose clock is
//! behind ours by up to that much, checking with no leeway, still accepts the token. A refusal
//! (401/403) is tried once more at once with a freshly minted token before it counts; what a
//! refusal then does to the attachment is decided by the caller ([`MediaFailure::refused`]).
//!
//! `media_url` is source data, so hostile until checked: only URLs of `media.allowed_origins`
//! are contacted (and get the cert JWT); redirects are never followed; the body is streamed to
//! the blob store and cut off past `media.max_bytes`, whatever `Content-Length` or the item's
//! `size_bytes` claim. Memory stays bounded by one chunk.

use crate::retry::{retry, Attempt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use migrator_core::blob::BlobStore;
use migrator_core::retry::Backoff;
use reqwest::Url;
use serde::Serialize;
use std::time::Duration;

/// Signs cert JWTs and downloads media.
#[derive(Clone)]
pub struct MediaClient {
    http: reqwest::Client,
    key: EncodingKey,
    issuer: String,
    ttl_secs: u64,
    skew_secs: u64,
    backoff: Backoff,
    origins: Vec<AllowedMedia>,
    max_bytes: u64,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// The longest a cert JWT may live, `exp - iat` (source contract, media).
const MAX_TOKEN_SECS: u64 = 300;

/// The claims of a cert JWT minted at `now` (epoch s): issued `skew` seconds earlier, so a
/// verifier whose clock is behind ours by up to `skew` does not see it as issued in the
/// future; expiring `ttl` after issue (at most 300 s, the contract's bound on `exp - iat`).
fn cert_claims(issuer: &str, now: u64, skew: u64, ttl: u64) -> Claims<'_> {
    let iat = now.saturating_sub(skew);
    Claims {
        iss: issuer,
        aud: "conversations-media",
        iat,
        exp: iat + ttl.min(MAX_TOKEN_SECS),
    }
}

/// A stored download.
#[derive(Debug)]
pub struct Fetched {
    /// Bytes stored.
    pub size: u64,
    /// `Content-Type` as served, when it is a plain media type.
    pub content_type: Option<String>,
}

/// Why a download did not store anything.
#[derive(Debug, Clone)]
pub struct MediaFailure {
    /// Short code shown to the C1 (`not_found`, `too_large`, `forbidden_origin`, …).
    pub code: &'static str,
    /// The full error, for logs and the admin view.
    pub detail: String,
    /// Worth trying again later (5xx, 429, timeouts, resets); otherwise final.
    pub transient: bool,
    /// The media service refused our cert JWT (401/403), twice in a row: a property of our
    /// credentials or clocks as often as of the attachment, so the caller decides whether it
    /// is final ([`crate::attachments`]).
    pub refused: bool,
}

impl MediaFailure {
    /// A failure worth trying again later.
    pub fn transient(detail: String) -> Self {
        Self {
            code: "unavailable",
            detail,
            transient: true,
            refused: false,
        }
    }

    /// A final failure with its code.
    pub fn fatal(code: &'static str, detail: String) -> Self {
        Self {
            code,
            detail,
            transient: false,
            refused: false,
        }
    }

    /// The media service refused the cert JWT (`status` 401 or 403).
    pub fn refused(status: u16) -> Self {
        Self {
            code: "forbidden",
            detail: format!("media service refused the cert JWT ({status})"),
            transient: false,
            refused: true,
        }
    }

    /// What the attachment row keeps for operators: the code, then the detail.
    pub fn reason(&self) -> String {
        format!("{}: {}", self.code, self.detail)
    }
}

/// A final failure's code for an HTTP status the media service answered.
fn status_code(status: u16) -> &'static str {
    match status {
        300..=399 => "redirected",
        404 | 410 => "not_found",
        413 => "too_large",
        _ => "rejected",
    }
}

/// A `Content-Type` worth keeping: a short `type/subtype` with optional parameters, printable.
fn plain_media_type(v: &str) -> Option<String> {
    let ok =
        v.len() <= 200 && v.contains('/') && v.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    ok.then(|| v.to_string())
}

/// Where media may come from: an origin, and the path prefix URLs on it must start with (`/`:
/// any path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedMedia {
    pub origin: url::Origin,
    pub path_prefix: String,
}

impl AllowedMedia {
    /// Whether `u` (parsed: its path normalized, `..` resolved) is on this origin under this
    /// prefix.
    pub fn allows(&self, u: &Url) -> bool {
        u.origin() == self.origin && u.path().starts_with(&self.path_prefix)
    }
}

/// Where media may come from: the configured origins or URL prefixes
/// (`https://media.example.com`, `https://cdn.example.com/media/`), or the origin of the
/// Conversations API. A prefix's path is matched from the start, ending at a `/` (so
/// `/media` allows `/media/x`, never `/media-private/x`).
pub fn allowed_origins(
    configured: &[String],
    conversations_base: &str,
) -> anyhow::Result<Vec<AllowedMedia>> {
    let from_config = !configured.is_empty();
    let list: Vec<&str> = if from_config {
        configured.iter().map(String::as_str).collect()
    } else {
        vec![conversations_base]
    };
    list.into_iter()
        .map(|o| {
            let u = Url::parse(o).map_err(|e| anyhow::anyhow!("media origin {o:?}: {e}"))?;
            anyhow::ensure!(
                matches!(u.scheme(), "http" | "https"),
                "media origin {o:?} is not http(s)"
            );
            anyhow::ensure!(
                u.username().is_empty() && u.password().is_none(),
                "media origin {o:?} carries user-info"
            );
            let mut path_prefix = if from_config {
                u.path().to_string()
            } else {
                "/".into()
            };
            if !path_prefix.ends_with('/') {
                path_prefix.push('/');
            }
            Ok(AllowedMedia {
                origin: u.origin(),
                path_prefix,
            })
        })
        .collect()
}

impl MediaClient {
    /// The client `settings.media` describe: its signing key read from
    /// `media.signing_key_path`, its origins `media.allowed_origins` (or the Conversations
    /// API's), `backoff` for retries within a download.
    pub fn from_settings(
        settings: &migrator_runtime::settings::Settings,
        backoff: Backoff,
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let m = &settings.media;
        let pem = std::fs::read(&m.signing_key_path).with_context(|| {
            format!("media.signing_key_path = {}", m.signing_key_path.display())
        })?;
        let origins = allowed_origins(&m.allowed_origins, &settings.conversations.base_url)?;
        Self::new(&pem, m, origins, backoff)
    }

    /// A client signing with the PEM private key `pem`, fetching only from `origins`.
    ///
    /// Errors: an unreadable key, or one the signer refuses (aws-lc takes RSA keys of 2048 to
    /// 8192 bits), found here by signing one token rather than in the first hop that fetches.
    pub fn new(
        pem: &[u8],
        settings: &migrator_runtime::settings::MediaSettings,
        origins: Vec<AllowedMedia>,
        backoff: Backoff,
    ) -> anyhow::Result<Self> {
        let key = EncodingKey::from_rsa_pem(pem)?;
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &cert_claims("probe", 0, 0, 1),
            &key,
        )
        .map_err(|e| anyhow::anyhow!("media signing key refused (RSA 2048–8192 bits): {e}"))?;
        let timeout = Duration::from_millis(settings.timeout_ms);
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            key,
            issuer: settings.issuer.clone(),
            ttl_secs: settings.token_ttl_secs.min(MAX_TOKEN_SECS),
            skew_secs: settings.clock_skew_secs,
            backoff,
            origins,
            max_bytes: settings.max_bytes,
        })
    }

    /// A fresh cert JWT, issued `media.clock_skew_secs` ago.
    pub fn cert_jwt(&self) -> String {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = cert_claims(&self.issuer, now, self.skew_secs, self.ttl_secs);
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .expect("RS256 signing with a parsed key")
    }

    /// The URL, when it may be contacted at all.
    fn checked(&self, url: &str, declared: Option<i64>) -> Result<Url, MediaFailure> {
        let u = Url::parse(url)
            .map_err(|e| MediaFailure::fatal("forbidden_origin", format!("media_url: {e}")))?;
        // a `user:pass@` part would become a second Authorization header beside our cert JWT
        if !u.username().is_empty() || u.password().is_some() {
            let detail = "media_url carries user-info (user:pass@)".to_string();
            return Err(MediaFailure::fatal("forbidden_origin", detail));
        }
        if !self.origins.iter().any(|a| a.allows(&u)) {
            let detail = format!(
                "media_url outside allowed origins and paths: {}{}",
                u.origin().ascii_serialization(),
                u.path()
            );
            return Err(MediaFailure::fatal("forbidden_origin", detail));
        }
        if let Some(n) = declared.filter(|n| *n as u64 > self.max_bytes) {
            let detail = format!("declared {n} bytes, over the {} byte cap", self.max_bytes);
            return Err(MediaFailure::fatal("too_large", detail));
        }
        Ok(u)
    }

    /// Downloads `url` into `blobs` under `key`, retrying 5xx, 429, timeouts and resets a few
    /// times in the hop, and a refusal (401/403) once at once with a fresh token; other answers
    /// fail at once. Returns the outcome and the requests made.
    pub async fn download(
        &self,
        url: &str,
        declared: Option<i64>,
        blobs: &dyn BlobStore,
        key: &str,
    ) -> (Result<Fetched, MediaFailure>, u32) {
        let url = match self.checked(url, declared) {
            Ok(u) => u,
            Err(f) => return (Err(f), 0),
        };
        let mut attempts = 0u32;
        // a token can be refused for reasons a new one fixes (it expired in flight, the service
        // rotated its view of our key): after a refusal, one more round with a token minted now
        for round in 0..2 {
            let res = retry(self.backoff, || {
                attempts += 1;
                self.fetch_once(&url, blobs, key)
            })
            .await;
            if round == 1 || !res.as_ref().is_err_and(|f| f.refused) {
                return (res, attempts);
            }
        }
        unreachable!("the second round returns")
    }

    async fn fetch_once(
        &self,
        url: &Url,
        blobs: &dyn BlobStore,
        key: &str,
    ) -> Result<Fetched, Attempt<MediaFailure>> {
        let transient = |d: String| Attempt::Transient(MediaFailure::transient(d));
        let fatal = |c, d: String| Attempt::Permanent(MediaFailure::fatal(c, d));
        let mut resp = self
            .http
            .get(url.clone())
            .bearer_auth(self.cert_jwt())
            .send()
            .await
            .map_err(|e| transient(format!("request failed: {e}")))?;
        let status = resp.status().as_u16();
        if status >= 500 || status == 429 || status == 408 {
            return Err(transient(format!("media service answered {status}")));
        }
        if status == 401 || status == 403 {
            return Err(Attempt::Permanent(MediaFailure::refused(status)));
        }
        if status != 200 {
            // a redirect is never followed: the cert JWT goes to allowed origins only
            return Err(fatal(
                status_code(status),
                format!("media service answered {status}"),
            ));
        }
        if let Some(n) = resp.content_length().filter(|n| *n > self.max_bytes) {
            let d = format!("Content-Length {n} is over the {} byte cap", self.max_bytes);
            return Err(fatal("too_large", d));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(plain_media_type);
        let mut out = blobs
            .create(key)
            .await
            .map_err(|e| transient(format!("blob store: {e}")))?;
        let mut size = 0u64;
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => return Err(transient(format!("body: {e}"))),
            };
            size += chunk.len() as u64;
            if size > self.max_bytes {
                // the writer is dropped: nothing stays behind
                let d = format!("body over the {} byte cap", self.max_bytes);
                return Err(fatal("too_large", d));
            }
            out.write(&chunk)
                .await
                .map_err(|e| transient(format!("blob store: {e}")))?;
        }
        let size = out
            .commit()
            .await
            .map_err(|e| transient(format!("blob store: {e}")))?;
        Ok(Fetched { size, content_type })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_jwts_are_issued_in_the_past_and_live_at_most_300_s_from_issue() {
        let c = cert_claims("me", 1_000_000, 60, 300);
        assert_eq!((c.iat, c.exp), (999_940, 1_000_240));
        assert_eq!(c.aud, "conversations-media");
        let c = cert_claims("me", 1_000_000, 0, 900);
        assert_eq!(
            c.exp - c.iat,
            300,
            "the contract's bound whatever the setting"
        );
        // a verifier 20 s behind us with no leeway: issued before its now, expiring after it
        let theirs = 1_000_000 - 20;
        let c = cert_claims("me", 1_000_000, 60, 300);
        assert!(c.iat <= theirs && c.exp > theirs);
    }

    /// TEST-ONLY: a 1024-bit RSA key, generated for this test and used nowhere else.
    const TEST_ONLY_RSA_1024: &str = "-----BEGIN PRIVATE KEY-----\nMIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAKc62/MP4KCV7cZu\nbUx+D1RDEBSLZAWpaQ4oHUtFUf6NIB2r42wDRv/1nRZuRvHsmRSf7ci6R/RMMoae\nY+biPMrFpa9+sNYAV402HT78O0k20qKwhHD+sVP13RJnXKS9Mvju5TQYQB5KOCGc\n/BPrpFAo14sah94K6zH5tjKTHWAdAgMBAAECgYBwCXQAdPu2OpxRm/voCnC0sDVe\nvkBltqkmjeOKYUfctan1lwpHfC6eH2x98aXgQPYSJk+Fcp/wYPhczlL6BUpaLgbg\nOyzURgdlAif4bmlnKOxcJe4moqCHNRF9krn2oQ3/UV80cMW+Oge+OSjavQjMlxTe\nAG5w9CbpZ0/LCIaQwQJBANYbVNZEI6tHHmSgj5X5DQcfOv4PA+RN8uzUqaO4/kL2\n+o2PzjnNuQifvWCtNn0+XEgX9RuZG4uWPbF3UsC6WDECQQDH83QMqYwG1Rh6Gvre\nBiv2xkio3aMos328Qi4StZ4rPS/PH/Hn+QuUG9g6bKLY0z3olnZ/aT0q8p6YhlG+\nAXetAkAiAyd//kUYUWzvmV4V+gFqzzhE4cfBfeyIWOQ2AQ5LPwbgdCbToe2yBAZG\nlF2imcR5I20pnDH3A7/7MDRyL2gRAkB8jjqXfLKeuvYxckceMagHZMN0dgSiYRWN\nRYif3QU3mDkFBLhTsf81dxb+ZhgXi5fAIKKWgf85lsOW7e1TuGRNAkEAgTMuLa53\nBV6cAF7sXaUUFAhV8HemIY+3/F+/bOqaGo3/mE1S53iSpTo+f/PqBOvbiN8BHIO2\n7qIwA5tXo/ZKQQ==\n-----END PRIVATE KEY-----";

    #[test]
    fn a_configured_prefix_allows_its_paths_only() {
        let o = allowed_origins(&["https://cdn.example.com/media".into()], "http://x/").unwrap();
        let allows = |u: &str| o.iter().any(|a| a.allows(&Url::parse(u).unwrap()));
        assert!(allows("https://cdn.example.com/media/a.png"));
        for bad in [
            "https://cdn.example.com/media-private/a.png",
            "https://cdn.example.com/admin/token",
            "https://cdn.example.com/media/../admin/token",
            "http://x/media/a.png",
        ] {
            assert!(!allows(bad), "{bad}");
        }
    }

    #[test]
    fn a_url_with_user_info_is_refused_before_any_request() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let s = migrator_runtime::settings::Settings::development(&dir).unwrap();
        let pem = std::fs::read(dir.join("..").join(&s.media.signing_key_path)).unwrap();
        let o = allowed_origins(&[], "http://media.example/").unwrap();
        let client = MediaClient::new(&pem, &s.media, o, s.worker.call_backoff()).unwrap();
        let e = client
            .checked("http://user:pass@media.example/a.png", None)
            .unwrap_err();
        assert_eq!(e.code, "forbidden_origin");
        assert!(e.detail.contains("user-info"), "{}", e.detail);
        assert!(client.checked("http://media.example/a.png", None).is_ok());
    }

    #[test]
    fn a_signing_key_the_signer_refuses_stops_the_start_not_a_hop() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let s = migrator_runtime::settings::Settings::development(&dir).unwrap();
        let new = |pem: &[u8]| MediaClient::new(pem, &s.media, vec![], s.worker.call_backoff());
        let err = new(TEST_ONLY_RSA_1024.as_bytes())
            .err()
            .expect("a 1024-bit key is refused");
        assert!(err.to_string().contains("2048"), "{err}");
        assert!(new(b"not a key").is_err());
        let dev = std::fs::read(dir.join("..").join(&s.media.signing_key_path)).unwrap();
        let client = new(&dev).expect("the development key (2048 bits) signs");
        assert_eq!(client.cert_jwt().split('.').count(), 3);
    }

    #[test]
    fn origins_default_to_the_conversations_api_and_compare_exactly() {
        let o = allowed_origins(&[], "http://127.0.0.1:8090/").unwrap();
        let allows = |u: &str| o.iter().any(|a| a.allows(&Url::parse(u).unwrap()));
        assert!(allows("http://127.0.0.1:8090/media/x?size=3"));
        for bad in [
            "http://127.0.0.1:8091/media/x",
            "https://127.0.0.1:8090/media/x",
            "http://localhost:8090/media/x",
            "http://127.0.0.1:8090@evil.example/x",
        ] {
            assert!(!allows(bad), "{bad}");
        }
        assert!(allowed_origins(&["file:///etc".into()], "").is_err());
        assert!(allowed_origins(&["https://u:p@media.example".into()], "").is_err());
        assert_eq!(plain_media_type("image/png"), Some("image/png".into()));
        assert_eq!(
            plain_media_type("text/html; charset=utf-8").as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(plain_media_type("x\r\nSet-Cookie: a"), None);
        assert_eq!(plain_media_type("nonsense"), None);
    }
}
