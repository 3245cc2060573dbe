//! What every handler and actor shares, built once at startup.

use std::sync::Arc;

use actix::ArbiterHandle;
use deadpool_postgres::Pool;

use crate::actors::directory::Directory;
use crate::actors::order::OrderActor;
use crate::actors::registries::Registries;
use crate::actors::socket_slots::SocketSlots;
use crate::actors::warehouse::WarehouseActor;
use crate::auth::jwt::JwtKeys;
use crate::auth::throttle::LoginThrottle;
use crate::auth::totp::TotpKeys;
use crate::config::Settings;
use crate::http::rate_limit::RateLimiter;
use crate::metrics::Metrics;

pub struct AppState {
    /// Connections for requests and actors; `database.pool_size` bounds them.
    pub pool: Pool,
    /// Signs tokens at login and checks them on every request and handshake.
    pub jwt: JwtKeys,
    /// Seals TOTP secrets at rest and checks codes.
    pub totp: TotpKeys,
    /// Requests per minute per user or address.
    pub rate_limiter: RateLimiter,
    /// Per-account and per-address failed-login delays.
    pub login_throttle: LoginThrottle,
    /// Routes committed events to subscribed sockets, through each worker thread's registry.
    pub registries: Registries,
    /// Open sockets per user, so one account cannot hold more than `ws.max_sockets_per_user`.
    pub socket_slots: SocketSlots,
    /// Where pool connections live and order and warehouse actors run (`db::thread`).
    pub database_thread: ArbiterHandle,
    /// The live order actors, so one order's changes are serialized on this node.
    pub orders: Directory<i64, OrderActor>,
    /// The live warehouse actors, so one warehouse's stock changes are batched on this node.
    pub warehouses: Directory<i64, WarehouseActor>,
    /// Counters behind `GET /metrics`.
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
}
