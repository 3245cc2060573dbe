//! The actors: a `Registry` per worker thread that routes committed events to the sockets of
//! its thread (`registries` reaches them all), a `PgListener` that hears them from PostgreSQL,
//! an `OrderActor` per order being changed, a `SocketActor` per WebSocket connection, and a
//! `WarehouseActor` per warehouse whose stock is changing.

pub mod delivery;
pub mod directory;
pub mod order;
pub mod outbound;
pub mod pg_listener;
pub mod registries;
pub mod registry;
pub mod retention;
pub mod socket;
pub mod socket_slots;
pub mod subscribers;
pub mod warehouse;
