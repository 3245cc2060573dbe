//! Request rate limits: `rate_limit.member_per_minute` per signed-in user (admins get
//! `admin_per_minute`), and the member limit per client address for requests without a valid
//! token. A user is who the token proves after the same check every route makes (signature,
//! times, the user's token version), so a revoked or forged token spends its sender's address
//! budget, never its user's. Registration has a budget of its own per address
//! (`register_per_hour`): it answers whether an e-mail is taken, so it must not be a fast oracle.
//! Fixed windows, counted per process, on every route (API and WebSocket handshakes alike) but
//! the operational probes.
//! Every answer carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; a
//! refused one is a 429 with `Retry-After`.

pub mod limiter;

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpRequest};

use self::limiter::{Verdict, REGISTER_WINDOW, WINDOW};
use super::error::ApiError;
use super::extract::{authenticate, client_address, credentials};
use super::state::AppState;
use crate::domain::role::Role;

/// Whose request this is and how many such requests a window allows.
async fn key_for(state: &AppState, req: &HttpRequest) -> (String, u32) {
    let user = match credentials(req) {
        Some(token) => authenticate(state, &token, req).await.ok(),
        None => None,
    };
    match user {
        Some(user) => {
            let limit = if user.role() == Role::Admin {
                state.settings.rate_limit.admin_per_minute
            } else {
                state.settings.rate_limit.member_per_minute
            };
            (format!("user:{}", user.id()), limit)
        }
        None => (
            format!("addr:{}", client_address(req)),
            state.settings.rate_limit.member_per_minute,
        ),
    }
}

/// The path as routing sees it (percent-escapes decoded), so `/%61pi/me` is `/api/me` here too.
fn routed_path(req: &ServiceRequest) -> &str {
    req.match_info().get_ref().path()
}

/// Whether the request falls under the limits: everything but the operational probes, which a
/// load balancer or scraper calls as often as it likes, and the pages' static files, which cost
/// nothing to serve and come several to a page view. Limiting by exclusion means no spelling of
/// a path can slip out of the limits.
fn is_limited(path: &str) -> bool {
    !(matches!(
        path.trim_end_matches('/'),
        "/healthz" | "/readyz" | "/metrics"
    ) || path.starts_with("/assets/"))
}

fn is_registration(req: &ServiceRequest) -> bool {
    req.method() == actix_web::http::Method::POST
        && routed_path(req)
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .is_some_and(|last| last == "register")
}

fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let Some(state) =
        state.filter(|s| s.settings.rate_limit.enabled && is_limited(routed_path(&req)))
    else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let limiter = &state.rate_limiter;
    let mut verdict = {
        let (key, limit) = key_for(&state, req.request()).await;
        limiter.hit(&key, limit, WINDOW)
    };
    if verdict.allowed && is_registration(&req) {
        let key = format!("register:{}", client_address(req.request()));
        verdict = limiter.hit(
            &key,
            state.settings.rate_limit.register_per_hour,
            REGISTER_WINDOW,
        );
    }
    if !verdict.allowed {
        let mut response = req.into_response(actix_web::ResponseError::error_response(
            &ApiError::TooManyRequests(verdict.reset),
        ));
        add_headers(response.headers_mut(), verdict);
        return Ok(response);
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    add_headers(response.headers_mut(), verdict);
    Ok(response)
}

fn add_headers(headers: &mut actix_web::http::header::HeaderMap, v: Verdict) {
    for (name, value) in [
        ("ratelimit-limit", u64::from(v.limit)),
        ("ratelimit-remaining", u64::from(v.remaining)),
        ("ratelimit-reset", seconds(v.reset)),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}
