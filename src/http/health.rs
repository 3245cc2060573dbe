//! `GET /healthz` (the process answers), `GET /readyz` (the database answers and events reach
//! this process through the broker), `GET /metrics`.
//!
//! Who may read `/metrics` (README "Operations"): with `metrics.token` set, a caller with
//! `Authorization: Bearer <token>`; without one, only callers on this machine (loopback). With
//! `metrics.address` set, it is served on that address alone and the main port answers 404.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::envelope;
use super::error::ApiError;
use super::extract::bearer_token;
use super::state::AppState;
use subtle::ConstantTimeEq;

pub fn routes(cfg: &mut web::ServiceConfig, metrics_here: bool) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)));
    if metrics_here {
        metrics_route(cfg);
    }
}

/// `/metrics` alone, for the main app or the separate metrics address.
pub fn metrics_route(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").route(web::get().to(metrics)));
}

async fn healthz() -> HttpResponse {
    envelope::ok("alive", json!({"alive": true}))
}

async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let client = state.pool.get().await.map_err(|_| ApiError::Unavailable)?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|_| ApiError::Unavailable)?;
    let kind = state.settings.broker.kind.as_str();
    if !state.hub.broker().connected() {
        return Err(ApiError::BrokerUnavailable(kind));
    }
    Ok(envelope::ok(
        "ready",
        json!({"database": "ok", "broker": kind}),
    ))
}

async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = &state.settings.metrics.token;
    let allowed = if token.is_empty() {
        req.peer_addr().is_some_and(|a| a.ip().is_loopback())
    } else {
        bearer_token(&req).is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.as_bytes())))
    };
    if !allowed {
        // As if there were no such route: a scraper's address or token is wrong.
        return Err(ApiError::NotFound("Route"));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.pool)))
}
