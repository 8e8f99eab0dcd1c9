//! Who calls: the app's C1 ([`AppUser`], within its request limits) or an operator
//! ([`AdminUser`]), from the bearer token checked by the verifiers of [`crate::jwt`]. A 401
//! says only that the token was refused; the reason goes to the log.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures::future::{ready, Ready};
use migrator_core::ids::ShopperId;

/// A C1 calling app endpoints: it only ever reaches its own account.
#[derive(Debug, Clone)]
pub struct AppUser {
    /// The caller.
    pub shopper_id: ShopperId,
}

/// An operator, as its token names it (`sub`), for the audit log.
#[derive(Debug, Clone)]
pub struct AdminUser {
    /// Who.
    pub sub: String,
}

fn state(req: &HttpRequest) -> &AppState {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState registered")
}

/// A refused token: the same 401 whatever the reason, which goes to the log.
fn refused(why: &str) -> ApiError {
    tracing::info!(reason = why, "token refused");
    ApiError::unauthorized("the bearer token was refused")
}

/// The app caller, verified and within its limits ([`crate::limits`]).
fn app_user(req: &HttpRequest) -> Result<AppUser, ApiError> {
    let st = state(req);
    let (sub, _) = st.jwt.verify(req).map_err(|e| refused(&e))?;
    let shopper_id = ShopperId::parse(&sub).map_err(|_| refused("subject is not a shopper_id"))?;
    let write = req.method() != actix_web::http::Method::GET;
    st.limits.admit(&shopper_id, write).map_err(|wait| {
        ApiError::too_many(
            "too many requests for this account; retry after a while",
            wait,
        )
    })?;
    Ok(AppUser { shopper_id })
}

fn admin_user(req: &HttpRequest) -> Result<AdminUser, ApiError> {
    let st = state(req);
    match st.admin_jwt.verify(req) {
        // the audit log names who did what: a token naming no one is refused
        Ok((sub, true)) if sub.trim().is_empty() || sub.chars().any(char::is_control) => {
            Err(refused("an operator token must name its operator (sub)"))
        }
        Ok((sub, true)) => Ok(AdminUser { sub }),
        Ok((_, false)) => Err(ApiError::forbidden("this endpoint needs an operator token")),
        // an app token (whatever role it claims) is valid, but not here
        Err(e) => match st.jwt.verify(req) {
            Ok(_) => Err(ApiError::forbidden("this endpoint needs an operator token")),
            Err(_) => Err(refused(&e)),
        },
    }
}

impl FromRequest for AppUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(app_user(req))
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(admin_user(req))
    }
}
