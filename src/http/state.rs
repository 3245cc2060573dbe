//! What every handler shares, built once at startup.

use std::sync::Arc;

use deadpool_postgres::Pool;

use super::rate_limit::limiter::RateLimiter;
use crate::actors::order::Orders;
use crate::actors::warehouse::Warehouses;
use crate::auth::jwt::JwtKeys;
use crate::auth::sealed::SealingKey;
use crate::auth::throttle::LoginThrottle;
use crate::auth::totp::TotpKeys;
use crate::config::Settings;
use crate::dispatch::positions::Positions;
use crate::metrics::Metrics;
use crate::realtime::hub::Hub;
use crate::realtime::services::Services;
use crate::realtime::slots::SocketSlots;

pub struct AppState {
    /// Connections for requests; `database.pool_size` bounds them.
    pub pool: Pool,
    /// Signs tokens at login and checks them on every request and handshake.
    pub jwt: JwtKeys,
    /// Seals TOTP secrets at rest and checks codes.
    pub totp: TotpKeys,
    /// Seals the secrets the server keeps and reads back (webhook signing secrets; TOTP's too).
    pub sealing: Arc<SealingKey>,
    /// Requests per minute per user or address.
    pub rate_limiter: RateLimiter,
    /// Per-account and per-address failed-login delays.
    pub login_throttle: LoginThrottle,
    /// Which sockets of this process follow which topic (is a user online?).
    pub hub: Hub,
    /// What each real-time session is given when a handshake opens it.
    pub realtime: Arc<Services>,
    /// Open sockets per user, so one account cannot hold more than `ws.max_sockets_per_user`.
    pub socket_slots: SocketSlots,
    /// Each order's changes, serialized on this node.
    pub orders: Orders,
    /// Drivers' positions, thinned for subscribers and the database.
    pub positions: Positions,
    /// Each warehouse's stock changes, batched on this node.
    pub warehouses: Warehouses,
    /// Counters behind `GET /metrics`.
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
}
