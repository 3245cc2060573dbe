//! Authentication: JWT issue and check, bcrypt off the event loop, failed-login throttling,
//! TOTP, and the key that seals the secrets the server keeps.

pub mod caller;
pub mod jwt;
pub mod password;
pub mod sealed;
pub mod throttle;
pub mod totp;
