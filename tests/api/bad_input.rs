//! Bad input answers in the envelope with the right status and changes nothing.

use serde_json::{json, Value};

use crate::helpers::*;

fn assert_error(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], "error");
    assert_eq!(body["success"], false);
    assert!(body["message"].is_string() && body["error"].is_string());
}

async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.address))
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}")),
    )
}

#[actix_web::test]
async fn malformed_requests_get_enveloped_errors() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Careful").await;
    use reqwest::Method;
    const JSON: Option<&str> = Some("application/json");
    let big = format!("{{\"items\":\"{}\"}}", "x".repeat(1_100_000));
    let cases = vec![
        (
            Method::POST,
            "/api/orders",
            JSON,
            b"{\"items\": ".to_vec(),
            400,
        ),
        (
            Method::POST,
            "/api/orders",
            Some("text/plain"),
            b"{\"items\":\"x\"}".to_vec(),
            415,
        ),
        (Method::POST, "/api/orders", JSON, big.into_bytes(), 413),
        (Method::GET, "/api/nowhere", None, vec![], 404),
        (Method::PATCH, "/api/orders", None, vec![], 405),
        (Method::GET, "/api/orders/abc", None, vec![], 404),
        (
            Method::GET,
            "/api/orders/99999999999999999999999",
            None,
            vec![],
            404,
        ),
        (Method::POST, "/api/orders", JSON, b"[1,2,3]".to_vec(), 400),
        (
            Method::POST,
            "/api/orders",
            JSON,
            b"{\"items\": 42}".to_vec(),
            400,
        ),
    ];
    for (method, path, content_type, body, expected) in cases {
        let (status, body) = raw(&app, method, path, Some(&token), content_type, body).await;
        assert_error(status, &body, expected);
    }

    // Field-level validation.
    let empty = app
        .post("/api/orders", Some(&token), json!({"items": "   "}))
        .await;
    assert_error(empty.status, &empty.body, 400);
    assert!(empty.body["errors"]["items"].is_array());
    let reg = app
        .post(
            "/api/register",
            None,
            json!({"email": "not-an-email", "password": "short"}),
        )
        .await;
    assert_error(reg.status, &reg.body, 400);
    assert!(reg.body["errors"]["email"].is_array() && reg.body["errors"]["password"].is_array());
    let long = app
        .post(
            "/api/register",
            None,
            json!({"email": "long@example.com", "password": "p".repeat(73)}),
        )
        .await;
    assert_error(long.status, &long.body, 400);
    let page = app.get("/api/orders?page=0", &token).await;
    assert_error(page.status, &page.body, 400);
    let filter = app.get("/api/admin/orders?status=teleported", &token).await;
    assert_error(filter.status, &filter.body, 403);

    // Nothing was stored by any of it.
    assert_eq!(
        app.get("/api/orders", &token).await.body["meta"]["total"],
        0
    );
}

/// serde would fill a struct from an array, field by field; a body must be an object, and an
/// optional one that is there must be a valid one.
#[actix_web::test]
async fn a_body_that_is_not_an_object_is_refused() {
    let app = spawn_app().await;
    let (id, token) = app.customer("Array Body").await;
    let email = unique_email("array");
    let reg = app
        .post(
            "/api/register",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(reg.status, 201);
    let login = app
        .post("/api/login", None, json!([email, null, PASSWORD]))
        .await;
    assert_error(login.status, &login.body, 400);
    let me = app
        .request(
            reqwest::Method::PATCH,
            "/api/me",
            Some(&token),
            Some(json!([null, null])),
        )
        .await;
    assert_error(me.status, &me.body, 400);
    let order = app
        .post("/api/orders", Some(&token), json!(["Nasi Goreng"]))
        .await;
    assert_error(order.status, &order.body, 400);
    let link = app
        .post(
            &format!(
                "/api/orders/{}/share-links",
                app.create_order(&token, "Es Teh").await
            ),
            Some(&token),
            json!([null]),
        )
        .await;
    assert_error(link.status, &link.body, 400);
    // An optional body too: a malformed one is refused, not taken for none.
    let setup = app
        .post(
            &format!("/api/totp/setup/{id}"),
            Some(&token),
            json!({"code": 5}),
        )
        .await;
    assert_error(setup.status, &setup.body, 400);
}

#[actix_web::test]
async fn duplicates_conflict_case_insensitively() {
    let app = spawn_app().await;
    let first = app
        .post(
            "/api/register",
            None,
            json!({"email": "Dup@Example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(first.status, 201);
    let again = app
        .post(
            "/api/register",
            None,
            json!({"email": "dup@example.COM", "password": PASSWORD}),
        )
        .await;
    assert_error(again.status, &again.body, 409);
    let user = app
        .post(
            "/api/register",
            None,
            json!({"username": "Rina", "password": PASSWORD}),
        )
        .await;
    assert_eq!(user.status, 201);
    let again = app
        .post(
            "/api/register",
            None,
            json!({"username": "rina", "password": PASSWORD}),
        )
        .await;
    assert_error(again.status, &again.body, 409);
    // Login works with either case.
    app.login(json!({"email": "DUP@example.com", "password": PASSWORD}))
        .await;
}

#[actix_web::test]
async fn illegal_transitions_conflict_and_change_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Tia").await;
    let (_, staff) = app.staff("Admin", "admin").await;
    let id = app.create_order(&token, "Rendang").await;
    assert_eq!(app.set_status(&staff, id, "shipped").await.status, 200);
    for (status, expected) in [
        ("pending", 409),
        ("shipped", 409),
        ("cancelled", 409),
        ("teleported", 400),
        ("", 400),
    ] {
        let res = app.set_status(&staff, id, status).await;
        assert_error(res.status, &res.body, expected);
    }
    let bad_time = app
        .put(
            &format!("/api/orders/{id}/status"),
            &staff,
            json!({"status": "shipped", "estimated_time": "soon"}),
        )
        .await;
    assert_error(bad_time.status, &bad_time.body, 400);
    assert!(bad_time.body["errors"]["estimated_time"].is_array());
    // A same-status update with notes is a timeline entry.
    let note = app
        .put(
            &format!("/api/orders/{id}/status"),
            &staff,
            json!({"status": "shipped", "notes": "Stuck in traffic"}),
        )
        .await;
    assert_eq!(note.status, 200);
    let history = app.get(&format!("/api/orders/{id}/history"), &token).await;
    let entries = history.body["data"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2]["notes"], "Stuck in traffic");
    assert_eq!(
        app.get(&format!("/api/orders/{id}"), &token).await.body["data"]["status"],
        "shipped"
    );
}

#[actix_web::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let (_, token) = app.customer("Metric").await;
    let _ws = app.ws("/ws", &token).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let text = app.metrics().await;
    assert!(text.contains("order_tracker_websocket_open 1"), "{text}");
    assert!(text.contains("order_tracker_http_request_duration_seconds_bucket"));
    assert!(text.contains("order_tracker_db_pool_max 8"));
    assert!(text.contains("order_tracker_events_delivered_total"));
}

#[actix_web::test]
async fn a_nul_character_anywhere_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    let nul = "a\u{0}b";
    for (path, body, field) in [
        (
            "/api/register",
            json!({"name": nul, "email": "x@example.com", "password": PASSWORD}),
            "name",
        ),
        (
            "/api/login",
            json!({"email": nul, "password": PASSWORD}),
            "email",
        ),
    ] {
        let res = app.post(path, None, body).await;
        assert_eq!(res.status, 400, "{path}: {}", res.body);
        assert!(res.body["errors"][field].is_array(), "{path}: {}", res.body);
    }
    let (_, token) = app.customer("Nul").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let order = app.create_order(&token, "Kopi").await;
    let cases = [
        (
            reqwest::Method::POST,
            "/api/orders".to_string(),
            json!({"items": nul}),
            "items",
        ),
        (
            reqwest::Method::PUT,
            format!("/api/orders/{order}/status"),
            json!({"status": "shipped", "notes": nul}),
            "notes",
        ),
        (
            reqwest::Method::PATCH,
            "/api/me".to_string(),
            json!({"name": nul}),
            "name",
        ),
        (
            reqwest::Method::POST,
            "/api/products/".to_string(),
            json!({"name": "Kopi", "price": 1, "tags": [{"label": nul}]}),
            "tags.0.label",
        ),
        (
            reqwest::Method::POST,
            "/api/warehouses/".to_string(),
            json!({"name": nul}),
            "name",
        ),
        (
            reqwest::Method::POST,
            "/api/notifications/send".to_string(),
            json!({"user_id": 1, "message": nul}),
            "message",
        ),
    ];
    for (method, path, body, field) in cases {
        let res = app.request(method, &path, Some(&admin), Some(body)).await;
        assert_eq!(res.status, 400, "{path}: {}", res.body);
        assert!(res.body["errors"][field].is_array(), "{path}: {}", res.body);
    }
    let query = app.get("/api/orders/history?status=a%00b", &token).await;
    assert_eq!(query.status, 400, "{}", query.body);
    assert!(query.body["errors"]["status"].is_array());
    let path = app.get("/api/products/a%00b", &token).await;
    assert_eq!(path.status, 400, "{}", path.body);
    // Nothing stored was touched: the order is as it was.
    let kept = app.get(&format!("/api/orders/{order}"), &token).await;
    assert_eq!(kept.body["data"]["status"], "pending");
}

/// Sends `request` as raw bytes and reads the answer until the server closes.
async fn raw_http(app: &TestApp, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[actix_web::test]
async fn oversized_heads_and_garbage_get_the_envelope_too() {
    let app = spawn_app().await;
    let header = |size: usize| {
        format!(
            "GET /api/me HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-filler: {}\r\n\r\n",
            "a".repeat(size)
        )
    };
    let url = |size: usize| {
        format!(
            "GET /api/{} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            "b".repeat(size)
        )
    };
    let many_headers = format!(
        "GET /api/me HTTP/1.1\r\nhost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("x-h{i}: v\r\n"))
            .collect::<String>()
    );
    // Ours (over 32 KiB of headers, 8 KiB of URL) and the parser's (over its 128 KiB buffer or
    // its 96 headers), and a request line it cannot read.
    for (request, status) in [
        (header(40 * 1024), "431"),
        (url(20 * 1024), "414"),
        (header(200 * 1024), "431"),
        (url(200 * 1024), "431"),
        (many_headers, "431"),
        ("GARBAGE\x01 / HTTP/1.1\r\n\r\n".to_string(), "400"),
    ] {
        let request = request.as_bytes();
        let answer = raw_http(&app, request).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{answer:.200}"
        );
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{answer:.300}"));
        assert_eq!(body["status"], "error");
        assert!(body["message"].is_string());
    }
    // The server is unharmed.
    let (_, token) = app.customer("After").await;
    assert_eq!(app.get("/api/me", &token).await.status, 200);
}

#[actix_web::test]
async fn bodies_are_read_within_size_and_time() {
    let app = spawn_app_tuned(|settings| {
        settings.server.body_timeout_secs = 1;
    })
    .await;
    // A declared length over the limit is refused before a byte of it is read.
    let huge = raw_http(
        &app,
        b"POST /api/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 2000000\r\nconnection: close\r\n\r\n{}",
    )
    .await;
    assert!(huge.starts_with("HTTP/1.1 413 "), "{huge:.200}");
    // A body that stops arriving is given up.
    let stalled = raw_http(
        &app,
        b"POST /api/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 50\r\nconnection: close\r\n\r\n{\"em",
    )
    .await;
    assert!(stalled.starts_with("HTTP/1.1 408 "), "{stalled:.200}");
    // Broken chunking is a 400 in the envelope, with the usual headers.
    let broken = raw_http(
        &app,
        b"POST /api/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          transfer-encoding: chunked\r\nconnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    )
    .await;
    assert!(broken.starts_with("HTTP/1.1 400 "), "{broken:.300}");
    assert!(
        broken.contains("application/json") && broken.contains("nosniff"),
        "{broken:.400}"
    );
    for answer in [&huge, &stalled, &broken] {
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{answer:.300}"));
        assert_eq!(body["status"], "error");
    }
}

#[actix_web::test]
async fn extreme_dates_and_pages_are_refused_not_crashed_on() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Extreme").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    for (path, who, field) in [
        (
            "/api/v1/orders/history?start_date=-5000-01-01",
            &token,
            "start_date",
        ),
        (
            "/api/v1/admin/orders/tracking-stats?end_date=+99999-01-01",
            &admin,
            "end_date",
        ),
        ("/api/orders?page=9223372036854775807", &token, "page"),
        (
            "/api/notifications?per_page=9223372036854775807",
            &token,
            "per_page",
        ),
        ("/api/v1/orders/active?page=99999999999", &token, "page"),
    ] {
        let res = app.get(path, who).await;
        assert_eq!(res.status, 400, "{path}: {}", res.body);
        assert!(res.body["errors"][field].is_array(), "{path}: {}", res.body);
    }
    let far = app.get("/api/orders?page=1000000000", &token).await;
    assert_eq!(far.status, 200, "the last page allowed is just empty");
}
