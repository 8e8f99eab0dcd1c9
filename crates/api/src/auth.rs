//! JWT authentication: HS256 with a secret by default, RS256 with a public key as an option;
//! `sub` is the C1's shopper id, `role = admin` marks operators; `iss`/`aud` when configured.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures::future::{ready, Ready};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use migrator_core::ids::ShopperId;
use migrator_core::settings::ApiSettings;
use secrecy::ExposeSecret;
use serde::Deserialize;

/// How tokens are checked.
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
}

impl JwtVerifier {
    /// Builds the verifier from the api settings.
    pub fn from_settings(s: &ApiSettings) -> anyhow::Result<Self> {
        let (alg, key) = match s.jwt_algorithm.to_ascii_uppercase().as_str() {
            "HS256" => (
                Algorithm::HS256,
                DecodingKey::from_secret(s.jwt_secret.expose_secret().as_bytes()),
            ),
            "RS256" => (
                Algorithm::RS256,
                DecodingKey::from_rsa_pem(s.jwt_public_key_pem.as_bytes())?,
            ),
            other => anyhow::bail!("api.jwt_algorithm {other:?} is not HS256 or RS256"),
        };
        let mut validation = Validation::new(alg);
        validation.leeway = 0;
        // a configured iss/aud is required to be present, not only checked when present
        let mut required = vec!["exp", "sub"];
        if !s.jwt_issuer.is_empty() {
            validation.set_issuer(&[s.jwt_issuer.as_str()]);
            required.push("iss");
        }
        if s.jwt_audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&[s.jwt_audience.as_str()]);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        Ok(Self { key, validation })
    }

    fn verify(&self, req: &HttpRequest) -> Result<(ShopperId, bool), ApiError> {
        let header = req
            .headers()
            .get("authorization")
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed authorization header"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::unauthorized("authorization must be a bearer token"))?;
        let data = jsonwebtoken::decode::<Claims>(token.trim(), &self.key, &self.validation)
            .map_err(|e| ApiError::unauthorized(format!("invalid token: {e}")))?;
        let shopper = ShopperId::parse(&data.claims.sub)
            .map_err(|_| ApiError::unauthorized("token subject is not a valid shopper_id"))?;
        Ok((shopper, data.claims.role.as_deref() == Some("admin")))
    }
}

/// A C1 calling app endpoints: it only ever reaches its own account.
#[derive(Debug, Clone)]
pub struct AppUser {
    /// The caller.
    pub shopper_id: ShopperId,
}

/// An operator (`role = admin`).
#[derive(Debug, Clone)]
pub struct AdminUser;

fn state(req: &HttpRequest) -> &AppState {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState registered")
}

impl FromRequest for AppUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            state(req)
                .jwt
                .verify(req)
                .map(|(shopper_id, _)| AppUser { shopper_id }),
        )
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(state(req).jwt.verify(req).and_then(|(_, admin)| {
            if admin {
                Ok(AdminUser)
            } else {
                Err(ApiError::forbidden("this endpoint needs an admin token"))
            }
        }))
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
        ApiSettings {
            listen: "127.0.0.1:0".into(),
            jwt_algorithm: alg.into(),
            jwt_secret: "s3cret".to_string().into(),
            jwt_public_key_pem: std::fs::read_to_string(format!(
                "{dir}DEV-ONLY-media-signing-public.pem"
            ))
            .unwrap(),
            jwt_issuer: "godaddy-sso".into(),
            jwt_audience: "reamaze-app".into(),
            eligibility_timeout_ms: 100,
            max_body_bytes: 1024,
        }
    }

    fn req(token: &str) -> HttpRequest {
        TestRequest::default()
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_http_request()
    }

    #[test]
    fn rs256_with_issuer_and_audience() {
        let v = JwtVerifier::from_settings(&settings("RS256")).unwrap();
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
            &EncodingKey::from_secret(settings("RS256").jwt_public_key_pem.as_bytes()),
        )
        .unwrap();
        assert!(v.verify(&req(&hs)).is_err());
        assert!(JwtVerifier::from_settings(&settings("none")).is_err());
    }
}
