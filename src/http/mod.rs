//! The HTTP surface: one module per resource, plus the envelope, errors, extractors and the
//! outer middleware. Every API route is served under `/api` and, unchanged, under `/api/v1`.

pub mod admin;
pub mod auth;
pub mod body;
pub mod cart;
pub mod checkout;
pub mod dispatch;
pub mod early_errors;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod health;
pub mod input_guard;
pub mod issued_token;
pub mod map;
pub mod messages;
pub mod middleware;
pub mod notifications;
pub mod openapi;
pub mod orders;
pub mod pages;
pub mod pagination;
pub mod products;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod share_links;
pub mod sse;
pub mod state;
pub mod totp;
pub mod tracking;
pub mod tracking_views;
pub mod upgrade;
pub mod views;
pub mod warehouse_stocks;
pub mod warehouses;
pub mod webhooks;
pub mod ws;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, NormalizePath};
use actix_web::{web, App};

use self::routes::Routes;
use self::state::AppState;
use crate::realtime::hub::ThreadHub;

/// The routes of the JSON API, mounted under each prefix; listed, they are what the OpenAPI
/// document must describe.
pub fn api(routes: &mut Routes) {
    auth::routes(routes);
    totp::routes(routes);
    tracking::routes(routes);
    orders::routes(routes);
    share_links::routes(routes);
    dispatch::routes(routes);
    admin::routes(routes);
    webhooks::routes(routes);
    sse::routes(routes);
    notifications::routes(routes);
    products::routes(routes);
    warehouses::routes(routes);
    warehouse_stocks::routes(routes);
    cart::routes(routes);
    map::routes(routes);
    ws::api_routes(routes);
    openapi::routes(routes);
}

/// Every route of the server; `/metrics` too unless it has an address of its own.
pub fn routes(cfg: &mut web::ServiceConfig, metrics_here: bool) {
    health::routes(cfg, metrics_here);
    pages::routes(cfg);
    ws::routes(cfg);
    for prefix in ["/api/v1", "/api"] {
        cfg.service(web::scope(prefix).configure(|cfg| api(&mut Routes::mount(cfg))));
    }
}

/// The whole app: state, the worker's part of the hub, input limits, routes and the outer
/// middleware. Each worker builds it twice: for ordinary requests and for those that switch
/// protocols (see `upgrade`).
pub fn app(
    state: web::Data<AppState>,
    hub: ThreadHub,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let max_body = state.settings.server.max_body_bytes;
    let metrics_here = state.settings.metrics.address.is_empty();
    App::new()
        .app_data(state)
        .app_data(hub)
        .app_data(extract::json_config(max_body))
        .app_data(extract::path_config())
        .app_data(extract::query_config())
        .configure(|cfg| routes(cfg, metrics_here))
        .wrap(from_fn(input_guard::guard))
        .wrap(from_fn(rate_limit::limit))
        .wrap(NormalizePath::trim())
        .wrap(from_fn(middleware::observe))
}
