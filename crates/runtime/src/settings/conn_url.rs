//! Connection URLs whose secrets never show in logs or `Debug` output.

use serde::{Deserialize, Serialize};

/// A connection URL (`postgres://user:password@host/db`, `amqp://…`) whose password never
/// shows in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct ConnUrl(String);

impl ConnUrl {
    /// The URL, password included: for the driver only.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL with its secrets masked: the password of its user-info (all of a user-info
    /// without one, which may be a token), and the value of every query parameter whose name
    /// says it holds a secret (`password`, `passwd`, `pwd`, `secret`, `token`, `key`, …).
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

/// Query parameter names (lower case) whose values are secrets, matched as substrings.
const SECRET_PARAMS: [&str; 6] = ["pass", "pwd", "secret", "token", "key", "auth"];

/// See [`ConnUrl::redacted`].
fn redact_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let head = match (head.find("://"), head.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &head[scheme + 3..at];
            let user = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_string(),
            };
            format!("{}{user}{}", &head[..scheme + 3], &head[at..])
        }
        _ => head.to_string(),
    };
    let Some(query) = query else {
        return head;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _))
                if SECRET_PARAMS
                    .iter()
                    .any(|s| k.to_ascii_lowercase().contains(s)) =>
            {
                format!("{k}=***")
            }
            _ => kv.to_string(),
        })
        .collect();
    format!("{head}?{}", query.join("&"))
}

impl From<String> for ConnUrl {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl std::fmt::Debug for ConnUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}
