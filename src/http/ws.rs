//! WebSocket handshakes: `GET /ws/orders/{id}` (one order), `GET /ws` (subscribe by frames) and
//! `GET /api/ws` (the caller's notifications).
//!
//! Everything is checked before the upgrade, so a refused handshake is a plain enveloped
//! 401/403/404. The token may come as `Authorization: Bearer`, as the subprotocol pair
//! `order-tracker, bearer.<jwt>` (browsers cannot set headers), or as `?token=`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{authenticate, bearer_token, AuthUser};
use crate::access::visible_order;
use crate::actors::socket::SocketActor;
use crate::domain::topic::Topic;
use crate::state::AppState;

/// The subprotocol we answer with; the token half of the pair is never echoed.
pub const SUBPROTOCOL: &str = "order-tracker";
const BEARER_PROTOCOL_PREFIX: &str = "bearer.";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ws").route(web::get().to(multiplexed)))
        .service(web::resource("/ws/orders/{id:\\d+}").route(web::get().to(one_order)));
}

/// Under the API prefixes: `/api/ws`, the caller's own `user:{id}` stream (seed 002).
pub fn api_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ws").route(web::get().to(own_notifications)));
}

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
    since: Option<String>,
}

async fn multiplexed(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<WsQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let user = handshake_user(&state, &req, &query).await?;
    SocketActor::open(state, user, Vec::new(), &req, body)
}

async fn one_order(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    query: web::Query<WsQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let user = handshake_user(&state, &req, &query).await?;
    let since = parse_since(query.since.as_deref())?;
    let order = visible_order(&state.pool, &user, id.into_inner()).await?;
    SocketActor::open(
        state,
        user,
        vec![(Topic::Order(order.id), since)],
        &req,
        body,
    )
}

async fn own_notifications(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<WsQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let user = handshake_user(&state, &req, &query).await?;
    let since = parse_since(query.since.as_deref())?;
    let topic = Topic::User(user.id());
    SocketActor::open(state, user, vec![(topic, since)], &req, body)
}

fn parse_since(since: Option<&str>) -> Result<Option<i64>, ApiError> {
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

async fn handshake_user(
    state: &AppState,
    req: &HttpRequest,
    query: &WsQuery,
) -> Result<AuthUser, ApiError> {
    check_origin(state, req)?;
    let token = bearer_token(req)
        .map(str::to_string)
        .or_else(|| subprotocol_token(req))
        .or_else(|| query.token.clone())
        .ok_or(ApiError::Unauthorized("Unauthorized"))?;
    authenticate(state, &token, req).await
}

fn subprotocol_token(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            p.trim()
                .strip_prefix(BEARER_PROTOCOL_PREFIX)
                .map(str::to_string)
        })
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
