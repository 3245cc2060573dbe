//! Settings: `config.toml` layered under the environment.
//!
//! Order of precedence, lowest first: built-in defaults, `config.toml` (or the file given on the
//! command line), `ORDER_TRACKER__SECTION__KEY` variables, then the short names operators expect
//! (`DATABASE_URL`, `JWT_SECRET`, `PORT`). `.env` is loaded into the environment first.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Shortest HS256 secret we accept: a shorter key makes the MAC brute-forceable.
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// Below this bcrypt cost a stolen hash table falls too fast; only tests may go lower.
pub const MIN_BCRYPT_COST: u32 = 10;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub ws: WsSettings,
    pub notifications: NotificationSettings,
    pub commerce: CommerceSettings,
    pub share: ShareSettings,
    pub dispatch: DispatchSettings,
    pub map: MapSettings,
    pub webhooks: WebhookSettings,
    pub broker: BrokerSettings,
    pub actors: ActorSettings,
    pub metrics: MetricsSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub max_body_bytes: usize,
    /// Seconds a request body may send nothing before the request is answered 408.
    pub body_timeout_secs: u64,
    pub shutdown_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Empty means "run the embedded PostgreSQL".
    pub url: String,
    pub pool_size: usize,
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// Empty means "generate one and keep it next to the embedded database".
    pub jwt_secret: String,
    pub jwt_ttl_secs: i64,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub bcrypt_cost: u32,
    pub login_free_failures: u32,
    pub login_max_delay_secs: u64,
    pub totp_issuer: String,
    /// Empty means "generate one and keep it next to the embedded database".
    pub totp_key: String,
    pub totp_free_failures: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub member_per_minute: u32,
    pub admin_per_minute: u32,
    /// Registrations one client address may make per hour.
    pub register_per_hour: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WsSettings {
    pub heartbeat_secs: u64,
    /// Empty means same origin only; `*` allows every origin.
    pub allowed_origins: Vec<String>,
    pub max_frame_bytes: usize,
    pub outbound_queue: usize,
    pub messages_per_minute: u32,
    /// Sockets one user may hold open on one process.
    pub max_sockets_per_user: usize,
    /// Seconds a write to a socket may stay blocked before the connection is dropped.
    pub write_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NotificationSettings {
    pub retention_days: u32,
    pub purge_interval_secs: u64,
    pub max_title_chars: usize,
    pub max_message_chars: usize,
    pub max_data_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ShareSettings {
    /// Where people reach this server (`https://track.example.com`); share links' `url` starts
    /// with it. Empty: the `url` is a path.
    pub public_url: String,
    pub ttl_days: u32,
    pub max_links_per_order: i64,
    pub max_viewers_per_link: usize,
    pub max_viewers_per_address: usize,
    pub recheck_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DispatchSettings {
    /// Drivers change, and see on the board, only the orders assigned to them.
    pub drivers_assigned_only: bool,
    /// A shipped order's position reaches the database at most this often.
    pub location_persist_secs: u64,
    /// `delivered` needs the order's 4-digit code from the driver.
    pub require_delivery_code: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSettings {
    /// This process sends deliveries (the queue is shared by all processes).
    pub enabled: bool,
    pub timeout_secs: u64,
    /// Targets on loopback, private and other reserved addresses are allowed (tests).
    pub allow_private_targets: bool,
    pub poll_ms: u64,
    pub concurrency: usize,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// A delivery failing this long after its event is given up.
    pub retry_for_secs: u64,
    /// An endpoint without a success for this long is disabled.
    pub disable_after_secs: u64,
    pub secret_grace_secs: u64,
    pub max_endpoints: i64,
}

/// How committed events travel between server processes (README "Several processes").
#[derive(Debug, Clone, Deserialize)]
pub struct BrokerSettings {
    pub kind: BrokerKind,
    pub nats_url: String,
    /// The first tokens of every subject: `<prefix>.order.<id>`, so deployments can share a
    /// NATS server.
    pub subject_prefix: String,
    /// How often the relay looks for announcements to publish when it found none last time.
    pub relay_poll_ms: u64,
    /// Announcements the relay publishes per round at most.
    pub relay_batch: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum BrokerKind {
    /// LISTEN/NOTIFY on the database: nothing else to run.
    Postgres,
    /// Publish and subscribe on a NATS server, per topic.
    Nats,
}

impl TryFrom<String> for BrokerKind {
    type Error = String;

    fn try_from(given: String) -> Result<Self, String> {
        match given.as_str() {
            "postgres" => Ok(BrokerKind::Postgres),
            "nats" => Ok(BrokerKind::Nats),
            _ => Err(format!(
                "broker.kind must be \"postgres\" or \"nats\" (lower case), not {given:?}"
            )),
        }
    }
}

impl BrokerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerKind::Postgres => "postgres",
            BrokerKind::Nats => "nats",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct MapSettings {
    /// An XYZ tile template; empty: maps draw markers and route without tiles.
    pub tile_url: String,
    /// Credit shown on maps when tiles are drawn.
    pub attribution: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommerceSettings {
    pub batch_checkouts: bool,
    pub max_batch: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ActorSettings {
    pub idle_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// `host:port` to serve `/metrics` on instead of the main port; empty: the main port.
    pub address: String,
    /// Bearer token a scraper must send; empty: only loopback callers may read.
    pub token: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub level: String,
    pub format: String,
}

/// The defaults that apply when `config.toml` is missing, kept identical to the shipped file.
const DEFAULTS: &str = include_str!("../config.toml");

impl Settings {
    /// Loads the layered settings for the server process and checks them.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        // The settings file in use, if any: a relative data folder belongs next to it, so a
        // command run from another folder still finds the server's database.
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| Some(PathBuf::from("config.toml")).filter(|p| p.is_file()));
        if let Some(path) = &file {
            builder = builder.add_source(config::File::from(path.as_path()).required(true));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("ORDER_TRACKER")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("ws.allowed_origins")
                .try_parsing(true),
        );
        for (var, key) in [
            ("DATABASE_URL", "database.url"),
            ("JWT_SECRET", "auth.jwt_secret"),
            ("PORT", "server.port"),
        ] {
            if let Ok(value) = std::env::var(var) {
                builder = builder.set_override(key, value)?;
            }
        }
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        let base = file
            .as_deref()
            .and_then(|f| std::path::absolute(f).ok())
            .and_then(|f| f.parent().map(Path::to_path_buf));
        if let (Some(base), true) = (base, settings.database.data_dir.is_relative()) {
            settings.database.data_dir = base.join(&settings.database.data_dir);
        }
        settings.validate(MIN_BCRYPT_COST)?;
        Ok(settings)
    }

    /// The shipped defaults, unchecked: the starting point for tests, which then adjust fields.
    pub fn defaults() -> Self {
        config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .expect("the built-in config.toml is valid")
    }

    /// Refuses settings that would run insecurely or not at all.
    pub fn validate(&self, min_bcrypt_cost: u32) -> Result<(), ConfigError> {
        let secret = &self.auth.jwt_secret;
        if !secret.is_empty() && secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError::Invalid(format!(
                "auth.jwt_secret (JWT_SECRET) is {} bytes; at least {MIN_JWT_SECRET_BYTES} are required",
                secret.len()
            )));
        }
        if self.auth.bcrypt_cost < min_bcrypt_cost || self.auth.bcrypt_cost > 31 {
            return Err(ConfigError::Invalid(format!(
                "auth.bcrypt_cost must be between {min_bcrypt_cost} and 31"
            )));
        }
        let key = &self.auth.totp_key;
        if !key.is_empty() && (key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(ConfigError::Invalid(
                "auth.totp_key must be 64 hex characters (32 bytes)".into(),
            ));
        }
        if self.auth.totp_issuer.is_empty() || self.auth.totp_issuer.contains(':') {
            return Err(ConfigError::Invalid(
                "auth.totp_issuer must be non-empty and without ':'".into(),
            ));
        }
        if self.auth.jwt_ttl_secs <= 0 {
            return Err(ConfigError::Invalid(
                "auth.jwt_ttl_secs must be positive".into(),
            ));
        }
        if self.database.pool_size == 0 {
            return Err(ConfigError::Invalid(
                "database.pool_size must be at least 1".into(),
            ));
        }
        if self.ws.heartbeat_secs == 0
            || self.ws.outbound_queue == 0
            || self.ws.write_timeout_secs == 0
            || self.ws.max_sockets_per_user == 0
        {
            return Err(ConfigError::Invalid(
                "ws.heartbeat_secs, ws.outbound_queue, ws.write_timeout_secs and \
                 ws.max_sockets_per_user must be at least 1"
                    .into(),
            ));
        }
        if self.dispatch.location_persist_secs == 0 {
            return Err(ConfigError::Invalid(
                "dispatch.location_persist_secs must be at least 1".into(),
            ));
        }
        let hooks = &self.webhooks;
        if hooks.timeout_secs == 0
            || hooks.poll_ms == 0
            || hooks.concurrency == 0
            || hooks.retry_base_ms == 0
            || hooks.retry_max_ms < hooks.retry_base_ms
        {
            return Err(ConfigError::Invalid(
                "webhooks.timeout_secs, poll_ms, concurrency and retry_base_ms must be at least 1, \
                 and retry_max_ms at least retry_base_ms"
                    .into(),
            ));
        }
        let tiles = &self.map.tile_url;
        if !tiles.is_empty() && crate::domain::map::tile_origin(tiles).is_none() {
            return Err(ConfigError::Invalid(
                "map.tile_url must be an http(s) URL with {z}, {x} and {y}".into(),
            ));
        }
        if self.commerce.max_batch == 0 {
            return Err(ConfigError::Invalid(
                "commerce.max_batch must be at least 1".into(),
            ));
        }
        if self.notifications.purge_interval_secs == 0 {
            return Err(ConfigError::Invalid(
                "notifications.purge_interval_secs must be at least 1".into(),
            ));
        }
        let broker = &self.broker;
        // Subject tokens: no wildcards, spaces or empty tokens, which would widen or break
        // every subscription.
        let token = |t: &str| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !broker.subject_prefix.split('.').all(token) {
            return Err(ConfigError::Invalid(
                "broker.subject_prefix must be dot-separated tokens of letters, digits, _ and -"
                    .into(),
            ));
        }
        if broker.relay_poll_ms == 0 || broker.relay_batch < 1 {
            return Err(ConfigError::Invalid(
                "broker.relay_poll_ms and broker.relay_batch must be at least 1".into(),
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid(
                "log.format must be \"text\" or \"json\"".into(),
            ));
        }
        Ok(())
    }

    /// The folder that holds the embedded database and the generated secrets.
    pub fn data_root(&self) -> PathBuf {
        self.database
            .data_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("data"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_defaults_are_valid() {
        let s = Settings::defaults();
        s.validate(MIN_BCRYPT_COST).unwrap();
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.database.pool_size, 16);
        assert_eq!(s.auth.bcrypt_cost, 12);
        assert_eq!(s.ws.max_frame_bytes, 65536);
    }

    #[test]
    fn a_subject_prefix_that_could_widen_subscriptions_is_refused() {
        let mut s = Settings::defaults();
        for bad in ["", "a..b", "a.*", "a.>", "a b", "a.", ".a"] {
            s.broker.subject_prefix = bad.into();
            assert!(s.validate(MIN_BCRYPT_COST).is_err(), "{bad}");
        }
        s.broker.subject_prefix = "eu-1.order_tracker".into();
        assert!(s.validate(MIN_BCRYPT_COST).is_ok());
    }

    #[test]
    fn short_secret_is_refused() {
        let mut s = Settings::defaults();
        s.auth.jwt_secret = "too-short".into();
        assert!(s.validate(MIN_BCRYPT_COST).is_err());
        s.auth.jwt_secret = "x".repeat(32);
        assert!(s.validate(MIN_BCRYPT_COST).is_ok());
    }

    #[test]
    fn a_tile_url_that_could_loosen_the_pages_policy_is_refused() {
        let mut s = Settings::defaults();
        s.map.tile_url = "https://t.example/{z}/{x}/{y}.png; script-src *".into();
        assert!(s.validate(MIN_BCRYPT_COST).is_err());
        s.map.tile_url = "https://t.example/{z}/{x}/{y}.png".into();
        assert!(s.validate(MIN_BCRYPT_COST).is_ok());
        s.dispatch.location_persist_secs = 0;
        assert!(s.validate(MIN_BCRYPT_COST).is_err());
    }

    #[test]
    fn weak_bcrypt_cost_is_refused() {
        let mut s = Settings::defaults();
        s.auth.bcrypt_cost = 4;
        assert!(s.validate(MIN_BCRYPT_COST).is_err());
    }
}
