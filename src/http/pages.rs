//! The pages: `/` (the customer app), `/track/{token}` (a share link's public tracking page)
//! and their files under `/assets/`, all compiled into the binary from `web/`.
//!
//! Every page answer carries a strict Content-Security-Policy: nothing loads from another host
//! and no inline script runs, so injected markup cannot execute. QR codes arrive as `data:`
//! images from the API, the only exception to `'self'`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

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

async fn app() -> HttpResponse {
    file(StatusCode::OK, "app.html")
}

/// The page for a token of our shape; any other shape is a page saying the link is not ours
/// (the page itself asks the API whether a well-formed token is live).
async fn track(token: web::Path<String>) -> HttpResponse {
    if well_formed_token(&token) {
        file(StatusCode::OK, "track.html")
    } else {
        not_found()
    }
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    // Only files under assets/; `..` never reaches the embedded set, which holds no such path.
    file(StatusCode::OK, &format!("assets/{name}"))
}

/// The friendly 404 page.
pub fn not_found() -> HttpResponse {
    file(StatusCode::NOT_FOUND, "404.html")
}

fn file(status: StatusCode, path: &str) -> HttpResponse {
    let Some(found) = Web::get(path) else {
        if path == "404.html" {
            return HttpResponse::NotFound().finish();
        }
        return not_found();
    };
    let mut answer = HttpResponse::build(status);
    answer
        .insert_header((header::CONTENT_TYPE, content_type(path)))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // A tracking page's address is a credential: it must not leave in a Referer.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if let Ok(etag) =
        HeaderValue::from_str(&format!("\"{}\"", hex(&found.metadata.sha256_hash()[..8])))
    {
        answer.insert_header((header::ETAG, etag));
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
