//! order-tracker: real-time order tracking over REST and WebSocket, on PostgreSQL and actix
//! actors. `startup::Application` builds the whole server; `main.rs` only parses the command line.

pub mod access;
pub mod actors;
pub mod auth;
pub mod config;
pub mod db;
pub mod dispatch;
pub mod domain;
pub mod events;
pub mod http;
pub mod metrics;
pub mod realtime;
pub mod startup;
pub mod telemetry;
pub mod webhooks;
