//! JWT verification, two verifiers that share nothing: app tokens (`sub` = the C1's shopper
//! id; `api.jwt_*`) and operator tokens (`role = admin`; `api.admin_jwt_*`, their own key and
//! audience), so a leaked app signing key cannot mint operators. HS256 with a secret or RS256
//! with a public key; `iss`/`aud` required when configured; `exp` required and `nbf` honoured,
//! with no leeway.

use actix_web::HttpRequest;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use migrator_runtime::settings::ApiSettings;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// How one kind of token is checked.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    role: Option<String>,
    /// Required by the validation (seconds since the epoch).
    #[serde(default)]
    exp: u64,
}

/// A token checked: who, whether it claims the admin role, and when it expires.
#[derive(Debug, Clone)]
pub struct Verified {
    /// `sub`.
    pub sub: String,
    /// `role` is `admin`.
    pub admin: bool,
    /// `exp`, seconds since the epoch.
    pub exp: u64,
}

/// The settings of one verifier.
struct JwtConfig<'a> {
    algorithm: &'a str,
    secret: &'a SecretString,
    public_key_pem: &'a str,
    issuer: &'a str,
    audience: &'a str,
}

impl JwtVerifier {
    /// The verifier of app tokens.
    pub fn app(s: &ApiSettings) -> anyhow::Result<Self> {
        Self::new(JwtConfig {
            algorithm: &s.jwt_algorithm,
            secret: &s.jwt_secret,
            public_key_pem: &s.jwt_public_key_pem,
            issuer: &s.jwt_issuer,
            audience: &s.jwt_audience,
        })
    }

    /// The verifier of operator tokens.
    pub fn admin(s: &ApiSettings) -> anyhow::Result<Self> {
        Self::new(JwtConfig {
            algorithm: &s.admin_jwt_algorithm,
            secret: &s.admin_jwt_secret,
            public_key_pem: &s.admin_jwt_public_key_pem,
            issuer: &s.admin_jwt_issuer,
            audience: &s.admin_jwt_audience,
        })
    }

    fn new(c: JwtConfig<'_>) -> anyhow::Result<Self> {
        let (alg, key) = match c.algorithm.to_ascii_uppercase().as_str() {
            "HS256" => (
                Algorithm::HS256,
                DecodingKey::from_secret(c.secret.expose_secret().as_bytes())?,
            ),
            "RS256" => (
                Algorithm::RS256,
                DecodingKey::from_rsa_pem(c.public_key_pem.as_bytes())?,
            ),
            other => anyhow::bail!("JWT algorithm {other:?} is not HS256 or RS256"),
        };
        let mut validation = Validation::new(alg);
        validation.leeway = 0;
        // a token not valid yet is refused like an expired one
        validation.validate_nbf = true;
        // a configured iss/aud is required to be present, not only checked when present
        let mut required = vec!["exp", "sub"];
        if !c.issuer.is_empty() {
            validation.set_issuer(&[c.issuer]);
            required.push("iss");
        }
        if c.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&[c.audience]);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        Ok(Self { key, validation })
    }

    /// The bearer token of the request, checked: its subject and whether it claims the admin
    /// role. The error says why, for the log only.
    pub fn verify(&self, req: &HttpRequest) -> Result<(String, bool), String> {
        let header = req
            .headers()
            .get("authorization")
            .ok_or("missing bearer token")?
            .to_str()
            .map_err(|_| "malformed authorization header")?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or("authorization must be a bearer token")?;
        let v = self.verify_token(token)?;
        Ok((v.sub, v.admin))
    }

    /// A token (without `Bearer `), checked as [`JwtVerifier::verify`] checks a header's (the
    /// console's sign-in form).
    pub fn verify_token(&self, token: &str) -> Result<Verified, String> {
        let data = jsonwebtoken::decode::<Claims>(token.trim(), &self.key, &self.validation)
            .map_err(|e| format!("invalid token: {e}"))?;
        Ok(Verified {
            admin: data.claims.role.as_deref() == Some("admin"),
            sub: data.claims.sub,
            exp: data.claims.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    fn settings(alg: &str) -> ApiSettings {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/dev-keys/");
        let pem =
            std::fs::read_to_string(format!("{dir}DEV-ONLY-media-signing-public.pem")).unwrap();
        ApiSettings {
            listen: "127.0.0.1:0".into(),
            admin_listen: String::new(),
            jwt_algorithm: alg.into(),
            jwt_secret: "s3cret".to_string().into(),
            jwt_public_key_pem: pem.clone(),
            jwt_issuer: "godaddy-sso".into(),
            jwt_audience: "reamaze-app".into(),
            admin_jwt_algorithm: alg.into(),
            admin_jwt_secret: "0p3rators".to_string().into(),
            admin_jwt_public_key_pem: pem,
            admin_jwt_issuer: "ops-sso".into(),
            admin_jwt_audience: "reamaze-migrator-admin".into(),
            eligibility_timeout_ms: 100,
            max_body_bytes: 1024,
            audit_retention_days: 365,
            preflight_max_counts: 10,
            preflight_max_secs: 1,
            app_requests_per_sec: 20,
            app_burst: 200,
            app_writes_per_min: 60,
            eligibility_every_secs: 10,
            import_max_accounts: 10,
            import_max_bytes: 1024,
        }
    }

    fn req(token: &str) -> HttpRequest {
        TestRequest::default()
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_http_request()
    }

    #[test]
    fn rs256_with_issuer_and_audience() {
        let v = JwtVerifier::app(&settings("RS256")).unwrap();
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/dev-keys/DEV-ONLY-media-signing-private.pem"
        ))
        .unwrap();
        let key = EncodingKey::from_rsa_pem(&pem).unwrap();
        let exp = chrono::Utc::now().timestamp() + 600;
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
        };
        let ok = sign(
            json!({"sub": "s1", "exp": exp, "iss": "godaddy-sso", "aud": "reamaze-app", "role": "admin"}),
        );
        let (who, admin) = v.verify(&req(&ok)).unwrap();
        assert_eq!((who.as_str(), admin), ("s1", true));
        for bad in [
            sign(json!({"sub": "s1", "exp": exp, "iss": "elsewhere", "aud": "reamaze-app"})),
            sign(json!({"sub": "s1", "exp": exp, "iss": "godaddy-sso", "aud": "other"})),
            sign(json!({"sub": "s1", "exp": exp})),
        ] {
            assert!(v.verify(&req(&bad)).is_err());
        }
        // an HS256 token signed with the public key text must not pass (algorithm confusion)
        let hs = jsonwebtoken::encode(
            &Header::default(),
            &json!({"sub": "s1", "exp": exp, "iss": "godaddy-sso", "aud": "reamaze-app"}),
            &EncodingKey::from_secret(settings("RS256").jwt_public_key_pem.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(v.verify(&req(&hs)).is_err());
        assert!(JwtVerifier::app(&settings("none")).is_err());
        // not before: refused until then
        let later = sign(json!({"sub": "s1", "exp": exp, "nbf": exp - 60,
            "iss": "godaddy-sso", "aud": "reamaze-app"}));
        assert!(v.verify(&req(&later)).is_err(), "nbf in the future");
        let now_ok = sign(json!({"sub": "s1", "exp": exp, "nbf": exp - 1200,
            "iss": "godaddy-sso", "aud": "reamaze-app"}));
        assert!(v.verify(&req(&now_ok)).is_ok(), "nbf in the past");
        // the operators' verifier wants its own issuer and audience
        let admin = JwtVerifier::admin(&settings("RS256")).unwrap();
        assert!(
            admin.verify(&req(&ok)).is_err(),
            "an app token is no operator's"
        );
        let op = sign(json!({"sub": "ops", "exp": exp, "iss": "ops-sso",
            "aud": "reamaze-migrator-admin", "role": "admin"}));
        assert_eq!(admin.verify(&req(&op)).unwrap(), ("ops".to_string(), true));
    }
}
