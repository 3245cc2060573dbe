//! The actors that serialize writes on this node: an `OrderActor` per order being changed and
//! a `WarehouseActor` per warehouse whose stock is changing, each found through a `Directory`.

pub mod directory;
pub mod order;
pub mod warehouse;
