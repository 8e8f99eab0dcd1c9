//! Who is using the console: sign-in with an operator token (checked by the operators' own
//! verifier) or, when `console.trusted_header` is set, the identity proxy's header; a
//! server-side session ([`migrator_store::queries::operators::sessions`]) named by an HttpOnly, Secure,
//! SameSite=Strict cookie; the session's CSRF token on every state-changing form; sign-out.
//! Sign-in and sign-out are audited like every other write.

use super::render::{page, ConsoleError};
use crate::audit::audited;
use crate::auth::AdminUser;
use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;
use base64::Engine as _;
use futures::future::LocalBoxFuture;
use migrator_store::queries::operators::sessions::{self, Lifetime};
use rand::RngCore;
use scoped_futures::ScopedFutureExt;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The session cookie: `__Host-` (Secure, `Path=/`, no `Domain`: only this origin sets or
/// reads it).
pub const COOKIE: &str = "__Host-migrator-console";

/// A signed-in operator, from the session cookie.
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    /// Who (the token's `sub`, or the proxy's header).
    pub operator: String,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
}

impl ConsoleUser {
    /// The operator as the admin API's handlers take them (their audit records name them).
    pub fn admin(&self) -> AdminUser {
        AdminUser {
            sub: self.operator.clone(),
        }
    }

    /// Refuses a form without this session's CSRF token (403, nothing done).
    pub fn check_csrf(&self, sent: &str) -> Result<(), ConsoleError> {
        let same: bool = sent.as_bytes().ct_eq(self.csrf.as_bytes()).into();
        if sent.is_empty() || !same {
            return Err(ConsoleError::forbidden(
                "the form's CSRF token is missing or not this session's: reload the page and try again",
            ));
        }
        Ok(())
    }
}

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState registered")
        .clone()
}

fn lifetime(st: &AppState) -> Lifetime {
    let c = &st.settings.console;
    Lifetime {
        idle: Duration::from_secs(c.idle_timeout_secs.max(1)),
        max: Duration::from_secs(c.max_session_secs.max(1)),
    }
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    // the thread's CSPRNG (ChaCha12, seeded and reseeded from the OS)
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The identity the proxy's header names, when `console.trusted_header` is set and present
/// (1 to 256 printable characters) — believed only on a connection from
/// `console.trusted_proxies` (the peer address, never a header a client could set) and only
/// when the proxy asserts `console.operator_role` in `console.trusted_role_header`.
fn proxy_identity(st: &AppState, req: &HttpRequest) -> Option<String> {
    let c = &st.settings.console;
    let name = c.trusted_header.trim();
    if name.is_empty() {
        return None;
    }
    let peer = req.peer_addr()?.ip();
    if !c.proxies().ok()?.iter().any(|net| net.contains(&peer)) {
        return None;
    }
    let role = c.operator_role.trim();
    let roles = req
        .headers()
        .get(c.trusted_role_header.trim())?
        .to_str()
        .ok()?;
    if role.is_empty()
        || !roles
            .split(|ch: char| ch == ',' || ch.is_whitespace())
            .any(|r| r == role)
    {
        return None;
    }
    let v = req.headers().get(name)?.to_str().ok()?.trim();
    (!v.is_empty() && v.len() <= 256 && v.chars().all(|c| !c.is_control())).then(|| v.to_string())
}

/// The live session the request's cookie names (its idle timeout slid forward), if any.
async fn live_session(
    st: &AppState,
    req: &HttpRequest,
) -> Result<Option<sessions::Session>, ConsoleError> {
    let Some(cookie) = req.cookie(COOKIE) else {
        return Ok(None);
    };
    let mut c = crate::routes::shared::conn(st).await?;
    Ok(
        sessions::touch(&mut c, &digest(cookie.value()), lifetime(st).idle)
            .await
            .map_err(crate::error::ApiError::from)?,
    )
}

/// Where to go after signing in: a console path, or the overview (never another origin).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console/")
                && n.len() <= 512
                && !n.contains("//")
                && !n.contains('\\')
                && n.chars().all(|c| c.is_ascii_graphic()) =>
        {
            n.to_string()
        }
        _ => "/console/".into(),
    }
}

impl FromRequest for ConsoleUser {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let st = state(&req);
            // back to this page after signing in; a form's POST is not a page to go back to
            let next = (req.method() == actix_web::http::Method::GET)
                .then(|| req.uri().path_and_query().map(|p| p.as_str().to_string()))
                .flatten();
            let sign_in = || ConsoleError::SignIn(safe_next(next.as_deref()));
            let found = live_session(&st, &req).await?.ok_or_else(sign_in)?;
            // behind the proxy, the session is the proxy's operator's only
            if !st.settings.console.trusted_header.trim().is_empty()
                && proxy_identity(&st, &req).as_deref() != Some(found.operator.as_str())
            {
                return Err(sign_in());
            }
            Ok(ConsoleUser {
                operator: found.operator,
                csrf: found.csrf_token,
            })
        })
    }
}

/// Starts a session for `operator` (audited) and sends the browser to `next` with its cookie.
async fn start(
    st: &AppState,
    operator: String,
    (how, until): (&'static str, Option<u64>),
    next: &str,
) -> Result<HttpResponse, ConsoleError> {
    let secret = random_token();
    let (hash, csrf, mut life) = (digest(&secret), random_token(), lifetime(st));
    // a session never outlives the token that opened it
    if let Some(until) = until {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        life.max = life
            .max
            .min(Duration::from_secs(until.saturating_sub(now).max(1)));
        life.idle = life.idle.min(life.max);
    }
    let who = AdminUser { sub: operator };
    let by = who.sub.clone();
    audited(
        st,
        &who,
        "console_sign_in",
        "console",
        |c| async move { sessions::create(c, &hash, &by, &csrf, life).await }.scope_boxed(),
        |_| json!({ "by": how }),
    )
    .await?;
    let cookie = Cookie::build(COOKIE, secret)
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    Ok(HttpResponse::SeeOther()
        .insert_header(("location", next))
        .cookie(cookie)
        .finish())
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    next: String,
    refused: bool,
}

/// `?next=`.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The sign-in form; behind the identity proxy, the proxy's operator is signed in at once.
pub async fn sign_in_form(
    st: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let next = safe_next(q.next.as_deref());
    if let Some(who) = proxy_identity(&st, &req) {
        // a live session of the same operator is kept: no new session (nor audit row) a visit
        if live_session(&st, &req)
            .await?
            .is_some_and(|s| s.operator == who)
        {
            return Ok(super::render::see_other(&next));
        }
        return start(&st, who, ("trusted_header", None), &next).await;
    }
    page(
        HttpResponse::Ok(),
        &SignInPage {
            next,
            refused: false,
        },
    )
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    token: String,
    next: Option<String>,
}

/// Signs in with an operator token: the operators' verifier decides (an app token, or one
/// without the admin role, is refused like a bad one: 401, nothing recorded).
pub async fn sign_in(
    st: web::Data<AppState>,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, ConsoleError> {
    let next = safe_next(form.next.as_deref());
    match st.admin_jwt.verify_token(&form.token) {
        Ok(v) if v.admin && !v.sub.is_empty() => {
            start(&st, v.sub, ("operator_token", Some(v.exp)), &next).await
        }
        Ok(_) | Err(_) => {
            tracing::info!("console sign-in refused");
            page(
                HttpResponse::Unauthorized(),
                &SignInPage {
                    next,
                    refused: true,
                },
            )
        }
    }
}

/// A form that only carries the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's token.
    #[serde(default)]
    pub csrf: String,
}

/// Ends the session (audited) and forgets the cookie.
pub async fn sign_out(
    st: web::Data<AppState>,
    req: HttpRequest,
    user: ConsoleUser,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    let hash = req
        .cookie(COOKIE)
        .map(|c| digest(c.value()))
        .unwrap_or_default();
    audited(
        &st,
        &user.admin(),
        "console_sign_out",
        "console",
        |c| async move { sessions::delete(c, &hash).await }.scope_boxed(),
        |_| json!({}),
    )
    .await?;
    let mut gone = Cookie::build(COOKIE, "")
        .path("/")
        .secure(true)
        .http_only(true)
        .finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header(("location", "/console/sign-in"))
        .cookie(gone)
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_sign_in_the_browser_stays_on_the_console() {
        assert_eq!(
            safe_next(Some("/console/accounts?status=completed")),
            "/console/accounts?status=completed"
        );
        for bad in [
            None,
            Some("https://evil.example/"),
            Some("//evil.example/console/"),
            Some("/console//evil.example"),
            Some("/console/\\evil"),
            Some("/admin/fleet/pause"),
            Some("/console/a b"),
        ] {
            assert_eq!(safe_next(bad), "/console/", "{bad:?}");
        }
        assert_eq!(
            safe_next(Some(&format!("/console/{}", "a".repeat(600)))),
            "/console/"
        );
    }

    #[test]
    fn a_form_needs_this_sessions_csrf_token() {
        let u = ConsoleUser {
            operator: "ops".into(),
            csrf: random_token(),
        };
        assert!(u.check_csrf(&u.csrf.clone()).is_ok());
        assert!(u.check_csrf("").is_err());
        assert!(u.check_csrf(&random_token()).is_err());
        assert!(u.check_csrf(&u.csrf[..10]).is_err());
    }

    #[test]
    fn session_secrets_are_random_and_stored_hashed() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes, base64url");
        assert_eq!(digest(&a).len(), 32);
        assert_ne!(digest(&a), a.as_bytes());
    }
}
