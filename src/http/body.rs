//! Request bodies read into structs, which must be JSON objects.
//!
//! serde fills a struct from a JSON array too, field by field in order, so with `web::Json<T>`
//! `PATCH /me` took `[null, null]` as `{}` and `POST /login` took `["a@b.c", null, "secret"]`
//! (schemathesis' negative data found it). Every body the API reads into a struct is an object
//! in the OpenAPI document, and now on the wire too.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

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
