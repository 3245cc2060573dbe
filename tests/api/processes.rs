//! Servers as separate processes of the real binary, and a NATS server of the test's own, for
//! the scale-out tests: several processes on one database, which a test can kill (`SIGKILL`)
//! and whose broker it can stop and start again.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::helpers::{TestApp, TEST_JWT_SECRET, TEST_TOTP_KEY};

/// How long a process may take to answer `/readyz`.
const STARTUP: Duration = Duration::from_secs(60);

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Which broker the processes of a test use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Nats,
}

/// A `nats-server` on a free port of loopback, stopped when dropped.
pub struct NatsServer {
    pub port: u16,
    child: Option<Child>,
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let mut nats = NatsServer {
            port: free_port(),
            child: None,
        };
        nats.resume();
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server abruptly (messages in flight are lost, as in a crash).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn resume(&mut self) {
        let child = Command::new(nats_binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Debian's `nats-server`, wherever PATH or the package put it.
fn nats_binary() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("nats-server"));
    for candidate in candidates {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "nats-server is not installed. The scale-out tests start their own NATS server: install \
         Debian's package (`apt-get install nats-server`) or put a nats-server binary on PATH."
    )
}

/// A server process of the real binary; killed when dropped.
pub struct ServerProcess {
    pub app: TestApp,
    /// Locked only to look at or end it.
    child: Mutex<Child>,
}

impl ServerProcess {
    /// Starts the binary on `database_url` with broker `kind` (and `nats`'s address), and
    /// waits until it is ready.
    pub async fn start(database_url: &str, kind: Kind, nats: Option<&NatsServer>) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_order-tracker"));
        command
            .env("DATABASE_URL", database_url)
            .env("JWT_SECRET", TEST_JWT_SECRET)
            .env("PORT", port.to_string())
            .env("ORDER_TRACKER__SERVER__HOST", "127.0.0.1")
            .env("ORDER_TRACKER__SERVER__WORKERS", "2")
            .env("ORDER_TRACKER__DATABASE__POOL_SIZE", "4")
            // The least the binary accepts.
            .env("ORDER_TRACKER__AUTH__BCRYPT_COST", "10")
            .env("ORDER_TRACKER__AUTH__TOTP_KEY", TEST_TOTP_KEY)
            .env("ORDER_TRACKER__RATE_LIMIT__ENABLED", "false")
            .env("ORDER_TRACKER__WEBHOOKS__ENABLED", "false")
            .env("ORDER_TRACKER__LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        match kind {
            Kind::Postgres => command.env("ORDER_TRACKER__BROKER__KIND", "postgres"),
            Kind::Nats => command.env("ORDER_TRACKER__BROKER__KIND", "nats").env(
                "ORDER_TRACKER__BROKER__NATS_URL",
                nats.expect("a NATS server for the nats broker").url(),
            ),
        };
        let child = command.spawn().expect("start the server binary");
        let process = ServerProcess {
            app: TestApp::at(port, database_url),
            child: Mutex::new(child),
        };
        process.wait_ready(true).await;
        process
    }

    /// Waits until `/readyz` answers 200 (`ready`) or 503 (not).
    pub async fn wait_ready(&self, ready: bool) {
        let deadline = Instant::now() + STARTUP;
        let want = if ready { 200 } else { 503 };
        loop {
            let answer = self
                .app
                .client
                .get(format!("{}/readyz", self.app.address))
                .send()
                .await;
            if answer.is_ok_and(|a| a.status().as_u16() == want) {
                return;
            }
            if let Ok(Some(status)) = self.child.lock().unwrap().try_wait() {
                panic!("the server process ended: {status}");
            }
            assert!(Instant::now() < deadline, "/readyz never answered {want}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `broker_events_received` of its `/metrics`.
    pub async fn received(&self) -> u64 {
        let text = self.app.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix("order_tracker_broker_events_received_total "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no broker_events_received in {text}"))
    }

    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap();
        // SAFETY: kill takes plain integers and touches no memory of ours.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
