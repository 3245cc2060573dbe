//! One way to start the real server for a test: `spawn_app()` (zero2prod's pattern). Each app
//! gets a fresh database in a PostgreSQL cluster that this test process starts once through the
//! server's own embedded mechanism (or the server at `TEST_DATABASE_URL`), real HTTP on a free
//! port, and real WebSocket clients.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use order_tracker::config::Settings;
use order_tracker::db::embedded::{create_database, EmbeddedPostgres};
use order_tracker::startup::{Application, Stopper};
use serde_json::{json, Value};
use tokio_postgres::config::Host;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

pub const TEST_JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256-0123456789";
pub const PASSWORD: &str = "password123";
/// A sealing key for server processes of the binary, which on an external database must be
/// given one (as every process of a deployment must share it).
pub const TEST_TOTP_KEY: &str = "5ea1ed5ea1ed5ea1ed5ea1ed5ea1ed5ea1ed5ea1ed5ea1ed5ea1ed5ea1ed5ea1";
/// How long a test waits for a message that must come.
pub const WAIT: Duration = Duration::from_secs(10);

struct Cluster {
    pg: Mutex<EmbeddedPostgres>,
    dir: PathBuf,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

extern "C" fn stop_cluster() {
    if let Some(cluster) = CLUSTER.get() {
        if let Ok(mut pg) = cluster.pg.lock() {
            pg.stop();
        }
        let _ = std::fs::remove_dir_all(&cluster.dir);
    }
}

/// A private cluster in the temp folder, started in its own runtime so it outlives any test.
pub fn start_cluster(dir: PathBuf) -> EmbeddedPostgres {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(EmbeddedPostgres::start(&dir))
            .expect("start the test PostgreSQL (are the PostgreSQL server binaries installed?)")
    })
    .join()
    .unwrap()
}

/// The maintenance connection that test databases are created through.
fn admin_config() -> tokio_postgres::Config {
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        return url.parse().expect("TEST_DATABASE_URL is a PostgreSQL URL");
    }
    let cluster = CLUSTER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("order-tracker-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pg = start_cluster(dir.clone());
        // SAFETY: `stop_cluster` is an `extern "C" fn()` that never unwinds into C.
        unsafe { libc::atexit(stop_cluster) };
        Cluster {
            pg: Mutex::new(pg),
            dir,
        }
    });
    let config = cluster.pg.lock().unwrap().config("postgres");
    config
}

/// A key=value connection string for `config` pointed at `dbname`.
pub fn connection_string(config: &tokio_postgres::Config, dbname: &str) -> String {
    let mut parts = vec![format!("dbname={dbname}")];
    match config.get_hosts().first() {
        Some(Host::Unix(path)) => parts.push(format!("host={}", path.display())),
        Some(Host::Tcp(host)) => parts.push(format!("host={host}")),
        None => {}
    }
    if let Some(port) = config.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(user) = config.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(password) = config.get_password() {
        parts.push(format!("password={}", String::from_utf8_lossy(password)));
    }
    parts.join(" ")
}

/// A fresh, empty database; answers its connection string.
pub async fn fresh_database() -> String {
    let admin = admin_config();
    let name = format!("test_{:016x}", rand::random::<u64>());
    create_database(&admin, &name)
        .await
        .expect("create test database");
    connection_string(&admin, &name)
}

pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::defaults();
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.database.url = database_url.to_string();
    settings.database.pool_size = 8;
    settings.auth.jwt_secret = TEST_JWT_SECRET.into();
    settings.auth.bcrypt_cost = 4;
    settings.ws.heartbeat_secs = 5;
    // Tests that fire thousands of requests would hit the limits; rate_limit tests turn them on.
    settings.rate_limit.enabled = false;
    settings
}

pub struct TestApp {
    pub address: String,
    /// `http://host:port` of `/metrics` when it has an address of its own.
    pub metrics_address: Option<String>,
    pub ws_address: String,
    pub database_url: String,
    pub client: reqwest::Client,
    /// Stops an app running in this test process; `None` for a server process of its own
    /// (`tests/api/processes.rs`).
    pub stopper: Option<Stopper>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_tuned(|_| {}).await
}

/// An app on a fresh database with the test settings, changed by `tune`.
pub async fn spawn_app_tuned(tune: impl FnOnce(&mut Settings)) -> TestApp {
    let url = fresh_database().await;
    let mut settings = test_settings(&url);
    tune(&mut settings);
    spawn_app_with(settings).await
}

pub async fn spawn_app_with(settings: Settings) -> TestApp {
    // `TEST_LOG=debug cargo test` shows the servers' logs (zero2prod's switch).
    if let Ok(level) = std::env::var("TEST_LOG") {
        let mut log = settings.log.clone();
        log.level = level;
        order_tracker::telemetry::init(&log);
    }
    let database_url = settings.database.url.clone();
    let app = Application::build(settings).await.expect("build app");
    let port = app.port();
    let metrics_address = app.metrics_port().map(|p| format!("http://127.0.0.1:{p}"));
    let stopper = app.stopper();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        stopper: Some(stopper),
        metrics_address,
        ..TestApp::at(port, &database_url)
    }
}

impl TestApp {
    /// A server listening on `port` of this machine, on the database at `database_url`.
    pub fn at(port: u16, database_url: &str) -> TestApp {
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            metrics_address: None,
            ws_address: format!("ws://127.0.0.1:{port}"),
            database_url: database_url.to_string(),
            client: reqwest::Client::new(),
            stopper: None,
        }
    }
}

/// An answer: status code and the JSON body (every answer is JSON).
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl TestApp {
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("answer is not JSON: {status} {text:?}"));
        Answer {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.request(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.request(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.request(reqwest::Method::DELETE, path, Some(token), None)
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Answer {
        self.request(reqwest::Method::PUT, path, Some(token), Some(body))
            .await
    }

    /// Registers a customer by email and answers a token.
    pub async fn customer(&self, name: &str) -> (i64, String) {
        let email = unique_email(name);
        let reg = self
            .post(
                "/api/register",
                None,
                json!({"name": name, "email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(reg.status, 201, "{}", reg.body);
        let id = reg.body["data"]["id"].as_i64().unwrap();
        (
            id,
            self.login(json!({"email": email, "password": PASSWORD}))
                .await,
        )
    }

    /// A user with a staff role, created the way operators do (`user create`'s code path).
    pub async fn staff(&self, name: &str, role: &str) -> (i64, String) {
        let email = unique_email(name);
        let pool = order_tracker::db::pool(
            self.database_url.parse().unwrap(),
            1,
            actix::Arbiter::current(),
        );
        let new_user = order_tracker::domain::registration::RegisterRequest {
            name: Some(name.into()),
            email: Some(email.clone()),
            username: None,
            password: Some(PASSWORD.into()),
            locale: None,
        }
        .parse()
        .unwrap();
        let hash = bcrypt::hash(PASSWORD, 4).unwrap();
        let role = order_tracker::domain::role::Role::parse(role).unwrap();
        let user = order_tracker::db::users::insert(&pool, &new_user, &hash, role)
            .await
            .unwrap();
        (
            user.id,
            self.login(json!({"email": email, "password": PASSWORD}))
                .await,
        )
    }

    /// The Prometheus text of `/metrics` (tests reach it over loopback, so no token is needed).
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Runs SQL directly, for test set-ups the API cannot make (such as backdating a row).
    pub async fn sql(&self, statement: &str) -> u64 {
        let (client, connection) =
            tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
                .await
                .unwrap();
        actix_web::rt::spawn(connection);
        client.execute(statement, &[]).await.unwrap()
    }

    /// The one whole number a query answers, read directly (counters the API does not show).
    pub async fn sql_number(&self, query: &str) -> i64 {
        let (client, connection) =
            tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
                .await
                .unwrap();
        actix_web::rt::spawn(connection);
        client.query_one(query, &[]).await.unwrap().get(0)
    }

    /// Runs several SQL statements in one go, for set-ups that need more than one.
    pub async fn sql_batch(&self, statements: &str) {
        let (client, connection) =
            tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
                .await
                .unwrap();
        actix_web::rt::spawn(connection);
        client.batch_execute(statements).await.unwrap();
    }

    pub async fn login(&self, body: Value) -> String {
        let res = self.post("/api/login", None, body).await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body["data"]["token"].as_str().unwrap().to_string()
    }

    pub async fn create_order(&self, token: &str, items: &str) -> i64 {
        let res = self
            .post("/api/orders", Some(token), json!({"items": items}))
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        res.body["data"]["id"].as_i64().unwrap()
    }

    pub async fn set_status(&self, token: &str, order: i64, status: &str) -> Answer {
        self.put(
            &format!("/api/orders/{order}/status"),
            token,
            json!({"status": status}),
        )
        .await
    }

    /// An admin sends `message` to a user (`POST /api/notifications/send`).
    pub async fn notify(&self, admin: &str, user_id: i64, message: impl AsRef<str>) -> Answer {
        self.post(
            "/api/notifications/send",
            Some(admin),
            json!({"user_id": user_id, "message": message.as_ref()}),
        )
        .await
    }

    /// Switches the user's language (`PATCH /api/me`).
    pub async fn set_locale(&self, token: &str, locale: &str) -> Answer {
        self.request(
            reqwest::Method::PATCH,
            "/api/me",
            Some(token),
            Some(json!({"locale": locale})),
        )
        .await
    }

    pub async fn ws(&self, path: &str, token: &str) -> Ws {
        ws_connect(self.ws_request(path, token))
            .await
            .expect("websocket handshake")
    }

    /// A handshake request for `path`, with the token in the `Authorization` header.
    pub fn ws_request(
        &self,
        path: &str,
        token: &str,
    ) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        let mut request = format!("{}{}", self.ws_address, path)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    }
}

/// A fresh address for a test user called `name`.
pub fn unique_email(name: &str) -> String {
    format!(
        "{}-{:x}@example.com",
        name.to_lowercase().replace(' ', "."),
        rand::random::<u32>()
    )
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn ws_connect(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

/// The next JSON message, skipping pings; panics after `WAIT` (pings do not extend it).
pub async fn next_json(ws: &mut Ws) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a message within the wait")
            .expect("the socket is open")
            .expect("a valid frame");
        match msg {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// The close frame the server sends next (text messages before it are skipped).
pub async fn next_close(ws: &mut Ws) -> Option<CloseFrame> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a close within the wait")
        {
            Some(Ok(Message::Close(frame))) => return frame,
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// Asserts nothing but pings arrive for `quiet`.
pub async fn assert_silent(ws: &mut Ws, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(other) => panic!("expected silence, got {other:?}"),
        }
    }
}

pub async fn send_json(ws: &mut Ws, value: Value) {
    ws.send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}
