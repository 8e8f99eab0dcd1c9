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
    /// Honoured only on connections from `trusted_proxies`, and only with the operator role in
    /// `trusted_role_header`.
    #[serde(default)]
    pub trusted_header: String,
    /// Addresses or CIDR blocks of the identity proxy (the connection's peer, never a header):
    /// the header is ignored on every other connection. In the environment: comma-separated.
    #[serde(default, deserialize_with = "super::list_or_commas")]
    pub trusted_proxies: Vec<String>,
    /// The header the proxy sets to the signed-in person's roles or groups (comma- or
    /// space-separated, e.g. `X-Forwarded-Groups`): `operator_role` must be among them.
    #[serde(default)]
    pub trusted_role_header: String,
    /// The role a proxy-signed person needs to become an operator.
    #[serde(default = "default_operator_role")]
    pub operator_role: String,
}

fn default_operator_role() -> String {
    "migrator-operator".into()
}

impl ConsoleSettings {
    /// The proxy addresses, parsed (an address is a /32 or /128 block); the bad entries named.
    pub fn proxies(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!("console.trusted_proxies: {p:?} is not an address or CIDR")
                    })
            })
            .collect()
    }

    /// What makes the proxy sign-in unsafe in production: a header believed from anyone, or
    /// without the operator role (one line per setting).
    pub fn production_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.trusted_header.trim().is_empty() {
            return out;
        }
        match self.proxies() {
            Ok(p) if p.is_empty() => out.push(
                "console.trusted_proxies: must name the identity proxy's addresses when \
                 console.trusted_header is set (otherwise any client that reaches the admin \
                 listener can forge it)"
                    .into(),
            ),
            Ok(_) => {}
            Err(e) => out.push(e),
        }
        if self.trusted_role_header.trim().is_empty() || self.operator_role.trim().is_empty() {
            out.push(
                "console.trusted_role_header: must be set (with console.operator_role) when \
                 console.trusted_header is set: the proxy asserts the operator role"
                    .into(),
            );
        }
        out
    }
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            idle_timeout_secs: 1800,
            max_session_secs: 43_200,
            trusted_header: String::new(),
            trusted_proxies: Vec::new(),
            trusted_role_header: String::new(),
            operator_role: default_operator_role(),
        }
    }
}
