//! Dispatch: what happens between an order leaving the kitchen and reaching its owner that is not
//! a status change. `positions`: drivers' positions, thinned for subscribers and the database,
//! with the ETA. Assignment and delivery codes are order changes (`db::orders::Action`).

pub mod positions;
