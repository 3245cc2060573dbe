//! The pages: `/` (the customer app), `/track/{token}` (a share link's public tracking page)
//! and their files under `/assets/`, all compiled into the binary from `web/`.
//!
//! Every page answer carries a strict Content-Security-Policy: nothing loads from another host
//! and no inline script runs, so injected markup cannot execute. QR codes arrive as `data:`
//! images from the API, the only exception to `'self'`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::share_links::well_formed_token;

#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Web;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
     form-action 'self'";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(app)))
        .service(web::resource("/track/{token}").route(web::get().to(track)))
        .service(web::resource("/assets/{file:.+}").route(web::get().to(asset)));
}

async fn app(req: HttpRequest) -> HttpResponse {
    file(&req, StatusCode::OK, "app.html")
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
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
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
