//! WebSocket handshakes: `GET /ws/orders/{id}` (one order), `GET /ws` (subscribe by frames),
//! `GET /api/ws` (the caller's notifications) and `GET /ws/track/{token}` (a share link's public
//! view of one order, without login).
//!
//! Everything is checked before the upgrade, so a refused handshake is a plain enveloped
//! 401/403/404/429. The token may come as `Authorization: Bearer`, as the subprotocol pair
//! `order-tracker, bearer.<jwt>` (browsers cannot set headers), or as `?token=`. One user holds
//! at most `ws.max_sockets_per_user` sockets on a process, and a share link
//! `share.max_viewers_per_link`; the next handshake is a 429.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{authenticate, credentials};
use super::openapi::Forbidden;
use super::routes::Routes;
use super::share_links::{well_formed_token, UNKNOWN};
use super::state::AppState;
use crate::access::visible_order;
use crate::auth::caller::AuthUser;
use crate::db::share_links;
use crate::domain::topic::Topic;
use crate::realtime::hub::ThreadHub;
use crate::realtime::protocol;
use crate::realtime::session::{Opening, Session};
use crate::realtime::slots::SocketSlot;
use crate::realtime::viewer::{Holder, SharedOrder, Viewer};
/// How long a client refused for holding too many sockets is asked to wait.
const SOCKET_CAP_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ws").route(web::get().to(multiplexed)))
        .service(web::resource("/ws/orders/{id:\\d+}").route(web::get().to(one_order)))
        .service(web::resource("/ws/track/{token}").route(web::get().to(shared_order)));
}

/// Under the API prefixes: `/api/ws`, the caller's own `user:{id}` stream (seed 002).
pub fn api_routes(routes: &mut Routes) {
    routes.resource("/ws", |r| r.get(own_notifications));
}

#[derive(Deserialize)]
struct WsQuery {
    since: Option<String>,
}

async fn multiplexed(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (user, slot) = handshake_user(&state, &req).await?;
    open(&state, Viewer::User(user), slot, None, &req, body)
}

async fn one_order(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    query: web::Query<WsQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (user, slot) = handshake_user(&state, &req).await?;
    let since = parse_since(query.since.as_deref())?;
    let order = visible_order(&state.pool, &user, id.into_inner()).await?;
    let initial = Some((Topic::Order(order.id), since));
    open(&state, Viewer::User(user), slot, initial, &req, body)
}

/// The caller's own stream of notifications and order events over WebSocket (README "WebSocket
/// protocol"); browsers pass the token as the subprotocol `bearer.<jwt>` or as `?token=`.
#[utoipa::path(
    get,
    path = "/ws",
    tag = "WebSocket",
    params(
        ("since" = Option<String>, Query, description = "Replay the events after this `seq`"),
        ("token" = Option<String>, Query, description = "The bearer token, for clients that cannot set headers"),
    ),
    responses(
        (status = 101, description = "Switched to WebSocket: frames as README \"WebSocket protocol\" describes"),
        (status = 403, response = Forbidden),
    )
)]
async fn own_notifications(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<WsQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (user, slot) = handshake_user(&state, &req).await?;
    let since = parse_since(query.since.as_deref())?;
    let topic = Topic::User(user.id());
    open(
        &state,
        Viewer::User(user),
        slot,
        Some((topic, since)),
        &req,
        body,
    )
}

/// Anonymous: whoever holds a live link follows its order's public view (`track:{id}`) and
/// nothing else. No credentials ride along, so no origin check is needed.
async fn shared_order(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    query: web::Query<WsQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let since = parse_since(query.since.as_deref())?;
    let (viewer, slot, topic) = link_viewer(&state, &req, &token).await?;
    open(&state, viewer, slot, Some((topic, since)), &req, body)
}

/// A share link's viewer, a place among its link's (and its address's) viewers, and the public
/// view it follows; an unknown, malformed, revoked or expired token is the same 404.
pub(super) async fn link_viewer(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
) -> Result<(Viewer, SocketSlot, Topic), ApiError> {
    if !well_formed_token(token) {
        return Err(UNKNOWN);
    }
    let share = &state.settings.share;
    let link = share_links::find_live(&state.pool, token, share.ttl_days)
        .await?
        .ok_or(UNKNOWN)?;
    let viewer = Viewer::Link(SharedOrder {
        link_id: link.id,
        order_id: link.order_id,
        expires_at: link.expires_at,
    });
    // Anyone can make links to orders of their own, so an address is capped across links too.
    let mut caps = vec![(viewer.holder(), share.max_viewers_per_link)];
    if let Some(address) = req.peer_addr() {
        caps.push((Holder::Address(address.ip()), share.max_viewers_per_address));
    }
    let slot = state
        .socket_slots
        .take_all(&caps)
        .ok_or(ApiError::TooManyRequests(SOCKET_CAP_RETRY))?;
    Ok((viewer, slot, Topic::Track(link.order_id)))
}

/// Upgrades the connection and starts the viewer's session on this worker's hub, with its first
/// subscription if the route names one (already authorized).
fn open(
    state: &AppState,
    viewer: Viewer,
    slot: SocketSlot,
    initial: Option<(Topic, Option<i64>)>,
    req: &HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let hub = req
        .app_data::<ThreadHub>()
        .cloned()
        .ok_or_else(|| ApiError::internal("the worker's hub is missing"))?;
    let (response, session, stream) =
        actix_ws::handle_with_protocols(req, body, &[protocol::SUBPROTOCOL])
            .map_err(|e| ApiError::BadRequest(format!("WebSocket handshake failed: {e}")))?;
    let opening = Opening {
        services: state.realtime.clone(),
        hub,
        viewer,
        slot: Some(slot),
        initial: initial.into_iter().collect(),
    };
    Session::open(opening, session, stream);
    Ok(response)
}

pub(super) fn parse_since(since: Option<&str>) -> Result<Option<i64>, ApiError> {
    match since {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| {
                ApiError::BadRequest("since must be a whole number of at least 0".into())
            }),
    }
}

/// The caller and a socket slot of theirs, or why the handshake is refused.
async fn handshake_user(
    state: &AppState,
    req: &HttpRequest,
) -> Result<(AuthUser, SocketSlot), ApiError> {
    check_origin(state, req)?;
    let token = credentials(req).ok_or(ApiError::Unauthorized("Unauthorized"))?;
    user_with_slot(state, req, &token).await
}

/// The user a token names and one of their places among the sockets and streams they may hold
/// open on this process (`ws.max_sockets_per_user`).
pub(super) async fn user_with_slot(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
) -> Result<(AuthUser, SocketSlot), ApiError> {
    let user = authenticate(state, token, req).await?;
    let slot = state
        .socket_slots
        .take(
            Holder::User(user.id()),
            state.settings.ws.max_sockets_per_user,
        )
        .ok_or(ApiError::TooManyRequests(SOCKET_CAP_RETRY))?;
    Ok((user, slot))
}

/// Blocks cross-site WebSocket hijacking: a page from another site cannot ride the user's
/// credentials into a socket. Clients that send no `Origin` (non-browsers) are not affected.
fn check_origin(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let allowed = &state.settings.ws.allowed_origins;
    let ok = if allowed.is_empty() {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.trim_end_matches('/').eq_ignore_ascii_case(host))
    } else {
        allowed.iter().any(|a| {
            a == "*"
                || a.trim_end_matches('/')
                    .eq_ignore_ascii_case(origin.trim_end_matches('/'))
        })
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Origin not allowed"))
    }
}
