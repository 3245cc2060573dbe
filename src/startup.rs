//! Builds the whole server from settings: database (embedded or given), migrations, pool,
//! actors and the HTTP server. Production and the tests start it through this same code.

use std::io;
use std::net::TcpListener;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Arbiter};
use actix_web::dev::{Server, ServerHandle};
use actix_web::web;
use tokio::sync::watch;

use crate::access::TopicAccess;
use crate::actors::order::Orders;
use crate::actors::warehouse::Warehouses;
use crate::auth::jwt::JwtKeys;
use crate::auth::sealed::SealingKey;
use crate::auth::throttle::LoginThrottle;
use crate::auth::totp::TotpKeys;
use crate::config::{BrokerKind, Settings, MIN_JWT_SECRET_BYTES};
use crate::db::embedded::{EmbeddedError, EmbeddedPostgres, DATABASE_NAME};
use crate::db::migrate::{self, MigrateError};
use crate::db::notifications::retention::Retention;
use crate::dispatch::positions::Positions;
use crate::http;
use crate::http::state::AppState;
use crate::metrics::Metrics;
use crate::realtime::broker::Broker;
use crate::realtime::hub::Hub;
use crate::realtime::nats::NatsBroker;
use crate::realtime::postgres::{PgBroker, PgHistory};
use crate::realtime::services::Services;
use crate::webhooks;

/// Time for close frames to reach clients before connections are torn down.
const CLOSE_FRAME_GRACE: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("database.url (DATABASE_URL) is not a PostgreSQL connection string: {0}")]
    BadUrl(tokio_postgres::Error),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error("{0}")]
    Secret(String),
    #[error(
        "cannot listen on {address}: {source}. If another server holds that port, stop it or \
         pick another: PORT=8081 (or server.port in config.toml; metrics.address for /metrics)"
    )]
    Listen { address: String, source: io::Error },
    #[error("cannot start the HTTP server: {0}")]
    Io(#[from] io::Error),
    #[error("cannot build the webhooks' HTTP client: {0}")]
    Webhooks(String),
    #[error("broker.nats_url is not a NATS address: {0}")]
    Broker(String),
}

/// Binds `address` or says which address could not be had, and how to choose another.
fn bind(address: &str) -> Result<TcpListener, StartupError> {
    TcpListener::bind(address).map_err(|source| StartupError::Listen {
        address: address.to_string(),
        source,
    })
}

/// The database to use: `database.url`, or the embedded cluster (returned, to be stopped).
pub async fn connect_database(
    settings: &Settings,
) -> Result<(tokio_postgres::Config, Option<EmbeddedPostgres>), StartupError> {
    let (mut config, embedded) = if settings.database.url.trim().is_empty() {
        let embedded = EmbeddedPostgres::start(&settings.database.data_dir).await?;
        (embedded.config(DATABASE_NAME), Some(embedded))
    } else {
        let config = tokio_postgres::Config::from_str(settings.database.url.trim())
            .map_err(StartupError::BadUrl)?;
        (config, None)
    };
    // Every connection says how its announcements go out (`announce`, sql/V11), the command
    // line's included, so a user it deletes is announced to the broker the servers use.
    let options = match config.get_options() {
        Some(given) => format!(
            "{given} -c order_tracker.broker={}",
            settings.broker.kind.as_str()
        ),
        None => format!("-c order_tracker.broker={}", settings.broker.kind.as_str()),
    };
    config.options(&options);
    Ok((config, embedded))
}

/// Which database this process uses, in words for people: the embedded cluster's folder, or
/// the server and database name of `database.url` (never its password).
pub fn describe_database(
    config: &tokio_postgres::Config,
    embedded: Option<&EmbeddedPostgres>,
) -> String {
    if let Some(embedded) = embedded {
        return format!(
            "the embedded PostgreSQL at {}",
            embedded.data_dir().display()
        );
    }
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let name = config.get_dbname().unwrap_or("(default)");
    format!("database {name} at {host}:{port}")
}

pub struct Application {
    port: u16,
    /// The port of `metrics.address`, when `/metrics` has an address of its own.
    metrics_port: Option<u16>,
    server: Server,
    /// `/metrics` on an address of its own (`metrics.address`), if set.
    metrics_server: Option<Server>,
    hub: Hub,
    /// Stops this process's webhook sender (`webhooks::Sender::start`).
    stop_webhooks: Arc<watch::Sender<bool>>,
    /// Pool connections and order actors (`db::thread`); stopped before the embedded database.
    database_thread: Arbiter,
    embedded: Option<EmbeddedPostgres>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        // The ports first: a port in use is the likeliest first-run trouble, and it is reported
        // before a database or an actor is started.
        let server = &settings.server;
        let listener = match server.host.contains(':') {
            true => bind(&format!("[{}]:{}", server.host, server.port))?,
            false => bind(&format!("{}:{}", server.host, server.port))?,
        };
        let metrics_listener = match settings.metrics.address.trim() {
            "" => None,
            address => Some(bind(address)?),
        };
        let (pg_config, embedded) = connect_database(&settings).await?;
        migrate::run(&pg_config).await?;
        tracing::info!(
            database = %describe_database(&pg_config, embedded.as_ref()),
            "database ready"
        );
        let database_thread = Arbiter::new();
        let pool = crate::db::pool(
            pg_config.clone(),
            settings.database.pool_size,
            database_thread.handle(),
        );
        let secret = kept_secret(&settings.auth.jwt_secret, &settings, "jwt_secret")?;
        let totp_key = kept_secret(&settings.auth.totp_key, &settings, "totp_key")?;
        let sealing = Arc::new(SealingKey::from_hex(&totp_key));
        let metrics = Arc::new(Metrics::default());
        let received = metrics.broker_events_received.clone();
        let broker: Arc<dyn Broker> = match settings.broker.kind {
            BrokerKind::Postgres => Arc::new(PgBroker::new(pg_config, pool.clone(), received)),
            BrokerKind::Nats => Arc::new(
                NatsBroker::connect(
                    &settings.broker,
                    secret.as_bytes(),
                    pg_config,
                    pool.clone(),
                    received,
                )
                .await
                .map_err(|e| StartupError::Broker(e.to_string()))?,
            ),
        };
        tracing::info!(kind = settings.broker.kind.as_str(), "broker");
        let hub = Hub::new(broker.clone());
        broker.start(Box::new(hub.clone()));
        Retention::new(pool.clone(), settings.notifications.clone()).start();
        let idle = Duration::from_secs(settings.actors.idle_secs);

        let positions = Positions::new(
            pool.clone(),
            database_thread.handle(),
            Duration::from_secs(settings.dispatch.location_persist_secs),
        );

        let auth = &settings.auth;
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            jwt: JwtKeys::new(
                secret.as_bytes(),
                &auth.jwt_issuer,
                &auth.jwt_audience,
                auth.jwt_ttl_secs,
            ),
            totp: TotpKeys::new(sealing.clone(), &auth.totp_issuer),
            sealing: sealing.clone(),
            rate_limiter: Default::default(),
            login_throttle: LoginThrottle::new(
                auth.login_free_failures,
                Duration::from_secs(auth.login_max_delay_secs),
            ),
            hub: hub.clone(),
            realtime: Arc::new(Services {
                history: Arc::new(PgHistory(pool.clone())),
                authorize: Arc::new(TopicAccess {
                    pool: pool.clone(),
                    share_ttl_days: settings.share.ttl_days,
                    drivers_assigned_only: settings.dispatch.drivers_assigned_only,
                }),
                settings: settings.ws.clone(),
                delivered: metrics.events_delivered.clone(),
                link_recheck: Duration::from_secs(settings.share.recheck_secs.max(1)),
                positions: positions.clone(),
            }),
            socket_slots: Default::default(),
            orders: Orders::new(
                pool.clone(),
                database_thread.handle(),
                idle,
                positions.clone(),
            ),
            positions,
            warehouses: Warehouses::new(
                pool.clone(),
                database_thread.handle(),
                settings.commerce.clone(),
                idle,
            ),
            metrics,
            settings: settings.clone(),
        });

        let (stop_webhooks, webhooks_stopped) = watch::channel(false);
        if settings.webhooks.enabled {
            let attempts = state.metrics.webhook_attempts.clone();
            webhooks::Sender::new(pool.clone(), sealing, settings.webhooks.clone(), attempts)
                .map_err(|e| StartupError::Webhooks(e.to_string()))?
                .start(webhooks_stopped);
        }

        let port = listener.local_addr()?.port();
        let metrics_port = match &metrics_listener {
            Some(listener) => Some(listener.local_addr()?.port()),
            None => None,
        };
        let metrics_server = match metrics_listener {
            Some(listener) => {
                let address = listener.local_addr()?;
                tracing::info!(%address, "metrics listening");
                Some(http::server::start_metrics(listener, state.clone())?)
            }
            None => None,
        };
        let server = http::server::start(listener, state)?;
        tracing::info!(host = %settings.server.host, port, "order-tracker listening");
        Ok(Application {
            port,
            metrics_port,
            server,
            metrics_server,
            hub,
            stop_webhooks: Arc::new(stop_webhooks),
            database_thread,
            embedded,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// A handle that stops this application gracefully from elsewhere.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            server: self.server.handle(),
            metrics_server: self.metrics_server.as_ref().map(Server::handle),
            hub: self.hub.clone(),
            stop_webhooks: self.stop_webhooks.clone(),
        }
    }

    /// Serves until stopped, then stops the embedded PostgreSQL if this process started it.
    pub async fn run_until_stopped(mut self) -> io::Result<()> {
        if let Some(metrics) = self.metrics_server.take() {
            actix::spawn(metrics);
        }
        let result = (&mut self.server).await;
        self.database_thread.stop();
        if let Some(mut embedded) = self.embedded.take() {
            tokio::task::spawn_blocking(move || embedded.stop())
                .await
                .ok();
        }
        result
    }

    /// Serves until Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) -> io::Result<()> {
        let stopper = self.stopper();
        actix::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            stopper.stop().await;
        });
        self.run_until_stopped().await
    }
}

#[derive(Clone)]
pub struct Stopper {
    server: ServerHandle,
    metrics_server: Option<ServerHandle>,
    /// Its broker is stopped before the embedded database, so the database going away is not
    /// reported as a failure.
    hub: Hub,
    stop_webhooks: Arc<watch::Sender<bool>>,
}

impl Stopper {
    /// Sockets get a close frame, in-flight requests finish, then the server stops.
    pub async fn stop(&self) {
        if self.hub.close_all().await > 0 {
            tokio::time::sleep(CLOSE_FRAME_GRACE).await;
        }
        self.stop_webhooks.send_replace(true);
        self.server.stop(true).await;
        if let Some(metrics) = &self.metrics_server {
            metrics.stop(true).await;
        }
        self.hub.broker().stop().await;
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The configured secret, else the one kept in the data folder as `file` (generated on first
/// start: 32 random bytes as 64 hex characters, which suits both the JWT and the TOTP key).
fn kept_secret(configured: &str, settings: &Settings, file: &str) -> Result<String, StartupError> {
    if !configured.is_empty() {
        return Ok(configured.to_string());
    }
    let path = settings.data_root().join(file);
    read_or_create_secret(&path).map_err(|e| {
        StartupError::Secret(format!(
            "cannot keep the generated secret at {}: {e}",
            path.display()
        ))
    })
}

fn read_or_create_secret(path: &Path) -> io::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(existing) = std::fs::read_to_string(path) {
        if existing.trim().len() >= MIN_JWT_SECRET_BYTES {
            return Ok(existing.trim().to_string());
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes: [u8; 32] = rand::random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(secret.as_bytes())?;
    Ok(secret)
}
