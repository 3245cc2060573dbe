//! End-to-end tests: the real server over real HTTP and WebSocket, on a real PostgreSQL.
//! One test binary, so the PostgreSQL cluster is started once for all of them.

mod helpers;

mod access;
mod bad_input;
mod board;
mod browser;
mod commerce;
mod concurrency;
mod dispatch;
mod embedded;
mod fanout;
mod faults;
mod limits;
mod listener_restart;
mod live_tracking;
mod locations;
mod multi_instance;
mod notifications;
mod openapi;
mod orders;
mod pages;
mod processes;
mod public_tracking;
mod receiver;
mod revocation;
mod scale_out;
mod schemathesis;
mod share_links;
mod sse;
mod totp;
mod tracking_v1;
mod webhooks;
mod websocket;
