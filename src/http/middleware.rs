//! The outermost layer every request passes: it times and logs the request, records it in the
//! metrics, turns a panic into a 500, wraps any error answer that is not already JSON
//! (unknown route, wrong method, framework errors) in the envelope, and adds the headers every
//! answer carries: `nosniff`, no framing, and `no-store` unless a route chose its own caching.
//!
//! Metric labels take a bounded set of values, whatever clients send: a method outside the
//! standard ones is `other`, a path that matched no route is `unmatched`.
//! No app-wide default service is set: it would replace the 405 that a resource answers for a
//! method it does not serve.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use futures_util::FutureExt;

use super::envelope;
use super::error::ApiError;
use super::state::AppState;
use crate::metrics::RequestLabels;

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    // No clone of the request may live across the call: routing needs it unshared.
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // The path only: query strings may carry `?token=`, which must never reach the logs.
    let method = req.method().to_string();
    let method_label = method_label(req.method());
    let path = loggable_path(req.path());

    let outcome = match oversized_head(&req) {
        Some(refusal) => Ok(Ok(req.into_response(refusal.error_response()))),
        None => AssertUnwindSafe(next.call(req))
            .catch_unwind()
            .await
            .map(|r| r.map(ServiceResponse::map_into_boxed_body)),
    };
    // Errors leave as `Err`: actix answers them with their `error_response`, our envelope.
    let (result, route) = match outcome {
        Ok(Ok(res)) => {
            let route = res.request().match_pattern();
            let mut res = ensure_envelope(res);
            secure_headers(res.headers_mut());
            (Ok(res), route)
        }
        Ok(Err(err)) => (Err(err), None),
        Err(_) => (
            Err(ApiError::internal(format!("handler panicked on {method} {path}")).into()),
            None,
        ),
    };
    let status = match &result {
        Ok(res) => res.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    let elapsed = started.elapsed();
    if let Some(state) = state {
        let labels = RequestLabels {
            method: method_label,
            route: route.unwrap_or_else(|| "unmatched".into()),
            status: status.as_u16(),
        };
        state
            .metrics
            .requests
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }
    tracing::info!(%method, %path, status = status.as_u16(), ms = elapsed.as_secs_f64() * 1000.0, "request");
    result
}

/// The path as logs may keep it: a share link's token (the segment after `track`, on the page,
/// the API and the socket alike) opens the order, so it is replaced by `<token>`.
fn loggable_path(path: &str) -> String {
    let mut after_track = false;
    path.split('/')
        .map(|segment| {
            let shown = if after_track && !segment.is_empty() {
                "<token>"
            } else {
                segment
            };
            after_track = segment == "track";
            shown
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Longest URL (path and query) a request may have: no route of ours needs more.
const MAX_URL_BYTES: usize = 8 * 1024;
/// Most header bytes a request may carry (names and values).
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// A URL or headers larger than any client of ours sends. Heads too large even for
/// actix-http's parser (128 KiB) never get here: `early_errors` envelopes its answer.
fn oversized_head(req: &ServiceRequest) -> Option<ApiError> {
    let url = req.uri().path().len() + req.query_string().len();
    if url > MAX_URL_BYTES {
        return Some(ApiError::UriTooLong(MAX_URL_BYTES));
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (headers > MAX_HEADER_BYTES).then_some(ApiError::HeadersTooLarge(MAX_HEADER_BYTES))
}

/// The method as a metric label: one of the standard methods, else `other`.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD
        .iter()
        .find(|m| *m == method)
        .map_or("other", |m| m.as_str())
}

/// Answers are data for the client that asked: never sniffed into another type, never framed
/// by another site, never kept by a shared cache (they are per user).
pub fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Error answers that are not JSON get the envelope with the status's own reason phrase; the
/// pages' own HTML answers (`http::pages`, its friendly 404) stay as they are.
fn ensure_envelope(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let content_type = res.headers().get(header::CONTENT_TYPE);
    let is_json = content_type.is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let is_page = content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error())
        || is_json
        || is_page
        || status == StatusCode::SWITCHING_PROTOCOLS
    {
        return res;
    }
    let message = match status {
        StatusCode::NOT_FOUND => "Route not found",
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large",
        StatusCode::INTERNAL_SERVER_ERROR => "Internal server error",
        other => other.canonical_reason().unwrap_or("Error"),
    };
    res.map_body(|head, _| {
        head.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        head.headers.remove(header::CONTENT_LENGTH);
        BoxBody::new(envelope::failure_body(message, None, None))
    })
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn share_tokens_never_reach_the_logs() {
        let token = "ab".repeat(32);
        for (path, logged) in [
            (format!("/track/{token}"), "/track/<token>"),
            (format!("/api/track/{token}"), "/api/track/<token>"),
            (format!("/api/v1/track/{token}/"), "/api/v1/track/<token>/"),
            (format!("/ws/track/{token}"), "/ws/track/<token>"),
            (
                "/api/orders/7/share-links".into(),
                "/api/orders/7/share-links",
            ),
            ("/track".into(), "/track"),
        ] {
            assert_eq!(loggable_path(&path), logged);
        }
    }
}
