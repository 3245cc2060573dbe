//! Request rate limits: `rate_limit.member_per_minute` per signed-in user (admins get
//! `admin_per_minute`), and the member limit per client address for requests without a token.
//! Fixed one-minute windows, counted per process. Every API answer carries `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset`; a refused one is a 429 with `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpRequest};

use super::error::ApiError;
use super::extract::{bearer_token, verified};
use crate::config::RateLimitSettings;
use crate::state::AppState;

pub const WINDOW: Duration = Duration::from_secs(60);
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
    /// Key -> (window start, requests in it).
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

    /// Counts one request for `key` against `limit` per window.
    pub fn hit(&self, key: &str, limit: u32) -> Verdict {
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("rate limit lock");
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
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
            reset: WINDOW.saturating_sub(now.duration_since(entry.0)),
        }
    }

    /// Whose request this is and how many such requests a window allows.
    fn key_for(&self, state: &AppState, req: &HttpRequest) -> (String, u32) {
        let claims = bearer_token(req).and_then(|t| verified(state, req, t));
        match claims {
            Some(c) => {
                let limit = if c.role == "admin" {
                    self.settings.admin_per_minute
                } else {
                    self.settings.member_per_minute
                };
                (format!("user:{}", c.sub), limit)
            }
            None => {
                let addr = req
                    .peer_addr()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                (format!("addr:{addr}"), self.settings.member_per_minute)
            }
        }
    }
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
        state.filter(|s| s.settings.rate_limit.enabled && req.path().starts_with("/api"))
    else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let (key, limit) = state.rate_limiter.key_for(&state, req.request());
    let verdict = state.rate_limiter.hit(&key, limit);
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
        });
        let remaining: Vec<u32> = (0..3).map(|_| limiter.hit("user:1", 3).remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.hit("user:1", 3);
        assert!(!refused.allowed);
        assert!(refused.reset <= WINDOW && refused.reset > Duration::from_secs(50));
        assert!(limiter.hit("user:2", 3).allowed, "keys are independent");
    }
}
