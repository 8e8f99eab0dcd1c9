//! How the console answers: a page rendered from its askama template, an error as a page of
//! its own (never the API's JSON), and the helpers templates call (times in UTC with their
//! age, raw JSON pretty-printed).

use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use askama::Template;
use chrono::{DateTime, Utc};

/// What a console request can end in besides its page.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: the browser is sent to sign in, then back to this path.
    #[error("sign in first")]
    SignIn(String),
    /// Refused or failed: a page saying so, with the status.
    #[error("{0}")]
    Api(#[from] ApiError),
}

impl ConsoleError {
    /// 403 with `message`.
    pub fn forbidden(message: &str) -> Self {
        ConsoleError::Api(ApiError::forbidden(message))
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn(_) => StatusCode::SEE_OTHER,
            ConsoleError::Api(e) => e.status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ConsoleError::SignIn(next) => {
                let to = format!("/console/sign-in?next={}", urlencode(next));
                HttpResponse::SeeOther()
                    .insert_header(("location", to))
                    .finish()
            }
            ConsoleError::Api(e) => {
                let body = ErrorPage {
                    status: e.status.as_u16(),
                    reason: e.status.canonical_reason().unwrap_or("error"),
                    message: &e.message,
                }
                .render()
                .unwrap_or_else(|_| e.message.clone());
                let mut r = HttpResponse::build(e.status);
                if let Some(after) = e.retry_after {
                    r.insert_header(("retry-after", after.to_string()));
                }
                r.content_type("text/html; charset=utf-8").body(body)
            }
        }
    }
}

/// `t` rendered into a response begun by `b`.
pub fn page(mut b: HttpResponseBuilder, t: &impl Template) -> Result<HttpResponse, ConsoleError> {
    let body = t.render().map_err(|e| {
        tracing::error!(error = %e, "console template failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the page could not be rendered",
        )
    })?;
    Ok(b.content_type("text/html; charset=utf-8").body(body))
}

/// A 303 to `to` (after a form's action: a reload does not repeat it).
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", to))
        .finish()
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An RFC 3339 time as `2026-11-30 13:40:53 UTC (5 min ago)`; what is not one, as it is.
pub fn when(rfc3339: &str) -> String {
    match DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => {
            let t = t.with_timezone(&Utc);
            format!(
                "{} UTC ({})",
                t.format("%Y-%m-%d %H:%M:%S"),
                age(t, Utc::now())
            )
        }
        Err(_) => rfc3339.to_string(),
    }
}

/// `t` relative to `now`: `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`, or `in …`.
pub fn age(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let a = secs.unsigned_abs();
    let n = match a {
        0..=59 => format!("{a} s"),
        60..=3599 => format!("{} min", a / 60),
        3600..=172_799 => format!("{} h", a / 3600),
        _ => format!("{} d", a / 86_400),
    };
    if secs >= 0 {
        format!("{n} ago")
    } else {
        format!("in {n}")
    }
}

/// An optional time, or an em dash.
pub fn when_opt(t: &Option<String>) -> String {
    t.as_deref().map(when).unwrap_or_else(|| "—".into())
}

/// JSON, indented.
pub fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn ages_read_in_the_largest_whole_unit() {
        let now = Utc::now();
        assert_eq!(age(now - Duration::seconds(12), now), "12 s ago");
        assert_eq!(age(now - Duration::seconds(300), now), "5 min ago");
        assert_eq!(age(now - Duration::hours(3), now), "3 h ago");
        assert_eq!(age(now - Duration::days(2), now), "2 d ago");
        assert_eq!(age(now + Duration::seconds(90), now), "in 1 min");
    }

    #[test]
    fn a_time_is_shown_in_utc_with_its_age_and_anything_else_as_it_is() {
        assert!(when("2026-11-30T13:40:53.000Z").starts_with("2026-11-30 13:40:53 UTC ("));
        assert_eq!(when("soon"), "soon");
        assert_eq!(when_opt(&None), "—");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            urlencode("/console/a b?x=1&y"),
            "/console/a%20b%3Fx%3D1%26y"
        );
    }
}
