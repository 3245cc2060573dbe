//! Webhooks: signed HTTP POSTs of committed events to the endpoints admins registered.
//!
//! The deliveries are queued by triggers in the transaction of the change itself
//! (`sql/V10__webhooks.sql`); `sender` takes due ones from that queue on every process and
//! records each attempt, `client` is the HTTP client that can only reach public addresses, and
//! `signature` is the header receivers check.

pub mod client;
pub mod sender;
pub mod signature;

pub use sender::Sender;
