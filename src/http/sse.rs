//! Server-Sent Events, for clients behind proxies that break WebSocket (and for `curl -N`):
//! `GET /orders/{id}/events`, `GET /track/{token}/events` and `GET /notifications/events`.
//!
//! Each is the WebSocket session of the same topic (`realtime::session`), writing
//! `text/event-stream` instead of frames: one `data:` line per event with the event's JSON,
//! `id:` its seq (none on a transient position), a `: ping` comment every `ws.heartbeat_secs`.
//! A client resumes with `Last-Event-ID` (sent by `EventSource` on reconnect) or `?since=`,
//! and gets every event after it, nothing twice; without either it starts from a snapshot.
//! Who may follow what is the WebSocket's rule. `EventSource` cannot set headers, so the token
//! may come as `?token=` as well as `Authorization: Bearer` (query strings are never logged);
//! a share link's stream needs none. A stream the server ends gets a last event
//! `{"type":"close","code":..,"reason":..}` with the WebSocket's close code.

use std::convert::Infallible;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::IntoParams;

use super::error::ApiError;
use super::extract::bearer_token;
use super::openapi::NotFound;
use super::routes::Routes;
use super::state::AppState;
use super::ws::{link_viewer, parse_since, user_with_slot};
use crate::access::visible_order;
use crate::domain::topic::Topic;
use crate::realtime::hub::ThreadHub;
use crate::realtime::outbound::EVENT_STREAM_CHANNEL;
use crate::realtime::session::{Opening, Session};
use crate::realtime::slots::SocketSlot;
use crate::realtime::viewer::Viewer;

/// How long a client waits before reconnecting after the stream breaks (the `retry:` field).
const RECONNECT_MS: u32 = 2000;

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/orders/{id:\\d+}/events", |r| r.get(order_events))
        .resource("/track/{token}/events", |r| r.get(shared_events))
        .resource("/notifications/events", |r| r.get(own_events));
}

/// Where a stream resumes, and (for `EventSource`) its token.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StreamQuery {
    /// Send every event after this seq first (`Last-Event-ID` wins over it).
    since: Option<String>,
    /// The bearer token, for `EventSource`, which cannot set headers (`Authorization: Bearer`
    /// wins over it). Logs never show query strings.
    token: Option<String>,
}

impl StreamQuery {
    /// The caller's token: the header's, else the query's.
    fn credentials(&self, req: &HttpRequest) -> Result<String, ApiError> {
        bearer_token(req)
            .map(str::to_string)
            .or_else(|| self.token.clone().filter(|t| !t.is_empty()))
            .ok_or(ApiError::Unauthorized("Unauthorized"))
    }
}

#[utoipa::path(
    get,
    path = "/orders/{id}/events",
    tag = "Server-Sent Events",
    params(("id" = i64, Path, description = "Order id"), StreamQuery, ("Last-Event-ID" = Option<i64>, Header, description = "The last seq received: a reconnecting `EventSource` sends it by itself")),
    responses(
        (status = 200, description = "`text/event-stream` of the order's events (owner or staff): `id:` the seq, `data:` the event's JSON as on the WebSocket", content_type = "text/event-stream", body = String),
        (status = 404, response = NotFound),
    )
)]
async fn order_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let since = resume_from(&req, &query)?;
    let token = query.credentials(&req)?;
    let (user, slot) = user_with_slot(&state, &req, &token).await?;
    let order = visible_order(&state.pool, &user, id.into_inner()).await?;
    stream(
        &state,
        &req,
        Viewer::User(user),
        slot,
        Topic::Order(order.id),
        since,
    )
}

#[utoipa::path(
    get,
    path = "/notifications/events",
    tag = "Server-Sent Events",
    params(StreamQuery, ("Last-Event-ID" = Option<i64>, Header, description = "The last seq received: a reconnecting `EventSource` sends it by itself")),
    responses(
        (status = 200, description = "`text/event-stream` of the caller's own user stream (notifications)", content_type = "text/event-stream", body = String),
    )
)]
async fn own_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let since = resume_from(&req, &query)?;
    let token = query.credentials(&req)?;
    let (user, slot) = user_with_slot(&state, &req, &token).await?;
    let topic = Topic::User(user.id());
    stream(&state, &req, Viewer::User(user), slot, topic, since)
}

#[utoipa::path(
    get,
    path = "/track/{token}/events",
    tag = "Server-Sent Events",
    security(()),
    params(
        ("token" = String, Path, description = "The share link's token, the only credential needed"),
        ("since" = Option<String>, Query, description = "Send every event after this seq first (`Last-Event-ID` wins over it)"),
        ("Last-Event-ID" = Option<i64>, Header, description = "The last seq received: a reconnecting `EventSource` sends it by itself")),
    responses(
        (status = 200, description = "`text/event-stream` of the order's public view, as the share link's socket carries it", content_type = "text/event-stream", body = String),
        (status = 404, response = NotFound),
    )
)]
async fn shared_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let since = resume_from(&req, &query)?;
    let (viewer, slot, topic) = link_viewer(&state, &req, &token).await?;
    stream(&state, &req, viewer, slot, topic, since)
}

/// Where to resume: `Last-Event-ID` (the browser's reconnect) over `?since=` (the first URL's).
fn resume_from(req: &HttpRequest, query: &StreamQuery) -> Result<Option<i64>, ApiError> {
    match req.headers().get("Last-Event-ID") {
        Some(value) => parse_since(Some(value.to_str().unwrap_or("-"))).map_err(|_| {
            ApiError::BadRequest("Last-Event-ID must be a whole number of at least 0".into())
        }),
        None => parse_since(query.since.as_deref()),
    }
}

/// Starts the topic's session on this worker's hub and answers with its stream.
fn stream(
    state: &AppState,
    req: &HttpRequest,
    viewer: Viewer,
    slot: SocketSlot,
    topic: Topic,
    since: Option<i64>,
) -> Result<HttpResponse, ApiError> {
    let hub = req
        .app_data::<ThreadHub>()
        .cloned()
        .ok_or_else(|| ApiError::internal("the worker's hub is missing"))?;
    let (sender, mut receiver) = mpsc::channel::<Bytes>(EVENT_STREAM_CHANNEL);
    // The first chunk goes out at once, so the client sees the stream open before any event.
    let _ = sender.try_send(Bytes::from(format!("retry: {RECONNECT_MS}\n\n")));
    let opening = Opening {
        services: state.realtime.clone(),
        hub,
        viewer,
        slot: None,
        initial: vec![(topic, since)],
    };
    Session::open_event_stream(opening, sender);
    // The body holds the slot: it lives as long as the connection does, so a client that
    // stopped reading (its session gone, its connection not) still counts against the caps.
    let body = futures_util::stream::poll_fn(move |cx| {
        let _held = &slot;
        receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(Ok::<Bytes, Infallible>))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Proxies that buffer answers (nginx) would hold events back.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
