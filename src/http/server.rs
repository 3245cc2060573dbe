//! The HTTP server: the app on actix-http's HTTP/1 service, one instance per worker, plus the
//! path for requests that switch protocols (`upgrade`). This is what actix-web's `HttpServer`
//! assembles, with that one addition, which `HttpServer` offers no way to make.

use std::io;
use std::net::TcpListener;
use std::time::Duration;

use actix_http::{HttpService, Protocol};
use actix_server::Server;
use actix_service::fn_service;
use actix_service::{IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use actix_web::web;
use tokio::net::TcpStream;

use super::early_errors::Enveloped;
use super::state::AppState;
use super::upgrade;

/// Starts serving `listener`; the server stops through its handle, never on its own signals.
pub fn start(listener: TcpListener, state: web::Data<AppState>) -> io::Result<Server> {
    let settings = &state.settings.server;
    let mut builder = Server::build()
        .disable_signals()
        .shutdown_timeout(settings.shutdown_timeout_secs);
    if settings.workers > 0 {
        builder = builder.workers(settings.workers);
    }
    // Lets idle keep-alive connections close as soon as a shutdown starts.
    let shutdown = builder.graceful_shutdown_signal();
    let builder = builder.listen("order-tracker", listener, move || {
        let shutdown = shutdown.clone();
        // Runs on the worker thread: its part of the hub lives there, shared by both apps.
        let hub = state.hub.attach();
        let app = super::app(state.clone(), hub.clone())
            .into_factory()
            .map_err(|err| err.error_response());
        let http = HttpService::build()
            // As `HttpServer` sets it: a connection being closed gets a second to finish.
            .client_disconnect_timeout(Duration::from_secs(1))
            .graceful_shutdown_signal(move || {
                let shutdown = shutdown.clone();
                async move { shutdown.notified().await }
            })
            .upgrade(upgrade::factory(state.clone(), hub))
            .finish(actix_service::map_config(app, |_| AppConfig::default()));
        // What `HttpService::tcp` does, with the connection wrapped so the parser's own error
        // answers are enveloped too (`early_errors`).
        fn_service(|io: TcpStream| async move {
            let peer = io.peer_addr().ok();
            Ok((Enveloped::new(io), Protocol::Http1, peer))
        })
        .and_then(http)
    })?;
    Ok(builder.run())
}

/// Serves `/metrics` alone on `listener` (`metrics.address`), with one worker.
pub fn start_metrics(listener: TcpListener, state: web::Data<AppState>) -> io::Result<Server> {
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .configure(super::health::metrics_route)
            .wrap(actix_web::middleware::from_fn(super::middleware::observe))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
