//! The real-time path: committed events from the record to every subscribed socket, once and
//! in order.
//!
//! - `broker`: the boundaries. A `Broker` carries committed events between processes; a
//!   `History` reads them back for snapshots, `since` and gaps. `postgres` implements both;
//!   `nats` is the other broker. `announcement` reads what the database announces, for both.
//! - `hub`: which sockets of this process follow which topic, per worker thread, and the
//!   fan-out of an event to them.
//! - `session`: one actor per socket; `delivery` and `outbound` hold what it has sent and what
//!   waits to go out.
//! - `protocol`: the subprotocol, client frames, replies and close codes.
//! - `services`: what a session is given (history, access rules, settings, counter);
//!   `slots`: the per-user and per-link socket caps; `viewer`: who a session serves (a user or
//!   a share link's holder) and what revokes each.
//!
//! Nothing here knows HTTP: the handshake (`http::ws`) checks the caller and hands a session
//! its `Opening`.
//!
//! A new topic takes its name in `domain::topic`, its rule in `Authorize` (`crate::access`),
//! and its stored events in `db::events` (which `PgHistory` reads).

pub mod announcement;
pub mod broker;
pub mod delivery;
pub mod hub;
pub mod nats;
pub mod outbound;
pub mod postgres;
pub mod protocol;
pub mod services;
pub mod session;
pub mod slots;
pub mod viewer;
