//! Authentication: JWT issue and check, bcrypt off the event loop, failed-login throttling.

pub mod caller;
pub mod jwt;
pub mod password;
pub mod throttle;
pub mod totp;
