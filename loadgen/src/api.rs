//! The public API as the generator uses it: accounts, orders, status updates, sockets.

use std::net::SocketAddr;

use futures_util::{stream, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

pub type Socket = WebSocketStream<tokio::net::TcpStream>;
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Accounts registered at once while a scenario sets up: the server's two cores hash them.
pub const REGISTERING_AT_ONCE: usize = 4;

#[derive(Clone)]
pub struct Api {
    pub base: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Api {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(1024)
                .build()
                .expect("an HTTP client"),
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value), Error> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    pub async fn login(&self, login: &str, password: &str) -> Result<String, Error> {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/login",
                None,
                Some(json!({"email": login, "username": login, "password": password})),
            )
            .await?;
        body["data"]["token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("login as {login} failed ({status}): {body}").into())
    }

    /// A new customer with a unique username; answers its token.
    pub async fn customer(&self, tag: &str) -> Result<String, Error> {
        let username = format!("lg{tag}{:08x}", rand::random::<u32>());
        let password = "loadgen-password";
        self.call(
            reqwest::Method::POST,
            "/api/register",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await?;
        self.login(&username, password).await
    }

    /// A new driver: registered as a customer, made a driver by `admin`, then signed in.
    /// Answers the driver's id and token. Costs the server two bcrypt hashes, as a customer does.
    pub async fn driver(&self, admin: &str, tag: &str) -> Result<(i64, String), Error> {
        let username = format!("lg{tag}{:08x}", rand::random::<u32>());
        let password = "loadgen-password";
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/register",
                None,
                Some(json!({"username": username, "password": password, "name": username})),
            )
            .await?;
        let id = body["data"]["id"]
            .as_i64()
            .ok_or_else(|| format!("register {username} failed ({status}): {body}"))?;
        let (status, body) = self
            .call(
                reqwest::Method::PUT,
                &format!("/api/admin/users/{id}/role"),
                Some(admin),
                Some(json!({"role": "driver"})),
            )
            .await?;
        if status != 200 {
            return Err(format!("making {username} a driver failed ({status}): {body}").into());
        }
        Ok((id, self.login(&username, password).await?))
    }

    pub async fn create_order(&self, token: &str) -> Result<i64, Error> {
        self.new_order(token, json!({"items": "load test"})).await
    }

    /// An order with a destination, so positions of it have an ETA to compute.
    pub async fn create_order_to(&self, token: &str, lat: f64, lng: f64) -> Result<i64, Error> {
        let body = json!({"items": "load test", "delivery_lat": lat, "delivery_lng": lng});
        self.new_order(token, body).await
    }

    async fn new_order(&self, token: &str, order: Value) -> Result<i64, Error> {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/orders",
                Some(token),
                Some(order),
            )
            .await?;
        body["data"]["id"]
            .as_i64()
            .ok_or_else(|| format!("create order failed ({status}): {body}").into())
    }

    /// Assigns `order` to the driver `driver` (as `admin`).
    pub async fn assign(&self, admin: &str, order: i64, driver: i64) -> Result<(), Error> {
        let (status, body) = self
            .call(
                reqwest::Method::PUT,
                &format!("/api/orders/{order}/driver"),
                Some(admin),
                Some(json!({"driver_id": driver})),
            )
            .await?;
        match status {
            200 => Ok(()),
            _ => Err(format!("assigning order {order} failed ({status}): {body}").into()),
        }
    }

    /// `n` orders, each with an owner of its own, already `preparing` so that later same-status
    /// updates with new notes are all legal. Answers each order's id and its owner's token.
    ///
    /// One owner per order: every update also bumps its owner's notification stream, and a
    /// shared owner would serialize every update on that one row. Registrations go a few at a
    /// time: each costs the server a bcrypt hash, and those dominate a scenario's setup.
    pub async fn owned_orders(
        &self,
        admin: &str,
        tag: &str,
        n: usize,
    ) -> Result<Vec<(i64, String)>, Error> {
        stream::iter(0..n)
            .map(|_| async move {
                let owner = self.customer(tag).await?;
                let id = self.create_order(&owner).await?;
                self.update(admin, id, "preparing", "started").await?;
                Ok((id, owner))
            })
            .buffered(REGISTERING_AT_ONCE)
            .try_collect()
            .await
    }

    /// A status update; `notes` makes a same-status update a new event.
    pub async fn update(
        &self,
        token: &str,
        order: i64,
        status: &str,
        notes: &str,
    ) -> Result<u16, Error> {
        let body = json!({"status": status, "notes": notes});
        Ok(self
            .call(
                reqwest::Method::PUT,
                &format!("/api/orders/{order}/status"),
                Some(token),
                Some(body),
            )
            .await?
            .0)
    }

    /// A status update that answers the order's seq (its version) after the change, or `None`
    /// when it was refused.
    pub async fn update_seq(
        &self,
        token: &str,
        order: i64,
        status: &str,
        notes: &str,
    ) -> Result<Option<i64>, Error> {
        let body = json!({"status": status, "notes": notes});
        let (code, answer) = self
            .call(
                reqwest::Method::PUT,
                &format!("/api/orders/{order}/status"),
                Some(token),
                Some(body),
            )
            .await?;
        Ok(answer["data"]["seq"].as_i64().filter(|_| code == 200))
    }

    /// A share link of `order`, made by its owner: answers the link's token.
    pub async fn share_link(&self, owner: &str, order: i64) -> Result<String, Error> {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/orders/{order}/share-links"),
                Some(owner),
                None,
            )
            .await?;
        match body["data"]["token"].as_str() {
            Some(token) if status == 201 => Ok(token.to_string()),
            _ => Err(format!("share link: {status} {body}").into()),
        }
    }

    /// The bytes a first visit to `path` transfers: the page, then every file it names under
    /// `/assets/` and every module those import, each once. Answers (path, bytes) per file.
    pub async fn page_weight(&self, path: &str) -> Result<Vec<(String, usize)>, Error> {
        let mut queue = vec![path.to_string()];
        let mut seen: Vec<(String, usize)> = Vec::new();
        while let Some(next) = queue.pop() {
            if seen.iter().any(|(p, _)| *p == next) {
                continue;
            }
            let answer = self
                .http
                .get(format!("{}{next}", self.base))
                .header("accept-encoding", "gzip, br")
                .send()
                .await?
                .error_for_status()?;
            let body = answer.bytes().await?;
            let text = String::from_utf8_lossy(&body);
            // Every reference a page or module makes is a quoted absolute /assets/ path.
            for quoted in text.split('"').skip(1).step_by(2) {
                if quoted.starts_with("/assets/") {
                    queue.push(quoted.to_string());
                }
            }
            seen.push((next, body.len()));
        }
        Ok(seen)
    }

    pub async fn order_seq(&self, token: &str, order: i64) -> Result<i64, Error> {
        let (_, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/orders/{order}"),
                Some(token),
                None,
            )
            .await?;
        body["data"]["seq"]
            .as_i64()
            .ok_or_else(|| format!("no seq for order {order}: {body}").into())
    }
}

/// Opens a WebSocket to `url` from the loopback address `source`, with a bearer token if given.
pub async fn connect(url: &str, token: Option<&str>, source: SocketAddr) -> Result<Socket, Error> {
    let mut request = url.into_client_request()?;
    if let Some(t) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {t}").parse()?);
    }
    let host = request.uri().host().unwrap_or("127.0.0.1").to_string();
    let port = request.uri().port_u16().unwrap_or(80);
    let target: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
        .await?
        .next()
        .ok_or("no address")?;
    let socket = TcpSocket::new_v4()?;
    // Choose the source port at connect time, per destination: a plain bind() would take a
    // port from one pool shared by every destination, and many generators exhaust it.
    let one: libc::c_int = 1;
    // SAFETY: the descriptor is the live socket above; the option value points at `one`, an int
    // that outlives the call, with its size given.
    let set = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            std::ptr::from_ref(&one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    socket.bind(source)?;
    let stream = socket.connect(target).await?;
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(socket_config())).await?;
    Ok(ws)
}

/// The client sockets' settings: a small read buffer.
///
/// tungstenite's default read buffer is 128 KiB, and it zero-fills the free part of it before
/// every read from the socket, the reads that find nothing included: about 256 KiB of memset
/// per frame of a few hundred bytes, 62% of the generator's CPU in the fanout scenario (and
/// 1.25 GiB resident at 10,000 sockets). Frames here are under 1 KiB; one that is larger grows
/// the buffer to fit it.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES)
}

/// Room for a few queued frames per read.
const READ_BUFFER_BYTES: usize = 4096;

/// Reads frames until one satisfies `wanted` and answers it: what a subscriber waits for
/// before its subscription counts. An error if the socket ends first or nothing fits in time.
pub async fn frame_where(ws: &mut Socket, wanted: impl Fn(&Value) -> bool) -> Result<Value, Error> {
    let wait = async {
        while let Some(msg) = ws.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = msg? {
                match serde_json::from_str::<Value>(&text) {
                    Ok(frame) if wanted(&frame) => return Ok(frame),
                    _ => {}
                }
            }
        }
        Err("the socket closed".into())
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .map_err(|_| "no such frame in 30 s")?
}
