//! The HTTP surface: one module per resource, plus the envelope, errors, extractors and the
//! outer middleware. Every API route is served under `/api` and, unchanged, under `/api/v1`.

pub mod admin;
pub mod auth;
pub mod cart;
pub mod checkout;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod health;
pub mod middleware;
pub mod notifications;
pub mod orders;
pub mod pagination;
pub mod products;
pub mod rate_limit;
pub mod totp;
pub mod tracking;
pub mod views;
pub mod warehouse_stocks;
pub mod warehouses;
pub mod ws;

use actix_web::web;

/// The routes of the JSON API, mounted under each prefix.
fn api(cfg: &mut web::ServiceConfig) {
    auth::routes(cfg);
    totp::routes(cfg);
    tracking::routes(cfg);
    orders::routes(cfg);
    admin::routes(cfg);
    notifications::routes(cfg);
    products::routes(cfg);
    warehouses::routes(cfg);
    warehouse_stocks::routes(cfg);
    cart::routes(cfg);
    ws::api_routes(cfg);
}

/// Every route of the server.
pub fn routes(cfg: &mut web::ServiceConfig) {
    health::routes(cfg);
    ws::routes(cfg);
    cfg.service(web::scope("/api/v1").configure(api))
        .service(web::scope("/api").configure(api));
}
