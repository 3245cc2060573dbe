//! `/map`: what the pages' maps draw under their markers, as the site configured it.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::envelope;
use super::openapi::Success;
use super::routes::Routes;
use super::state::AppState;

pub fn routes(routes: &mut Routes) {
    routes.resource("/map", |r| r.get(map));
}

#[derive(Serialize, ToSchema)]
struct MapSettings<'a> {
    /// A tile template (`https://tiles.example.com/{z}/{x}/{y}.png`), or empty for none.
    tile_url: &'a str,
    attribution: &'a str,
}

/// Public: the share page needs it, and a tile template is no secret.
#[utoipa::path(
    get,
    path = "/map",
    tag = "Pages",
    security(()),
    responses(
        (status = 200, description = "`{tile_url, attribution}`: what the pages' maps draw", body = Success<MapSettings>),
    )
)]
async fn map(state: web::Data<AppState>) -> HttpResponse {
    let map = &state.settings.map;
    envelope::ok(
        "Map settings",
        MapSettings {
            tile_url: &map.tile_url,
            attribution: &map.attribution,
        },
    )
}
