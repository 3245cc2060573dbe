//! A request's input, checked once at the edge for every route.
//!
//! - A NUL character anywhere in its text is refused: PostgreSQL cannot store `0x00` in text, so
//!   without this a NUL in any field would reach the database and come back as a 500. The path,
//!   each query parameter and every string (and key) of a JSON body are checked; the answer is a
//!   400 naming the field. JSON can carry a NUL only as the escape `\u0000` (raw control
//!   characters are malformed), so a body without that byte sequence is passed on after one
//!   scan, unparsed.
//! - A JSON body is read here, whole, within bounds: a declared length over
//!   `server.max_body_bytes` is a 413 before anything is read, a body that sends nothing for
//!   `server.body_timeout_secs` is a 408, a broken one (bad chunking) a 400, all in the envelope.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, BytesMut};
use actix_web::{Error, HttpMessage, ResponseError};
use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;

use super::error::ApiError;
use super::state::AppState;
use crate::domain::validation::FieldErrors;

const ESCAPED_NUL: &[u8] = b"\\u0000";
const PERCENT_NUL: &str = "%00";

pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if let Some(errors) = nul_in_url(&req) {
        return Ok(req.into_response(ApiError::Validation(errors).error_response()));
    }
    if is_json(req.headers()) {
        let (limit, stall) = req
            .app_data::<web::Data<AppState>>()
            .map(|s| {
                let server = &s.settings.server;
                (
                    server.max_body_bytes,
                    Duration::from_secs(server.body_timeout_secs),
                )
            })
            .unwrap_or((usize::MAX, Duration::MAX));
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            let error = ApiError::PayloadTooLarge(limit);
            return Ok(req.into_response(error.error_response()));
        }
        let mut body = BytesMut::new();
        let mut payload = req.take_payload();
        loop {
            let refusal = match tokio::time::timeout(stall, payload.next()).await {
                Ok(None) => break,
                Ok(Some(Ok(chunk))) => {
                    body.extend_from_slice(&chunk);
                    if body.len() <= limit {
                        continue;
                    }
                    ApiError::PayloadTooLarge(limit)
                }
                Ok(Some(Err(_))) => ApiError::BadRequest("Could not read the request body".into()),
                Err(_) => ApiError::RequestTimeout,
            };
            return Ok(req.into_response(refusal.error_response()));
        }
        if let Some(errors) = nul_in_json(&body) {
            return Ok(req.into_response(ApiError::Validation(errors).error_response()));
        }
        req.set_payload(Payload::from(body.freeze()));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// Whether a request's body is JSON, as this guard reads it: a handler that takes a body of
/// another kind asks the same question, so no body escapes the guard.
pub fn is_json(headers: &header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

fn refused(field: &str) -> FieldErrors {
    FieldErrors::single(
        field,
        format!("The {field} must not contain NUL characters."),
    )
}

fn nul_in_url(req: &ServiceRequest) -> Option<FieldErrors> {
    if req.uri().path().contains(PERCENT_NUL) {
        return Some(refused("path"));
    }
    let query = req.query_string();
    if !query.contains(PERCENT_NUL) {
        return None;
    }
    let field = web::Query::<Vec<(String, String)>>::from_query(query)
        .ok()
        .and_then(|pairs| {
            pairs
                .iter()
                .find(|(k, v)| k.contains('\0') || v.contains('\0'))
                .map(|(k, _)| k.replace('\0', ""))
        })
        .unwrap_or_else(|| "query".into());
    Some(refused(&field))
}

/// The field of the first string holding a NUL, as a dotted path (`items.0.name`).
fn nul_in_json(body: &[u8]) -> Option<FieldErrors> {
    body.windows(ESCAPED_NUL.len())
        .any(|w| w == ESCAPED_NUL)
        .then_some(())?;
    // The escape may be only an escaped backslash followed by "u0000"; parsing tells.
    let value: Value = serde_json::from_slice(body).ok()?;
    find(&value, String::new()).map(|field| refused(&field))
}

fn find(value: &Value, path: String) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => {
            Some(if path.is_empty() { "body".into() } else { path })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find(item, join(&i.to_string()))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(join(&key.replace('\0', "")))
            } else {
                find(item, join(key))
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(body: &str) -> Option<String> {
        nul_in_json(body.as_bytes()).map(|e| e.into_inner().into_keys().next().unwrap())
    }

    #[test]
    fn names_the_field_holding_a_nul() {
        assert_eq!(field(r#"{"name":"a\u0000b"}"#).as_deref(), Some("name"));
        assert_eq!(
            field(r#"{"items":[{"q":1},{"note":"\u0000"}]}"#).as_deref(),
            Some("items.1.note")
        );
        assert_eq!(field(r#"{"ke\u0000y":1}"#).as_deref(), Some("key"));
        assert_eq!(field(r#""\u0000""#).as_deref(), Some("body"));
    }

    #[test]
    fn an_escaped_backslash_is_not_a_nul() {
        assert_eq!(field(r#"{"name":"C:\\u0000"}"#), None);
        assert_eq!(field(r#"{"name":"plain"}"#), None);
    }
}
