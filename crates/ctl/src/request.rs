//! An admin request as data — method, path segments, query pairs, body — and its URL built
//! with the `url` crate on the configured base (which may carry a path prefix): every segment
//! and value percent-encoded by the library, never by hand.

use reqwest::Method;
use serde_json::Value;

/// One admin request.
#[derive(Debug, Clone)]
pub struct Request {
    /// GET, POST or PATCH.
    pub method: Method,
    /// Path segments after the base (`["admin", "accounts", shopper, "retry"]`).
    pub segments: Vec<String>,
    /// Query pairs, in order.
    pub query: Vec<(String, String)>,
    /// A JSON body.
    pub body: Option<Value>,
    /// Or a body of another type: (content type, bytes).
    pub raw: Option<(&'static str, Vec<u8>)>,
}

impl Request {
    fn new(method: Method, segments: &[&str]) -> Self {
        Self {
            method,
            segments: segments.iter().map(|s| s.to_string()).collect(),
            query: Vec::new(),
            body: None,
            raw: None,
        }
    }

    /// `GET /segments…`.
    pub fn get(segments: &[&str]) -> Self {
        Self::new(Method::GET, segments)
    }

    /// `POST /segments…`.
    pub fn post(segments: &[&str]) -> Self {
        Self::new(Method::POST, segments)
    }

    /// With `key=value` added to the query (nothing when `value` is `None`).
    pub fn param(mut self, key: &str, value: Option<impl ToString>) -> Self {
        if let Some(v) = value {
            self.query.push((key.into(), v.to_string()));
        }
        self
    }

    /// `PATCH /segments…`.
    pub fn patch(segments: &[&str]) -> Self {
        Self::new(Method::PATCH, segments)
    }

    /// With a body of `content_type`.
    pub fn raw(mut self, content_type: &'static str, body: Vec<u8>) -> Self {
        self.raw = Some((content_type, body));
        self
    }

    /// With a JSON body.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// The request's URL under `base` (`http://host:port`, or with a path prefix).
    pub fn url(&self, base: &url::Url) -> anyhow::Result<url::Url> {
        let mut u = base.clone();
        u.path_segments_mut()
            .map_err(|_| anyhow::anyhow!("{base} cannot be a base URL"))?
            .pop_if_empty()
            .extend(&self.segments);
        if !self.query.is_empty() {
            u.query_pairs_mut().extend_pairs(&self.query);
        }
        Ok(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_values_are_encoded_by_the_url_crate() {
        let base = url::Url::parse("http://api:9090/ops/").unwrap();
        let r = Request::get(&["admin", "accounts", "a/../b c", "migration"])
            .param("error", Some("HTTP 503 & more"))
            .param("page", None::<u32>);
        assert_eq!(
            r.url(&base).unwrap().as_str(),
            "http://api:9090/ops/admin/accounts/a%2F..%2Fb%20c/migration?error=HTTP+503+%26+more"
        );
        let plain = url::Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            Request::post(&["admin", "fleet", "pause"])
                .url(&plain)
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/admin/fleet/pause"
        );
    }
}
