//! The operators' console (spec/api.md, Operator console): served on `api.admin_listen` only.

use serde::{Deserialize, Serialize};

/// Sign-in and sessions of the console.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ConsoleSettings {
    /// Serve `/console/` on the admin listener (never on the app's; with one listener, the
    /// console is not served).
    pub enabled: bool,
    /// A session ends this long after its last request, in seconds.
    pub idle_timeout_secs: u64,
    /// A session ends this long after its sign-in whatever its use, in seconds.
    pub max_session_secs: u64,
    /// The header an identity proxy in front of the admin listener sets to the signed-in
    /// operator (e.g. `X-Forwarded-Email`); empty: operators sign in with an operator token.
    /// Set it only when every request reaches the listener through that proxy, which must
    /// strip the header from what clients send.
    #[serde(default)]
    pub trusted_header: String,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            idle_timeout_secs: 1800,
            max_session_secs: 43_200,
            trusted_header: String::new(),
        }
    }
}
