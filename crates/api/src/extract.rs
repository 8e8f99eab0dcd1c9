//! `JsonObject<T>`: a request body that must be a JSON object. serde's derived structs also
//! accept a JSON array of their fields in order (`[null, null]`), which the OpenAPI document
//! does not allow; the body is parsed as a value first (under the same `JsonConfig` limits and
//! errors) and refused with 400 unless it is an object.

use crate::error::ApiError;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// A JSON object body deserialized into `T`.
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = value.await?.into_inner();
            if !value.is_object() {
                return Err(ApiError::bad_request(
                    "invalid_json",
                    "the body must be a JSON object",
                )
                .into());
            }
            serde_json::from_value(value).map(JsonObject).map_err(|e| {
                ApiError::bad_request("invalid_json", format!("Json deserialize error: {e}")).into()
            })
        })
    }
}

/// JSON Schema's `integer` admits `1482.0`: a whole number written with a fraction is taken,
/// any other fraction (or a number outside `i32`) refused. For `Option<i32>` body fields, with
/// `#[serde(default)]`.
pub fn whole_i32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    use serde::de::Error;
    let Some(n) = <Option<serde_json::Number> as serde::Deserialize>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => Some(i),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() <= i32::MAX as f64 => Some(f as i64),
        _ => None,
    };
    whole
        .and_then(|i| i32::try_from(i).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number in range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct B {
        #[serde(default, deserialize_with = "whole_i32")]
        n: Option<i32>,
    }

    #[test]
    fn whole_numbers_in_any_notation_are_taken_and_fractions_refused() {
        let n = |s: &str| serde_json::from_str::<B>(s).map(|b| b.n);
        assert_eq!(n(r#"{"n": 1482}"#).unwrap(), Some(1482));
        assert_eq!(n(r#"{"n": 1482.0}"#).unwrap(), Some(1482));
        assert_eq!(n(r#"{"n": 1.482e3}"#).unwrap(), Some(1482));
        assert_eq!(n(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(n(r#"{}"#).unwrap(), None);
        assert!(n(r#"{"n": 1.5}"#).is_err());
        assert!(n(r#"{"n": 3000000000}"#).is_err());
        assert!(n(r#"{"n": "7"}"#).is_err());
    }
}
