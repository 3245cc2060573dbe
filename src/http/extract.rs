//! Request extractors: the signed-in user, and the error handlers that turn malformed JSON,
//! paths and query strings into enveloped 400/413/415 answers.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::error::ApiError;
use super::state::AppState;
use crate::auth::caller::AuthUser;
use crate::db::users;
use crate::domain::locale::Locale;

/// Checks a token and loads its user; a token older than the user's token version is revoked.
/// The outcome is kept with the request: the rate limiter asks first, and the extractor or the
/// WebSocket handshake reuse its answer instead of asking the database again.
pub async fn authenticate(
    state: &AppState,
    token: &str,
    req: &HttpRequest,
) -> Result<AuthUser, ApiError> {
    const INVALID: ApiError = ApiError::Unauthorized("Invalid or expired token");
    let seen = req
        .extensions()
        .get::<Checked>()
        .filter(|checked| checked.token == token)
        .map(|checked| checked.user.clone());
    if let Some(user) = seen {
        return user.ok_or(INVALID);
    }
    let outcome = check(state, token, req).await;
    // A database failure is not remembered: the next asker tries again.
    if matches!(outcome, Ok(_) | Err(ApiError::Unauthorized(_))) {
        req.extensions_mut().insert(Checked {
            token: token.to_owned(),
            user: outcome.as_ref().ok().cloned(),
        });
    }
    outcome.map_err(|e| match e {
        ApiError::Unauthorized(_) => INVALID,
        other => other,
    })
}

async fn check(state: &AppState, token: &str, req: &HttpRequest) -> Result<AuthUser, ApiError> {
    const INVALID: ApiError = ApiError::Unauthorized("Invalid or expired token");
    let claims = state.jwt.verify(token).map_err(|_| INVALID)?;
    let id = claims.user_id().ok_or(INVALID)?;
    let user = users::find_by_id(&state.pool, id).await?.ok_or(INVALID)?;
    if user.token_version != claims.ver {
        return Err(INVALID);
    }
    Ok(AuthUser {
        locale: request_locale(req, user.locale),
        user,
        token_exp: claims.exp,
    })
}

/// The client's address, as the throttles and limits count it.
pub fn client_address(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}

/// The language to answer in: the request's `Accept-Language` if it names one we speak, else
/// `fallback` (the user's own).
pub fn request_locale(req: &HttpRequest, fallback: Locale) -> Locale {
    req.headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Locale::from_accept_language)
        .unwrap_or(fallback)
}

/// A token checked earlier in this request, and its user if it passed.
struct Checked {
    token: String,
    user: Option<AuthUser>,
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The subprotocol value that carries a token for browsers (`bearer.<jwt>`).
const BEARER_PROTOCOL_PREFIX: &str = "bearer.";

/// The request's token wherever a client of this kind may put it: the `Authorization` header,
/// and for WebSocket handshakes (browsers cannot set headers) also the subprotocol pair
/// `order-tracker, bearer.<jwt>` or, as a last resort, `?token=`.
pub fn credentials(req: &HttpRequest) -> Option<String> {
    if let Some(token) = bearer_token(req) {
        return Some(token.to_string());
    }
    if !is_websocket_handshake(req) {
        return None;
    }
    let from_protocol = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            p.trim()
                .strip_prefix(BEARER_PROTOCOL_PREFIX)
                .map(str::to_string)
        });
    from_protocol.or_else(|| query_token(req))
}

fn query_token(req: &HttpRequest) -> Option<String> {
    web::Query::<TokenQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().token)
        .filter(|t| !t.is_empty())
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn is_websocket_handshake(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("AppState missing"))?;
            let token = bearer_token(&req).ok_or(ApiError::Unauthorized("Unauthorized"))?;
            authenticate(state, token, &req).await
        })
    }
}

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| {
            let api = match err {
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::PayloadTooLarge(limit),
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::BadRequest(format!("Invalid request body: {e}"))
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::BadRequest(format!("Malformed JSON: {e}"))
                }
                _ => ApiError::BadRequest("Could not read the request body".into()),
            };
            api.into()
        })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|_err: PathError, _req| ApiError::NotFound("Resource").into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::BadRequest(format!("Invalid query string: {err}")).into()
    })
}
