//! The pages: `/` (the customer app), `/track/{token}` (a share link's public tracking page),
//! the staff pages `/staff` (the live board), `/driver` (a driver's deliveries) and `/analytics`,
//! the API reference `/api-docs`, and their files under `/assets/` (vendored libraries under
//! `/assets/vendor/`), all compiled into the binary from `web/`. The staff pages are static: each asks `GET /api/me` and tells a
//! signed-in user without the role that the page is not for them.
//!
//! Every page answer carries a strict Content-Security-Policy: nothing loads from another host
//! and no inline script runs, so injected markup cannot execute. QR codes arrive as `data:`
//! images from the API; map tiles, when `map.tile_url` names a tile server, are images from that
//! one origin. Those are the only exceptions to `'self'`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::share_links::well_formed_token;
use super::state::AppState;
use crate::domain::map::tile_origin;

#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Web;

/// The policy, with `{tiles}` the tile server's origin (after a space) or nothing.
fn csp(tiles: Option<&str>) -> String {
    let tiles = tiles.map(|origin| format!(" {origin}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{tiles}; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
         form-action 'self'"
    )
}

/// The policy for this server: its configured tile origin, if any (checked at startup).
fn csp_of(req: &HttpRequest) -> String {
    let state = req.app_data::<web::Data<AppState>>();
    csp(state.and_then(|state| tile_origin(&state.settings.map.tile_url)))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(app)))
        .service(web::resource("/track/{token}").route(web::get().to(track)))
        .service(web::resource("/staff").route(web::get().to(staff)))
        .service(web::resource("/driver").route(web::get().to(driver)))
        .service(web::resource("/analytics").route(web::get().to(analytics)))
        .service(web::resource("/api-docs").route(web::get().to(api_docs)))
        .service(web::resource("/assets/{file:.+}").route(web::get().to(asset)));
}

async fn app(req: HttpRequest) -> HttpResponse {
    file(&req, StatusCode::OK, "app.html")
}

async fn staff(req: HttpRequest) -> HttpResponse {
    file(&req, StatusCode::OK, "staff.html")
}

async fn driver(req: HttpRequest) -> HttpResponse {
    file(&req, StatusCode::OK, "driver.html")
}

async fn analytics(req: HttpRequest) -> HttpResponse {
    file(&req, StatusCode::OK, "analytics.html")
}

/// The API reference: the OpenAPI document, rendered (README "OpenAPI").
async fn api_docs(req: HttpRequest) -> HttpResponse {
    file(&req, StatusCode::OK, "api-docs.html")
}

/// The page for a token of our shape; any other shape is a page saying the link is not ours
/// (the page itself asks the API whether a well-formed token is live).
async fn track(req: HttpRequest, token: web::Path<String>) -> HttpResponse {
    if well_formed_token(&token) {
        file(&req, StatusCode::OK, "track.html")
    } else {
        file(&req, StatusCode::NOT_FOUND, NOT_FOUND_PAGE)
    }
}

async fn asset(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    // Only files under assets/; `..` never reaches the embedded set, which holds no such path.
    file(&req, StatusCode::OK, &format!("assets/{name}"))
}

/// The friendly 404 page.
const NOT_FOUND_PAGE: &str = "404.html";

/// An embedded file with the pages' headers; the friendly 404 page if there is no such file.
/// A client that holds the same version (`If-None-Match` its `ETag`) gets a bodiless 304.
fn file(req: &HttpRequest, status: StatusCode, path: &str) -> HttpResponse {
    let (status, path, found) = match Web::get(path) {
        Some(found) => (status, path, found),
        None => match Web::get(NOT_FOUND_PAGE) {
            Some(page) => (StatusCode::NOT_FOUND, NOT_FOUND_PAGE, page),
            None => return HttpResponse::NotFound().finish(),
        },
    };
    let etag = format!("\"{}\"", hex(&found.metadata.sha256_hash()[..8]));
    let unchanged = status == StatusCode::OK
        && req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|held| held.split(',').any(|tag| tag.trim() == etag));
    let mut answer = HttpResponse::build(if unchanged {
        StatusCode::NOT_MODIFIED
    } else {
        status
    });
    answer
        .insert_header((header::CONTENT_TYPE, content_type(path)))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp_of(req)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // A tracking page's address is a credential: it must not leave in a Referer.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        answer.insert_header((header::ETAG, etag));
    }
    if unchanged {
        return answer.finish();
    }
    answer.body(found.data.into_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_images_from_the_tile_server_only_when_there_is_one() {
        let plain = csp(None);
        assert!(plain.contains("img-src 'self' data:; "), "{plain}");
        let tiled = csp(tile_origin("https://tiles.example.com/{z}/{x}/{y}.png"));
        assert!(
            tiled.contains("img-src 'self' data: https://tiles.example.com; "),
            "{tiled}"
        );
        // Nothing else loosens: scripts, styles and connections stay on this server.
        assert_eq!(
            tiled.replace(" https://tiles.example.com", ""),
            plain,
            "only img-src changes"
        );
    }
}
