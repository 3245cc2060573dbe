//! `/map`: what the pages' maps draw under their markers, as the site configured it.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::envelope;
use super::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/map").route(web::get().to(map)));
}

/// Public: the share page needs it, and a tile template is no secret.
async fn map(state: web::Data<AppState>) -> HttpResponse {
    let map = &state.settings.map;
    envelope::ok(
        "Map settings",
        json!({"tile_url": map.tile_url, "attribution": map.attribution}),
    )
}
