//! A real webhook receiver on loopback for the tests: an HTTP server that records every request,
//! answers with a status the test sets (optionally slowly, or as a redirect), can start listening late (a receiver
//! that was down), and counts requests in flight per path.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Got {
    pub path: String,
    pub id: String,
    pub signature: String,
    pub body: String,
    pub json: Value,
}

#[derive(Default)]
struct Shared {
    got: Mutex<Vec<Got>>,
    status: AtomicU16,
    /// Sent as `Location` with the status, for redirects.
    location: Mutex<Option<String>>,
    delay_ms: AtomicU64,
    in_flight: Mutex<HashMap<String, usize>>,
    most_in_flight: AtomicUsize,
}

pub struct Receiver {
    pub port: u16,
    shared: Arc<Shared>,
    /// Kept so the server lives as long as the receiver.
    _handle: Option<ServerHandle>,
}

impl Receiver {
    /// A receiver answering 200, listening.
    pub fn start() -> Receiver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut receiver = Receiver::down_on(port);
        receiver.up();
        receiver
    }

    /// A receiver that is not listening yet (connections to `port` are refused).
    pub fn down_on(port: u16) -> Receiver {
        let shared = Arc::new(Shared::default());
        shared.status.store(200, Ordering::SeqCst);
        Receiver {
            port,
            shared,
            _handle: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn up(&mut self) {
        let shared = self.shared.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .default_service(web::to(receive))
        })
        .workers(2)
        .bind(("127.0.0.1", self.port))
        .expect("bind the receiver")
        .run();
        self._handle = Some(server.handle());
        actix_web::rt::spawn(server);
    }

    pub fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Answers `status` with `Location: location` to requests for `from`, as before to others.
    pub fn redirect(&self, status: u16, location: &str) {
        *self.shared.location.lock().unwrap() = Some(location.to_string());
        self.answer(status);
    }

    pub fn delay(&self, delay: Duration) {
        self.shared
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn got(&self) -> Vec<Got> {
        self.shared.got.lock().unwrap().clone()
    }

    /// The most requests to one path that were ever in flight together.
    pub fn most_in_flight(&self) -> usize {
        self.shared.most_in_flight.load(Ordering::SeqCst)
    }

    /// Waits until `done` holds for what arrived, or panics after `within`.
    pub async fn wait_for(&self, within: Duration, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.got();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver did not get what was expected in {within:?}; it got {} requests: {:#?}",
                got.len(),
                got.iter().map(|g| &g.json["type"]).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    let path = req.path().to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let text = String::from_utf8_lossy(&body).to_string();
    shared.got.lock().unwrap().push(Got {
        path: path.clone(),
        id: header("webhook-id"),
        signature: header("webhook-signature"),
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        body: text,
    });
    let now = {
        let mut in_flight = shared.in_flight.lock().unwrap();
        let n = in_flight.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    shared.most_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    *shared.in_flight.lock().unwrap().get_mut(&path).unwrap() -= 1;
    let location = shared.location.lock().unwrap().clone();
    let status = match &location {
        // A redirect is answered once per path: where it points answers 200.
        Some(to) if path == *to => 200,
        _ => shared.status.load(Ordering::SeqCst),
    };
    let mut answer = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let (Some(to), 300..=399) = (location, status) {
        answer.insert_header(("Location", to));
    }
    answer.finish()
}

/// Checks a `Webhook-Signature` the way README tells receivers to: some `v1` equals
/// HMAC-SHA256(secret, "<t>.<body>") and `t` is recent.
pub fn signed_by(got: &Got, secret: &str) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in got.signature.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(s.to_string()),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    if (chrono::Utc::now().timestamp() - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", got.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    signatures.contains(&expected)
}
