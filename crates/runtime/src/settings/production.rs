//! What a start refuses, each process for the settings it uses ([`Process`]: the worker never
//! needs the api's token keys, the api never the media key or the credentials keys). In every
//! environment: a secret it needs left empty (`config/default.toml` has none; local runs name
//! `MIGRATOR_ENV=development`), app and operator tokens verified with the same key material.
//! In production: development values, weak or missing token checks, the broker's guest
//! account. Unless the development profile is named: development values served on a listener
//! that is not loopback (their keys are in the repository: anyone could mint operator tokens).
//! The api and the worker call [`refuse_or_exit`] before anything else and exit 78 with one
//! line per offending key.

use super::Settings;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

/// The marker of every development value in `config/default.toml`.
const DEV_MARKER: &str = "dev-only";

fn is_dev(v: &str) -> bool {
    v.to_ascii_lowercase().contains(DEV_MARKER)
}

/// A base64 key whose bytes are a development key (the default one spells `dev-only-…`).
fn is_dev_key(b64: &str) -> bool {
    is_dev(b64)
        || base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map(|k| is_dev(&String::from_utf8_lossy(&k)))
            .unwrap_or(false)
}

/// Whether `listen` (`host:port`) binds loopback only (`127.0.0.0/8`, `::1`, `localhost`).
pub fn is_loopback(listen: &str) -> bool {
    let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The byte strings a token verifier's key is made of: an HS256 secret; an RS256 public key's
/// PEM text and its DER body. Two verifiers sharing any of them share key material.
fn key_material(alg: &str, secret: &SecretString, pem: &str) -> Vec<Vec<u8>> {
    if alg.eq_ignore_ascii_case("RS256") {
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        let mut out = vec![pem.trim().as_bytes().to_vec()];
        out.extend(base64::engine::general_purpose::STANDARD.decode(body).ok());
        out
    } else {
        vec![secret.expose_secret().as_bytes().to_vec()]
    }
}

/// The process a start check is for: each checks only the settings it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// `migrator-api`: the app's and operators' tokens, the database, the broker, the
    /// Conversations REST token (eligibility), DynamoDB through STS (preflight).
    Api,
    /// `migrator-worker`: the database, the broker, the credentials keys, the Conversations
    /// REST token, the media signing key, DynamoDB through STS.
    Worker,
}

impl Settings {
    /// Whether this is a production start (`MIGRATOR_ENV=production`).
    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }

    /// Whether the development profile is named (`MIGRATOR_ENV=development`).
    pub fn is_development(&self) -> bool {
        self.environment == "development"
    }

    /// The listeners (setting, address) that are not loopback.
    pub fn public_listeners(&self) -> Vec<(&'static str, &str)> {
        [
            ("api.listen", self.api.listen.as_str()),
            ("api.admin_listen", self.api.admin_listen.as_str()),
            ("worker.listen", self.worker.listen.as_str()),
        ]
        .into_iter()
        .filter(|(_, l)| !l.trim().is_empty() && !is_loopback(l.trim()))
        .collect()
    }

    /// Whether app and operator tokens are verified with shared key material, under any pair
    /// of algorithms: a leaked app signing key would then mint operators.
    pub fn token_keys_shared(&self) -> bool {
        let a = &self.api;
        let app = key_material(&a.jwt_algorithm, &a.jwt_secret, &a.jwt_public_key_pem);
        let admin = key_material(
            &a.admin_jwt_algorithm,
            &a.admin_jwt_secret,
            &a.admin_jwt_public_key_pem,
        );
        app.iter().any(|k| !k.is_empty() && admin.contains(k))
    }

    /// Development values in force among those `p` reads, one line per key.
    fn development_values(&self, p: Process) -> Vec<String> {
        let mut out = Vec::new();
        let mut dev = |key: &str, v: &str| {
            if is_dev(v) {
                out.push(format!("{key}: a DEV-ONLY development value is in force"));
            }
        };
        let a = &self.api;
        if p == Process::Api {
            dev("api.jwt_secret", a.jwt_secret.expose_secret());
            dev("api.admin_jwt_secret", a.admin_jwt_secret.expose_secret());
        }
        dev(
            "conversations.token",
            self.conversations.token.expose_secret(),
        );
        if p == Process::Worker {
            dev(
                "media.signing_key_path",
                &self.media.signing_key_path.to_string_lossy(),
            );
        }
        dev("sts.access_key_id", &self.sts.access_key_id);
        dev(
            "sts.secret_access_key",
            self.sts.secret_access_key.expose_secret(),
        );
        let s3 = &self.blobs.s3;
        dev("blobs.s3.access_key_id", &s3.access_key_id);
        dev(
            "blobs.s3.secret_access_key",
            s3.secret_access_key.expose_secret(),
        );
        if p == Process::Worker {
            for (id, key) in &self.crypto.credentials_keys {
                if is_dev(id) || is_dev_key(key.expose_secret()) {
                    out.push(format!(
                        "crypto.credentials_keys.{id}: a DEV-ONLY development key is in force"
                    ));
                }
            }
        }
        out
    }

    /// Secrets `p` needs that are empty, one line per key (every environment: a start without
    /// a profile has none, `config/default.toml` holds no secret).
    fn missing_values(&self, p: Process) -> Vec<String> {
        let hint = if self.is_production() {
            "set it from the secret store"
        } else {
            "local runs name the development profile: MIGRATOR_ENV=development"
        };
        let mut out = Vec::new();
        let mut need = |key: &str, empty: bool| {
            if empty {
                out.push(format!("{key}: must be set ({hint})"));
            }
        };
        let a = &self.api;
        need(
            "conversations.token",
            self.conversations.token.expose_secret().is_empty(),
        );
        match p {
            Process::Api => {
                for (prefix, alg, secret, pem) in [
                    (
                        "api.jwt",
                        &a.jwt_algorithm,
                        &a.jwt_secret,
                        &a.jwt_public_key_pem,
                    ),
                    (
                        "api.admin_jwt",
                        &a.admin_jwt_algorithm,
                        &a.admin_jwt_secret,
                        &a.admin_jwt_public_key_pem,
                    ),
                ] {
                    if alg.eq_ignore_ascii_case("RS256") {
                        need(&format!("{prefix}_public_key_pem"), pem.trim().is_empty());
                    } else {
                        need(
                            &format!("{prefix}_secret"),
                            secret.expose_secret().is_empty(),
                        );
                    }
                }
            }
            Process::Worker => {
                let c = &self.crypto;
                need("crypto.credentials_keys", c.credentials_keys.is_empty());
                need(
                    "media.signing_key_path",
                    self.media.signing_key_path.as_os_str().is_empty(),
                );
                if !c.credentials_keys.is_empty() && !c.credentials_keys.contains_key(&c.active_key)
                {
                    out.push(format!(
                        "crypto.active_key: {:?} names no key of crypto.credentials_keys",
                        c.active_key
                    ));
                }
            }
        }
        out
    }

    /// Everything that makes these settings unsafe for `p` in production, one line per
    /// offending key (empty: safe). Checked whatever the environment; enforced by
    /// [`Settings::refuse_unsafe`].
    pub fn production_problems(&self, p: Process) -> Vec<String> {
        let a = &self.api;
        let mut out = self.missing_values(p);
        out.extend(self.development_values(p));
        if p == Process::Api {
            for (prefix, alg, secret, issuer, audience) in [
                (
                    "api.jwt",
                    &a.jwt_algorithm,
                    &a.jwt_secret,
                    &a.jwt_issuer,
                    &a.jwt_audience,
                ),
                (
                    "api.admin_jwt",
                    &a.admin_jwt_algorithm,
                    &a.admin_jwt_secret,
                    &a.admin_jwt_issuer,
                    &a.admin_jwt_audience,
                ),
            ] {
                out.extend(weak_jwt(prefix, alg, secret, issuer, audience));
            }
            if self.token_keys_shared() {
                out.push(SHARED_KEYS.into());
            }
            if self.api.admin_listen.trim().is_empty() {
                out.push(
                    "api.admin_listen: must be set (empty serves /admin/* and /metrics on the \
                     public listener)"
                        .into(),
                );
            }
            out.extend(self.console.production_problems());
        }
        if p == Process::Worker && self.media.allowed_origins.is_empty() {
            out.push(
                "media.allowed_origins: must name the media service's origins (or URL \
                 prefixes): our cert JWT goes to them"
                    .into(),
            );
        }
        if self.amqp.url.as_str().contains("guest:guest@") {
            out.push("amqp.url: the broker's default guest account is in force".into());
        }
        out.dedup();
        out
    }

    /// What a start of `p` refuses (`Err`: one line per offending key): in production, every
    /// [`Settings::production_problems`]; elsewhere a secret it needs left empty, and unless
    /// the development profile is named, development values while a listener is not
    /// loopback; anywhere, app and operator tokens sharing key material.
    pub fn refuse_unsafe(&self, p: Process) -> Result<(), String> {
        let mut problems = if self.is_production() {
            self.production_problems(p)
        } else {
            let mut out = self.missing_values(p);
            let public = self.public_listeners();
            if !self.is_development() && !public.is_empty() {
                let on: Vec<String> = public.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                out.extend(self.development_values(p).into_iter().map(|l| {
                    format!(
                        "{l}, served on a listener that is not loopback ({}): name the \
                         development profile (MIGRATOR_ENV=development) or listen on loopback",
                        on.join(", ")
                    )
                }));
            }
            if p == Process::Api && self.token_keys_shared() {
                out.push(SHARED_KEYS.into());
            }
            out
        };
        problems.extend(self.blob_problems());
        match problems.is_empty() {
            true => Ok(()),
            false => Err(problems.join("\n")),
        }
    }
}

impl Settings {
    /// Attachment storage settings that cannot work, one line per key (every environment).
    fn blob_problems(&self) -> Vec<String> {
        use super::{BlobBackend, BlobServe};
        let b = &self.blobs;
        let mut out = Vec::new();
        if b.backend == BlobBackend::S3 {
            if b.s3.bucket.trim().is_empty() {
                out.push("blobs.s3.bucket: must be set when blobs.backend is s3".into());
            }
            if !(5 << 20..=64 << 20).contains(&b.s3.part_size_bytes) {
                out.push("blobs.s3.part_size_bytes: 5 MiB to 64 MiB (5242880 to 67108864)".into());
            }
            // a prefix of our own: the sweep of abandoned uploads looks under it alone
            if b.s3.prefix.trim_matches('/').is_empty()
                || b.s3
                    .prefix
                    .trim_matches('/')
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..")
            {
                out.push("blobs.s3.prefix: one or more segments, none empty, '.' or '..'".into());
            }
            if b.s3.region.trim().is_empty() {
                out.push("blobs.s3.region: must be set".into());
            }
            let (id, secret) = (&b.s3.access_key_id, b.s3.secret_access_key.expose_secret());
            if id.is_empty() != secret.is_empty() {
                out.push(
                    "blobs.s3.access_key_id and blobs.s3.secret_access_key: both or neither".into(),
                );
            }
            if self.is_production() && !id.is_empty() {
                out.push(
                    "blobs.s3.access_key_id: production takes the pod's role (IRSA), not static \
                     keys"
                        .into(),
                );
            }
        }
        if b.serve == BlobServe::Presigned && b.backend != BlobBackend::S3 {
            out.push("blobs.serve: presigned needs blobs.backend = s3".into());
        }
        if !(1..=600).contains(&b.presign_secs) {
            out.push("blobs.presign_secs: 1 to 600".into());
        }
        out
    }
}

/// The line for app and operator tokens verified with the same key material.
const SHARED_KEYS: &str = "api.admin_jwt_secret: app and operator tokens must not share key \
     material (api.jwt_* and api.admin_jwt_*, whatever their algorithms)";

/// A token check that would accept too much: a short HS256 secret, no issuer or audience.
fn weak_jwt(
    prefix: &str,
    alg: &str,
    secret: &SecretString,
    issuer: &str,
    audience: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let len = secret.expose_secret().len();
    // an empty one is named by `missing_values`
    if alg.eq_ignore_ascii_case("HS256") && len > 0 && len < 32 {
        out.push(format!(
            "{prefix}_secret: an HS256 secret needs at least 32 bytes"
        ));
    }
    if issuer.is_empty() {
        out.push(format!("{prefix}_issuer: must be set"));
    }
    if audience.is_empty() {
        out.push(format!("{prefix}_audience: must be set"));
    }
    out
}

/// At a binary's start: settings [`Settings::refuse_unsafe`] refuses for `p` end the process with one
/// line per offending key on stderr and exit status 78 (`EX_CONFIG`).
pub fn refuse_or_exit(s: &Settings, p: Process) {
    if let Err(lines) = s.refuse_unsafe(p) {
        let why = if s.is_production() {
            "refusing to start in production"
        } else {
            "refusing to start"
        };
        for l in lines.lines() {
            eprintln!("{why}: {l}");
        }
        std::process::exit(78);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> &'static std::path::Path {
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config"))
    }

    /// The development profile: every development value in force.
    fn defaults() -> Settings {
        let _env = super::super::env_lock();
        Settings::development(dir()).expect("config/development.toml")
    }

    #[test]
    fn the_development_values_are_refused_in_production_key_by_key_for_the_process_that_reads_them()
    {
        let mut s = defaults();
        for p in [Process::Api, Process::Worker] {
            assert!(s.refuse_unsafe(p).is_ok(), "development may run on them");
        }
        s.environment = "production".into();
        let api = s.refuse_unsafe(Process::Api).unwrap_err();
        let worker = s.refuse_unsafe(Process::Worker).unwrap_err();
        for key in [
            "api.jwt_secret",
            "api.admin_jwt_secret",
            "api.jwt_issuer",
            "api.jwt_audience",
            "api.admin_jwt_issuer",
            "conversations.token",
            "sts.access_key_id",
            "sts.secret_access_key",
            "blobs.s3.access_key_id",
            "blobs.s3.secret_access_key",
            "amqp.url",
        ] {
            assert!(api.contains(key), "the api names {key}:\n{api}");
        }
        for key in [
            "conversations.token",
            "media.signing_key_path",
            "sts.access_key_id",
            "sts.secret_access_key",
            "blobs.s3.access_key_id",
            "blobs.s3.secret_access_key",
            "crypto.credentials_keys.",
            "amqp.url",
        ] {
            assert!(worker.contains(key), "the worker names {key}:\n{worker}");
        }
        assert!(
            !worker.contains("api."),
            "the worker never needs the api's: {worker}"
        );
        assert!(
            !api.contains("media.") && !api.contains("crypto."),
            "the api never needs the media key or the credentials keys: {api}"
        );
    }

    #[test]
    fn object_storage_settings_that_cannot_work_are_refused_key_by_key() {
        use crate::settings::{BlobBackend, BlobServe};
        let mut s = defaults();
        s.blobs.serve = BlobServe::Presigned;
        let e = s.refuse_unsafe(Process::Worker).unwrap_err();
        assert!(
            e.contains("blobs.serve: presigned needs blobs.backend = s3"),
            "{e}"
        );
        s.blobs.backend = BlobBackend::S3;
        s.blobs.s3.bucket = String::new();
        s.blobs.s3.prefix = "a//b".into();
        s.blobs.s3.part_size_bytes = 1 << 20;
        s.blobs.s3.secret_access_key = String::new().into();
        s.blobs.presign_secs = 0;
        let e = s.refuse_unsafe(Process::Api).unwrap_err();
        for key in [
            "blobs.s3.bucket",
            "blobs.s3.prefix",
            "blobs.s3.part_size_bytes",
            "blobs.s3.access_key_id and blobs.s3.secret_access_key",
            "blobs.presign_secs",
        ] {
            assert!(e.contains(key), "{key}:\n{e}");
        }
        assert!(!e.contains("blobs.serve"), "{e}");
        s.blobs.s3.bucket = "attachments".into();
        s.blobs.s3.prefix = "attachments".into();
        s.blobs.s3.part_size_bytes = 8 << 20;
        s.blobs.s3.access_key_id = String::new();
        s.blobs.presign_secs = 60;
        assert_eq!(s.refuse_unsafe(Process::Worker), Ok(()));
    }

    #[test]
    fn a_start_without_a_profile_names_every_secret_it_needs() {
        let s = {
            let _env = super::super::env_lock();
            Settings::load_profile(dir(), None).unwrap()
        };
        let api = s.refuse_unsafe(Process::Api).unwrap_err();
        let worker = s.refuse_unsafe(Process::Worker).unwrap_err();
        for key in [
            "api.jwt_secret",
            "api.admin_jwt_secret",
            "conversations.token",
        ] {
            assert!(api.contains(&format!("{key}: must be set")), "{api}");
        }
        for key in [
            "crypto.credentials_keys",
            "media.signing_key_path",
            "conversations.token",
        ] {
            assert!(worker.contains(&format!("{key}: must be set")), "{worker}");
        }
        assert!(api.contains("MIGRATOR_ENV=development"), "says how: {api}");
    }

    #[test]
    fn production_values_pass_and_short_or_shared_secrets_do_not() {
        let mut s = defaults();
        s.environment = "production".into();
        s.api.jwt_secret = "a".repeat(40).into();
        s.api.admin_jwt_secret = "b".repeat(40).into();
        s.api.jwt_issuer = "godaddy-sso".into();
        s.api.jwt_audience = "reamaze-app".into();
        s.api.admin_jwt_issuer = "ops-sso".into();
        s.api.admin_jwt_audience = "reamaze-migrator-admin".into();
        s.conversations.token = "svc-token-from-the-secret-store".to_string().into();
        s.media.signing_key_path = "/run/secrets/media-signing.pem".into();
        s.sts.access_key_id = String::new();
        s.sts.secret_access_key = String::new().into();
        s.blobs.s3.access_key_id = String::new();
        s.blobs.s3.secret_access_key = String::new().into();
        s.amqp.url = "amqp://migrator:s3cret@rabbit:5672/%2f".to_string().into();
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        s.crypto.credentials_keys = [("k2026".to_string(), key.into())].into();
        s.crypto.active_key = "k2026".into();
        s.api.admin_listen = "0.0.0.0:9090".into();
        s.media.allowed_origins = vec!["https://media.example.com".into()];
        assert_eq!(s.refuse_unsafe(Process::Api), Ok(()));
        assert_eq!(s.refuse_unsafe(Process::Worker), Ok(()));
        // the security review's: no separate admin listener, media from anywhere, a proxy
        // header believed from anyone or without the operator role
        let mut unsafe_ = s.clone();
        unsafe_.api.admin_listen = String::new();
        unsafe_.media.allowed_origins.clear();
        unsafe_.console.trusted_header = "X-Forwarded-Email".into();
        let api = unsafe_.refuse_unsafe(Process::Api).unwrap_err();
        for key in [
            "api.admin_listen",
            "console.trusted_proxies",
            "console.trusted_role_header",
        ] {
            assert!(api.contains(key), "{key}: {api}");
        }
        assert!(unsafe_
            .refuse_unsafe(Process::Worker)
            .unwrap_err()
            .contains("media.allowed_origins"));
        unsafe_.console.trusted_proxies = vec!["10.0.0.0/8".into()];
        unsafe_.console.trusted_role_header = "X-Forwarded-Groups".into();
        assert!(!unsafe_
            .refuse_unsafe(Process::Api)
            .unwrap_err()
            .contains("console."));
        unsafe_.console.trusted_proxies = vec!["not an address".into()];
        assert!(unsafe_
            .refuse_unsafe(Process::Api)
            .unwrap_err()
            .contains("is not an address or CIDR"));
        s.api.jwt_secret = "short".to_string().into();
        assert!(s
            .refuse_unsafe(Process::Api)
            .unwrap_err()
            .contains("at least 32 bytes"));
        s.api.jwt_secret = s.api.admin_jwt_secret.clone();
        assert!(s
            .refuse_unsafe(Process::Api)
            .unwrap_err()
            .contains("share key material"));
        // the worker reads no token key: neither is its business
        assert_eq!(s.refuse_unsafe(Process::Worker), Ok(()));
        s.api.jwt_secret = String::new().into();
        s.api.admin_jwt_secret = String::new().into();
        assert_eq!(s.refuse_unsafe(Process::Worker), Ok(()));
    }

    #[test]
    fn development_values_on_a_public_listener_need_the_development_profile_named() {
        let mut s = defaults();
        // development values with no profile named (set by hand, say)
        s.environment.clear();
        assert_eq!(s.refuse_unsafe(Process::Api), Ok(()), "loopback listeners");
        s.api.listen = "0.0.0.0:8080".into();
        let err = s.refuse_unsafe(Process::Api).unwrap_err();
        for key in [
            "api.jwt_secret",
            "api.admin_jwt_secret",
            "conversations.token",
        ] {
            assert!(
                err.contains(key) && err.contains("api.listen = 0.0.0.0:8080"),
                "{err}"
            );
        }
        s.environment = "development".into();
        assert_eq!(s.refuse_unsafe(Process::Api), Ok(()), "named explicitly");
        s.environment.clear();
        s.api.listen = "[::1]:8080".into();
        s.worker.listen = "localhost:9091".into();
        s.api.admin_listen = "127.0.0.2:9090".into();
        assert_eq!(s.refuse_unsafe(Process::Worker), Ok(()));
        s.worker.listen = "10.0.0.7:9091".into();
        assert!(s
            .refuse_unsafe(Process::Worker)
            .unwrap_err()
            .contains("worker.listen = 10.0.0.7:9091"));
        assert!(!is_loopback("0.0.0.0:1") && !is_loopback("example.com:80"));
    }

    #[test]
    fn app_and_operator_tokens_never_share_key_material_under_any_algorithm() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/dev-keys/");
        let pem =
            std::fs::read_to_string(format!("{dir}DEV-ONLY-media-signing-public.pem")).unwrap();
        let mut s = defaults();
        assert!(!s.token_keys_shared());
        // two RS256 verifiers with one public key, the second wrapped differently
        s.api.jwt_algorithm = "RS256".into();
        s.api.jwt_public_key_pem = pem.clone();
        s.api.admin_jwt_algorithm = "RS256".into();
        s.api.admin_jwt_public_key_pem = pem.replace('\n', "\r\n");
        assert!(s.token_keys_shared());
        assert!(s
            .refuse_unsafe(Process::Api)
            .unwrap_err()
            .contains("share key material"));
        // an operator HS256 secret that is the app's public key
        s.api.admin_jwt_algorithm = "HS256".into();
        s.api.admin_jwt_secret = pem.trim().to_string().into();
        assert!(s.token_keys_shared());
        s.api.admin_jwt_secret = "x".repeat(40).into();
        assert!(!s.token_keys_shared());
    }

    #[test]
    fn redaction_masks_every_secret_a_url_can_carry() {
        let r = |u: &str| super::super::ConnUrl::from(u.to_string()).redacted();
        assert_eq!(r("postgres://app:pw@db/m"), "postgres://app:***@db/m");
        assert_eq!(
            r("amqp://tok3n@rabbit:5672/%2f"),
            "amqp://***@rabbit:5672/%2f"
        );
        assert_eq!(
            r("postgres://db/m?sslmode=require&password=pw&api_key=k"),
            "postgres://db/m?sslmode=require&password=***&api_key=***"
        );
        assert_eq!(r("postgres://db:5432/m"), "postgres://db:5432/m");
    }

    #[test]
    fn debug_output_never_shows_a_password() {
        let mut s = defaults();
        s.database.url = "postgres://app:pg-s3cret@db:5432/m".to_string().into();
        s.amqp.url = "amqp://migrator:mq-s3cret@rabbit:5672/%2f"
            .to_string()
            .into();
        let text = format!("{s:?}");
        assert!(
            !text.contains("pg-s3cret") && !text.contains("mq-s3cret"),
            "{text}"
        );
        assert!(text.contains("postgres://app:***@db:5432/m"), "{text}");
        assert!(!text.contains(s.api.jwt_secret.expose_secret()));
    }
}
