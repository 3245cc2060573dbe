//! Request bodies read into structs, which must be JSON objects.
//!
//! serde fills a struct from a JSON array too, field by field in order, so with `web::Json<T>`
//! `PATCH /me` took `[null, null]` as `{}` and `POST /login` took `["a@b.c", null, "secret"]`
//! (schemathesis' negative data found it). Every body the API reads into a struct is an object
//! in the OpenAPI document, and now on the wire too. An optional body is either empty or such an
//! object: a malformed one is refused, not taken for a missing one.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;
use super::input_guard::is_json;

/// `T` read from a body that is a JSON object; other JSON is a 400.
pub fn from_object<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    if !body.is_object() {
        return Err(ApiError::BadRequest(
            "Invalid request body: expected a JSON object".into(),
        ));
    }
    T::deserialize(body).map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))
}

/// Like `web::Json<T>` (the same limits, content type check and error answers), but only an
/// object is read into `T`.
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for JsonObject<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let body = json.await?.into_inner();
            Ok(JsonObject(from_object(body)?))
        })
    }
}

/// An optional body: none at all is `T::default()`; one that is there is read as `JsonObject`
/// reads it. A body of another content type is a 415, since only JSON bodies pass through the
/// input guard's checks (size, time, NUL characters).
pub struct OptionalObject<T>(pub T);

impl<T> OptionalObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalObject<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req.headers());
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            if bytes.is_empty() {
                return Ok(OptionalObject(T::default()));
            }
            if !json {
                return Err(ApiError::UnsupportedMediaType.into());
            }
            let body = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))?;
            Ok(OptionalObject(from_object(body)?))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::from_object;
    use serde_json::json;

    #[derive(serde::Deserialize, Debug)]
    struct Login {
        email: Option<String>,
    }

    #[test]
    fn only_an_object_fills_a_struct() {
        let login: Login = from_object(json!({"email": "a@b.c"})).unwrap();
        assert_eq!(login.email.as_deref(), Some("a@b.c"));
        assert!(from_object::<Login>(json!({})).is_ok());
        for other in [
            json!(["a@b.c"]),
            json!([null]),
            json!("x"),
            json!(1),
            json!(null),
        ] {
            assert!(from_object::<Login>(other).is_err());
        }
    }
}
