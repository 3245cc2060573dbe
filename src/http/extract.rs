//! Request extractors: the signed-in user, and the error handlers that turn malformed JSON,
//! paths and query strings into enveloped 400/413/415 answers.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::error::ApiError;
use crate::auth::jwt::Claims;
use crate::db::users::{self, UserRow};
use crate::domain::locale::Locale;
use crate::domain::role::Role;
use crate::state::AppState;

/// The caller, proven by a valid, unrevoked token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: UserRow,
    /// The language answers are written in: `Accept-Language` if supported, else the user's.
    pub locale: Locale,
    /// When the token expires (Unix seconds); a socket closes then.
    pub token_exp: i64,
}

impl AuthUser {
    pub fn id(&self) -> i64 {
        self.user.id
    }

    pub fn role(&self) -> Role {
        self.user.role
    }

    pub fn require_staff(&self) -> Result<(), ApiError> {
        if self.role().is_staff() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "This action is for admins and drivers only",
            ))
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role() == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden("Access denied. Admin role required."))
        }
    }
}

/// Checks a token and loads its user; a token older than the user's token version is revoked.
pub async fn authenticate(
    state: &AppState,
    token: &str,
    req: &HttpRequest,
) -> Result<AuthUser, ApiError> {
    const INVALID: ApiError = ApiError::Unauthorized("Invalid or expired token");
    let claims = verified(state, req, token).ok_or(INVALID)?;
    let id = claims.user_id().ok_or(INVALID)?;
    let user = users::find_by_id(&state.pool, id).await?.ok_or(INVALID)?;
    if user.token_version != claims.ver {
        return Err(INVALID);
    }
    let locale = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Locale::from_accept_language)
        .unwrap_or(user.locale);
    Ok(AuthUser {
        user,
        locale,
        token_exp: claims.exp,
    })
}

/// The claims of `token` if its signature and times check out. The answer is kept with the
/// request, so the rate limiter, which reads the token first, and the extractor share one check.
pub fn verified(state: &AppState, req: &HttpRequest, token: &str) -> Option<Claims> {
    if let Some(Verified(seen, claims)) = req.extensions().get::<Verified>() {
        if seen == token {
            return claims.clone();
        }
    }
    let claims = state.jwt.verify(token).ok();
    req.extensions_mut()
        .insert(Verified(token.to_owned(), claims.clone()));
    claims
}

/// A token checked earlier in this request, and its claims if it passed.
struct Verified(String, Option<Claims>);

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
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
