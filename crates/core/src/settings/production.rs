//! What a production start refuses: development values still in force, weak or missing token
//! checks. The api and the worker call [`Settings::refuse_unsafe`] before anything else and exit
//! non-zero with one line per offending key.

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

impl Settings {
    /// Whether this is a production start (`MIGRATOR_ENV=production`).
    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }

    /// Everything that makes these settings unsafe for production, one line per offending key
    /// (empty: safe). Checked whatever the environment; enforced by [`Settings::refuse_unsafe`].
    pub fn production_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut dev = |key: &str, v: &str| {
            if is_dev(v) {
                out.push(format!("{key}: a DEV-ONLY development value is in force"));
            }
        };
        let a = &self.api;
        dev("api.jwt_secret", a.jwt_secret.expose_secret());
        dev("api.admin_jwt_secret", a.admin_jwt_secret.expose_secret());
        dev(
            "conversations.token",
            self.conversations.token.expose_secret(),
        );
        dev(
            "media.signing_key_path",
            &self.media.signing_key_path.to_string_lossy(),
        );
        dev("sts.access_key_id", &self.sts.access_key_id);
        dev(
            "sts.secret_access_key",
            self.sts.secret_access_key.expose_secret(),
        );
        for (id, key) in &self.crypto.credentials_keys {
            if is_dev(id) || is_dev_key(key.expose_secret()) {
                out.push(format!(
                    "crypto.credentials_keys.{id}: a DEV-ONLY development key is in force"
                ));
            }
        }
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
        if a.jwt_secret.expose_secret() == a.admin_jwt_secret.expose_secret()
            && a.jwt_algorithm.eq_ignore_ascii_case("HS256")
            && a.admin_jwt_algorithm.eq_ignore_ascii_case("HS256")
        {
            out.push("api.admin_jwt_secret: must differ from api.jwt_secret".into());
        }
        if self.amqp.url.as_str().contains("guest:guest@") {
            out.push("amqp.url: the broker's default guest account is in force".into());
        }
        out
    }

    /// In production, refuses settings with development values: `Err` holds one line per
    /// offending key. Outside production, always `Ok`.
    pub fn refuse_unsafe(&self) -> Result<(), String> {
        let problems = self.production_problems();
        if !self.is_production() || problems.is_empty() {
            return Ok(());
        }
        Err(problems.join("\n"))
    }
}

/// A token check that would accept too much: a short HS256 secret, no issuer or audience.
fn weak_jwt(
    prefix: &str,
    alg: &str,
    secret: &SecretString,
    issuer: &str,
    audience: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    if alg.eq_ignore_ascii_case("HS256") && secret.expose_secret().len() < 32 {
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

/// At a binary's start: in production, settings with development values end the process with
/// one line per offending key on stderr and exit status 78 (`EX_CONFIG`).
pub fn refuse_or_exit(s: &Settings) {
    if let Err(lines) = s.refuse_unsafe() {
        for l in lines.lines() {
            eprintln!("refusing to start in production: {l}");
        }
        std::process::exit(78);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Settings {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");
        Settings::load_from(std::path::Path::new(dir)).expect("config/default.toml")
    }

    #[test]
    fn the_development_defaults_are_refused_in_production_key_by_key() {
        let mut s = defaults();
        assert!(s.refuse_unsafe().is_ok(), "development may run on them");
        s.environment = "production".into();
        let err = s.refuse_unsafe().unwrap_err();
        for key in [
            "api.jwt_secret",
            "api.admin_jwt_secret",
            "conversations.token",
            "media.signing_key_path",
            "sts.access_key_id",
            "sts.secret_access_key",
            "crypto.credentials_keys.",
            "api.jwt_issuer",
            "api.jwt_audience",
            "api.admin_jwt_issuer",
            "amqp.url",
        ] {
            assert!(err.contains(key), "{key} named in:\n{err}");
        }
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
        s.amqp.url = "amqp://migrator:s3cret@rabbit:5672/%2f".to_string().into();
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        s.crypto.credentials_keys = [("k2026".to_string(), key.into())].into();
        s.crypto.active_key = "k2026".into();
        assert_eq!(s.refuse_unsafe(), Ok(()));
        s.api.jwt_secret = "short".to_string().into();
        assert!(s.refuse_unsafe().unwrap_err().contains("at least 32 bytes"));
        s.api.jwt_secret = s.api.admin_jwt_secret.clone();
        assert!(s.refuse_unsafe().unwrap_err().contains("must differ"));
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
