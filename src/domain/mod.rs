//! Pure domain rules: no I/O, so every rule here is unit tested on its own.

pub mod checkout;
pub mod commerce;
pub mod feedback;
pub mod locale;
pub mod map;
pub mod money;
pub mod new_order;
pub mod notification;
pub mod position;
pub mod registration;
pub mod role;
pub mod status;
pub mod status_update;
pub mod topic;
pub mod validation;
pub mod webhook;
