//! Server-Sent Events with a real HTTP client reading the stream: order, notification and
//! share-link streams, resume after a drop with `Last-Event-ID` or `?since=` (nothing missed,
//! nothing twice), heartbeats, and the WebSocket's authorization.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_tuned, TestApp};

/// One event of a stream: its `id:` (if any) and its `data:` as JSON; comments are kept as
/// `Comment`.
#[derive(Debug)]
enum Item {
    Event { id: Option<i64>, data: Value },
    Comment,
    Retry,
}

struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(app: &TestApp, path: &str, token: Option<&str>, last_id: Option<i64>) -> Stream {
        let mut req = app.client.get(format!("{}{path}", app.address));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next item, or a panic after a few seconds of nothing.
    async fn next(&mut self) -> Item {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = None;
                for line in block.lines() {
                    if line.starts_with(':') {
                        return Item::Comment;
                    } else if line.starts_with("retry:") {
                        return Item::Retry;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).unwrap());
                    }
                }
                return Item::Event {
                    id,
                    data: data.expect("an event has data"),
                };
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("nothing arrived on the stream")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event, skipping the `retry:` field and heartbeats.
    async fn event(&mut self) -> (Option<i64>, Value) {
        loop {
            if let Item::Event { id, data } = self.next().await {
                return (id, data);
            }
        }
    }

    /// Nothing but heartbeats for `quiet`.
    async fn silent(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        while let Ok(item) = tokio::time::timeout_at(deadline, self.next()).await {
            assert!(!matches!(item, Item::Event { .. }), "unexpected {item:?}");
        }
    }
}

#[actix_web::test]
async fn an_order_stream_resumes_after_a_drop_with_nothing_missed_or_twice() {
    let app = spawn_app().await;
    let (_, customer) = app.customer("Cora").await;
    let (_, admin) = app.staff("Ada", "admin").await;
    let order = app.create_order(&customer, "Nasi uduk").await;
    let path = format!("/api/orders/{order}/events");

    let mut stream = Stream::open(&app, &path, Some(&customer), None).await;
    assert!(matches!(stream.next().await, Item::Retry));
    let (id, snapshot) = stream.event().await;
    assert_eq!(
        (id, snapshot["type"].as_str()),
        (Some(1), Some("order.snapshot"))
    );
    for status in ["confirmed", "preparing"] {
        assert_eq!(app.set_status(&admin, order, status).await.status, 200);
    }
    let (id, event) = stream.event().await;
    assert_eq!((id, event["status"].as_str()), (Some(2), Some("confirmed")));
    let (id, event) = stream.event().await;
    assert_eq!((id, event["status"].as_str()), (Some(3), Some("preparing")));
    drop(stream);

    // Changes while the client is away.
    for status in ["ready", "shipped"] {
        assert_eq!(app.set_status(&admin, order, status).await.status, 200);
    }
    let mut resumed = Stream::open(&app, &path, Some(&customer), Some(3)).await;
    let (id, event) = resumed.event().await;
    assert_eq!((id, event["status"].as_str()), (Some(4), Some("ready")));
    let (id, event) = resumed.event().await;
    assert_eq!((id, event["status"].as_str()), (Some(5), Some("shipped")));
    assert_eq!(app.set_status(&admin, order, "delivered").await.status, 200);
    let (id, _) = resumed.event().await;
    assert_eq!(id, Some(6));
    resumed.silent(Duration::from_millis(500)).await;

    // `?since=` works the same; Last-Event-ID wins over it (a browser reconnecting keeps the
    // first URL).
    let mut since = Stream::open(&app, &format!("{path}?since=4"), Some(&customer), None).await;
    assert_eq!(since.event().await.0, Some(5));
    let mut both = Stream::open(&app, &format!("{path}?since=1"), Some(&customer), Some(5)).await;
    assert_eq!(both.event().await.0, Some(6));
    // Staff follow any order, as on the WebSocket; the token may ride in the query string.
    let mut staff = Stream::open(&app, &format!("{path}?since=5&token={admin}"), None, None).await;
    assert_eq!(staff.event().await.0, Some(6));
}

#[actix_web::test]
async fn streams_are_authorized_like_the_websocket() {
    let app = spawn_app().await;
    let (_, owner) = app.customer("Owner").await;
    let (_, stranger) = app.customer("Stranger").await;
    let order = app.create_order(&owner, "Martabak").await;
    let get = |path: String, token: Option<String>, last: Option<&'static str>| {
        let mut req = app.client.get(format!("{}{path}", app.address));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(l) = last {
            req = req.header("Last-Event-ID", l);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body)
        }
    };
    let path = format!("/api/orders/{order}/events");
    assert_eq!(get(path.clone(), None, None).await.0, 401);
    assert_eq!(
        get(path.clone(), Some("not.a.jwt".into()), None).await.0,
        401
    );
    let (status, body) = get(path.clone(), Some(stranger.clone()), None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(
        get(format!("{path}?since=-1"), Some(owner.clone()), None)
            .await
            .0,
        400
    );
    assert_eq!(
        get(format!("{path}?since=abc"), Some(owner.clone()), None)
            .await
            .0,
        400
    );
    assert_eq!(
        get(path.clone(), Some(owner.clone()), Some("x")).await.0,
        400
    );
    assert_eq!(
        get(
            "/api/orders/99999999/events".into(),
            Some(owner.clone()),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        get("/api/notifications/events".into(), None, None).await.0,
        401
    );
    assert_eq!(
        get(format!("/api/track/{}/events", "ab".repeat(32)), None, None)
            .await
            .0,
        404
    );
    assert_eq!(
        get("/api/track/short/events".into(), None, None).await.0,
        404
    );

    // A session revoked (logout everywhere) ends an open stream with the WebSocket's code.
    let mut open = Stream::open(&app, &path, Some(&owner), None).await;
    open.event().await;
    let out = app.post("/api/logout-all", Some(&owner), json!({})).await;
    assert_eq!(out.status, 200, "{}", out.body);
    let (id, last) = open.event().await;
    assert_eq!((id, last["type"].as_str()), (None, Some("close")));
    assert_eq!(last["code"], 4002, "{last}");
    assert_eq!(get(path, Some(owner), None).await.0, 401);
}

#[actix_web::test]
async fn notification_and_share_link_streams_carry_their_topics() {
    let app = spawn_app_tuned(|s| s.ws.heartbeat_secs = 1).await;
    let (customer_id, customer) = app.customer("Cora").await;
    let (_, admin) = app.staff("Ada", "admin").await;

    let mut notes = Stream::open(
        &app,
        &format!("/api/notifications/events?token={customer}"),
        None,
        None,
    )
    .await;
    let (first, _) = notes.event().await;
    assert_eq!(
        app.notify(&admin, customer_id, "Your table is ready")
            .await
            .status,
        201
    );
    let (id, note) = notes.event().await;
    assert_eq!(id, first.map(|s| s + 1));
    assert_eq!(note["type"], "notification");
    assert!(note.to_string().contains("Your table is ready"));
    // A heartbeat comment arrives while nothing happens.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if matches!(notes.next().await, Item::Comment) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no heartbeat");
    }

    let order = app.create_order(&customer, "Bubur").await;
    let link = app
        .post(
            &format!("/api/orders/{order}/share-links"),
            Some(&customer),
            json!({}),
        )
        .await;
    assert_eq!(link.status, 201, "{}", link.body);
    let token = link.body["data"]["token"].as_str().unwrap();
    let mut public = Stream::open(&app, &format!("/api/track/{token}/events"), None, None).await;
    let (id, snapshot) = public.event().await;
    assert_eq!(id, Some(1));
    assert_eq!(app.set_status(&admin, order, "confirmed").await.status, 200);
    let (id, event) = public.event().await;
    assert_eq!(id, Some(2));
    assert_eq!(event["status"], "confirmed");
    for private in ["order_id", "updated_by"] {
        assert!(
            event.get(private).is_none() && snapshot.get(private).is_none(),
            "{event}"
        );
    }
}

#[actix_web::test]
async fn streams_count_against_the_socket_cap_until_their_connection_goes() {
    let app = spawn_app_tuned(|s| s.ws.max_sockets_per_user = 2).await;
    let (_, customer) = app.customer("Cora").await;
    let path = format!("/api/notifications/events?token={customer}");
    let first = Stream::open(&app, &path, None, None).await;
    let _second = Stream::open(&app, &path, None, None).await;
    let third = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    // A socket counts too: the same cap.
    let refused = crate::helpers::ws_connect(app.ws_request("/api/ws", &customer)).await;
    assert!(refused.is_err());
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let again = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        if again.status() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
