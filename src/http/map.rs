//! `/map`: what the pages' maps draw under their markers, as the site configured it.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::envelope;
use super::openapi::Success;
use super::routes::Routes;
use super::state::AppState;

pub fn routes(routes: &mut Routes) {
    routes.resource("/map", |r| r.get(map));
}

/// Public: the share page needs it, and a tile template is no secret.
#[utoipa::path(
    get,
    path = "/map",
    tag = "Pages",
    security(()),
    responses(
        (status = 200, description = "`{tile_url, attribution}`: what the pages' maps draw", body = Success<serde_json::Value>),
    )
)]
async fn map(state: web::Data<AppState>) -> HttpResponse {
    let map = &state.settings.map;
    envelope::ok(
        "Map settings",
        json!({"tile_url": map.tile_url, "attribution": map.attribution}),
    )
}
