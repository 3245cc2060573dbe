//! `GET /healthz` (the process answers), `GET /readyz` (the database answers), `GET /metrics`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::envelope;
use super::error::ApiError;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)))
        .service(web::resource("/metrics").route(web::get().to(metrics)));
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
    Ok(envelope::ok("ready", json!({"database": "ok"})))
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.pool))
}
