//! The admin API as `migratorctl` reaches it: the base URL, the operator token, one HTTP
//! client with a timeout.

use crate::exit;
use crate::request::Request;
use reqwest::StatusCode;

/// The api and the operator's token.
pub struct Api {
    http: reqwest::Client,
    base: url::Url,
    token: String,
}

impl Api {
    /// An api at `base` (`http://host:port`, maybe with a path prefix) with `token`.
    pub fn new(base: &str, token: String) -> anyhow::Result<Self> {
        let base = url::Url::parse(base)
            .map_err(|e| anyhow::anyhow!("--url {base:?} is not a URL: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Self { http, base, token })
    }

    /// Sends `r`: its status and answer, or the exit status of an api that could not be
    /// reached (said on stderr).
    pub async fn send(&self, r: &Request) -> Result<(StatusCode, String), i32> {
        let url = r.url(&self.base).map_err(|e| {
            eprintln!("{e}");
            exit::USAGE
        })?;
        let mut req = self
            .http
            .request(r.method.clone(), url.clone())
            .bearer_auth(&self.token);
        if let Some(b) = &r.body {
            req = req.json(b);
        }
        if let Some((content_type, bytes)) = &r.raw {
            req = req
                .header(reqwest::header::CONTENT_TYPE, *content_type)
                .body(bytes.clone());
        }
        let unreachable = |e: reqwest::Error| {
            eprintln!("the api at {} did not answer: {e}", self.base);
            exit::UNREACHABLE
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let text = resp.text().await.map_err(unreachable)?;
        Ok((status, text))
    }
}
