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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpRequest};

use super::error::ApiError;
use super::extract::{authenticate, client_address, credentials};
use crate::config::RateLimitSettings;
use crate::domain::role::Role;
use crate::state::AppState;

pub const WINDOW: Duration = Duration::from_secs(60);
/// The window of the registration budget.
const REGISTER_WINDOW: Duration = Duration::from_secs(3600);
/// Most keys remembered at once; beyond this, finished windows are dropped first.
const MAX_TRACKED: usize = 100_000;

/// Where one key stands in its current window.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    pub reset: Duration,
}

pub struct RateLimiter {
    /// Key -> (window start, requests in it); the window's length goes with the key's kind.
    windows: Mutex<HashMap<String, (Instant, u32)>>,
    settings: RateLimitSettings,
}

impl RateLimiter {
    pub fn new(settings: RateLimitSettings) -> Self {
        RateLimiter {
            windows: Mutex::new(HashMap::new()),
            settings,
        }
    }

    /// Counts one request for `key` against `limit` per `window`.
    pub fn hit(&self, key: &str, limit: u32, window: Duration) -> Verdict {
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("rate limit lock");
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, (start, _)| now.duration_since(*start) < REGISTER_WINDOW);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        let allowed = entry.1 < limit;
        if allowed {
            entry.1 += 1;
        }
        Verdict {
            allowed,
            limit,
            remaining: limit - entry.1.min(limit),
            reset: window.saturating_sub(now.duration_since(entry.0)),
        }
    }

    /// Whose request this is and how many such requests a window allows.
    async fn key_for(&self, state: &AppState, req: &HttpRequest) -> (String, u32) {
        let user = match credentials(req) {
            Some(token) => authenticate(state, &token, req).await.ok(),
            None => None,
        };
        match user {
            Some(user) => {
                let limit = if user.role() == Role::Admin {
                    self.settings.admin_per_minute
                } else {
                    self.settings.member_per_minute
                };
                (format!("user:{}", user.id()), limit)
            }
            None => (
                format!("addr:{}", client_address(req)),
                self.settings.member_per_minute,
            ),
        }
    }
}

/// The path as routing sees it (percent-escapes decoded), so `/%61pi/me` is `/api/me` here too.
fn routed_path(req: &ServiceRequest) -> &str {
    req.match_info().get_ref().path()
}

/// Whether the request falls under the limits: everything but the operational probes, which a
/// load balancer or scraper calls as often as it likes. Limiting by exclusion means no spelling
/// of a path can slip out of the limits.
fn is_limited(path: &str) -> bool {
    !matches!(
        path.trim_end_matches('/'),
        "/healthz" | "/readyz" | "/metrics"
    )
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
        let (key, limit) = limiter.key_for(&state, req.request()).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_then_refuses() {
        let limiter = RateLimiter::new(RateLimitSettings {
            enabled: true,
            member_per_minute: 3,
            admin_per_minute: 6,
            register_per_hour: 2,
        });
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.hit("user:1", 3, WINDOW).remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.hit("user:1", 3, WINDOW);
        assert!(!refused.allowed);
        assert!(refused.reset <= WINDOW && refused.reset > Duration::from_secs(50));
        assert!(
            limiter.hit("user:2", 3, WINDOW).allowed,
            "keys are independent"
        );
    }
}
