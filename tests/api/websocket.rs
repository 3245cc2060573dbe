//! The WebSocket protocol: resume with `since`, the three ways to authenticate, the origin
//! check, the multiplexed endpoint, frame limits, token expiry and shutdown close frames.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::helpers::*;

#[actix_web::test]
async fn resume_with_since_gets_exactly_the_missed_events() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Resumer").await;
    let (_, staff) = app.staff("Dina", "driver").await;
    let id = app.create_order(&token, "Bakso").await;

    let mut ws = app.ws(&format!("/ws/orders/{id}"), &token).await;
    let snapshot = next_json(&mut ws).await;
    let last_seen = snapshot["seq"].as_i64().unwrap();
    drop(ws);

    for status in ["confirmed", "preparing", "ready"] {
        assert_eq!(app.set_status(&staff, id, status).await.status, 200);
    }

    let mut ws = app
        .ws(&format!("/ws/orders/{id}?since={last_seen}"), &token)
        .await;
    let mut missed = Vec::new();
    for _ in 0..3 {
        let event = next_json(&mut ws).await;
        assert_eq!(event["type"], "order.status", "no snapshot when resuming");
        missed.push((
            event["seq"].as_i64().unwrap(),
            event["status"].as_str().unwrap().to_string(),
        ));
    }
    assert_eq!(
        missed,
        [
            (2, "confirmed".to_string()),
            (3, "preparing".to_string()),
            (4, "ready".to_string())
        ]
    );
    assert_silent(&mut ws, Duration::from_millis(300)).await;

    // Then live events continue the sequence.
    app.set_status(&staff, id, "shipped").await;
    let live = next_json(&mut ws).await;
    assert_eq!(
        (live["seq"].as_i64(), live["status"].as_str()),
        (Some(5), Some("shipped"))
    );
    assert_silent(&mut ws, Duration::from_millis(300)).await;
}

#[actix_web::test]
async fn browser_subprotocol_and_query_token_authenticate() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Browser").await;
    let id = app.create_order(&token, "Mie").await;

    let mut request = format!("{}/ws/orders/{id}", app.ws_address)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("order-tracker, bearer.{token}").parse().unwrap(),
    );
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "order-tracker",
        "never echoes the token"
    );
    assert_eq!(next_json(&mut ws).await["type"], "order.snapshot");

    let request = format!("{}/ws/orders/{id}?token={token}", app.ws_address)
        .into_client_request()
        .unwrap();
    let mut ws = ws_connect(request).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "order.snapshot");
}

async fn refused_status(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> (u16, serde_json::Value) {
    match ws_connect(request).await {
        Err(WsError::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            (
                response.status().as_u16(),
                serde_json::from_slice(&body).unwrap(),
            )
        }
        Ok(_) => panic!("handshake should be refused"),
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[actix_web::test]
async fn handshake_refusals_are_plain_enveloped_http() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Owner").await;
    let id = app.create_order(&token, "Soto").await;

    let no_token = format!("{}/ws/orders/{id}", app.ws_address)
        .into_client_request()
        .unwrap();
    let (status, body) = refused_status(no_token).await;
    assert_eq!(status, 401);
    assert_eq!(body["status"], "error");

    let mut foreign = format!("{}/ws/orders/{id}", app.ws_address)
        .into_client_request()
        .unwrap();
    foreign
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    foreign
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(refused_status(foreign).await.0, 403);

    let mut same = format!("{}/ws/orders/{id}", app.ws_address)
        .into_client_request()
        .unwrap();
    same.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let host = app.address.trim_start_matches("http://").to_string();
    same.headers_mut()
        .insert("origin", format!("http://{host}").parse().unwrap());
    assert!(ws_connect(same).await.is_ok(), "same origin is allowed");

    let mut missing = format!("{}/ws/orders/999999", app.ws_address)
        .into_client_request()
        .unwrap();
    missing
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    assert_eq!(refused_status(missing).await.0, 404);
}

#[actix_web::test]
async fn multiplexed_socket_subscribes_unsubscribes_and_pings() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Multi").await;
    let (_, staff) = app.staff("Admin", "admin").await;
    let first = app.create_order(&token, "A").await;
    let second = app.create_order(&token, "B").await;
    let mut ws = app.ws("/ws", &token).await;

    send_json(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut ws).await["type"], "pong");

    send_json(
        &mut ws,
        json!({"type": "subscribe", "topic": format!("order:{first}")}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    assert_eq!(next_json(&mut ws).await["type"], "order.snapshot");
    send_json(
        &mut ws,
        json!({"type": "subscribe", "topic": format!("order:{second}"), "since": 0}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    let replay = next_json(&mut ws).await;
    assert_eq!(
        (replay["seq"].as_i64(), replay["status"].as_str()),
        (Some(1), Some("pending"))
    );

    app.set_status(&staff, second, "confirmed").await;
    let event = next_json(&mut ws).await;
    assert_eq!(event["topic"], format!("order:{second}"));

    send_json(
        &mut ws,
        json!({"type": "unsubscribe", "topic": format!("order:{second}")}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "unsubscribed");
    app.set_status(&staff, second, "preparing").await;
    app.set_status(&staff, first, "confirmed").await;
    let event = next_json(&mut ws).await;
    assert_eq!(
        event["topic"],
        format!("order:{first}"),
        "no events after unsubscribe"
    );

    send_json(&mut ws, json!({"type": "dance"})).await;
    assert_eq!(next_json(&mut ws).await["type"], "error");
    send_json(&mut ws, json!({"type": "subscribe", "topic": "nonsense"})).await;
    assert_eq!(next_json(&mut ws).await["type"], "error");
}

#[actix_web::test]
async fn oversized_frame_closes_with_1009() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Big").await;
    let mut ws = app.ws("/ws", &token).await;
    use futures_util::SinkExt;
    ws.send(Message::Text("x".repeat(70_000).into()))
        .await
        .unwrap();
    let frame = next_close(&mut ws).await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Size);
}

#[actix_web::test]
async fn expired_token_closes_the_socket_with_4001() {
    let app = spawn_app_tuned(|settings| {
        settings.auth.jwt_ttl_secs = 2;
    })
    .await;
    let (_, token) = app.customer("Short").await;
    let mut ws = app.ws("/ws", &token).await;
    let frame = next_close(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 4001);
}

#[actix_web::test]
async fn shutdown_sends_close_frames() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Leaving").await;
    let id = app.create_order(&token, "Roti").await;
    let mut ws = app.ws(&format!("/ws/orders/{id}"), &token).await;
    next_json(&mut ws).await;
    let stopper = app.stopper.clone().unwrap();
    actix_web::rt::spawn(async move { stopper.stop().await });
    let frame = next_close(&mut ws).await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Away);
}

#[actix_web::test]
async fn a_silent_client_is_closed_after_two_heartbeats() {
    let app = spawn_app_tuned(|settings| {
        settings.ws.heartbeat_secs = 1;
    })
    .await;
    let (_, token) = app.customer("Silent").await;
    let mut ws = app.ws("/ws", &token).await;
    // Not reading means not answering the server's pings.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let frame = next_close(&mut ws).await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Policy);
}

/// A socket on `/api/ws` whose client has a tiny receive buffer and is not reading yet.
pub async fn slow_reader(app: &TestApp, token: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket
        .connect(app.address.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    let mut request = format!("{}/api/ws", app.ws_address)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    ws
}

/// Sends `count` notifications of about 3 KB to `user_id`: about 7.5 MB for 2,500, more than the
/// kernel buffers between server and a non-reading client hold, so frames wait in the server.
pub async fn send_blobs(app: &TestApp, admin: &str, user_id: i64, count: usize) {
    use futures_util::future::join_all;

    let blob = "x".repeat(3000);
    for chunk in (0..count).collect::<Vec<_>>().chunks(250) {
        let sends = chunk.iter().map(|i| {
            let body =
                json!({"user_id": user_id, "message": format!("#{i}"), "data": {"blob": blob}});
            async move {
                app.post("/api/notifications/send", Some(admin), body)
                    .await
                    .status
            }
        });
        assert!(join_all(sends).await.iter().all(|s| *s == 201));
    }
}

#[actix_web::test]
async fn a_client_too_slow_for_its_queue_is_closed_with_1013() {
    let app = spawn_app_tuned(|settings| {
        settings.ws.outbound_queue = 1;
    })
    .await;
    let (id, token) = app.customer("Slow").await;
    let (_, admin) = app.staff("Admin", "admin").await;

    let mut ws = slow_reader(&app, &token).await;
    send_blobs(&app, &admin, id, 2500).await;
    let frame = next_close(&mut ws).await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Again, "1013: reconnect with since");
}

#[actix_web::test]
async fn frames_that_waited_for_a_slow_client_arrive_all_and_in_order() {
    const N: usize = 2500;
    let app = spawn_app_tuned(|settings| {
        // Room for every frame: the same load that overflows a queue of 1 (the test above) must
        // now wait in the backlog and drain once the client reads.
        settings.ws.outbound_queue = N + 100;
        settings.ws.heartbeat_secs = 120;
    })
    .await;
    let (id, token) = app.customer("Patient").await;
    let (_, admin) = app.staff("Admin", "admin").await;

    let mut ws = slow_reader(&app, &token).await;
    let start = next_json(&mut ws).await["seq"].as_i64().unwrap();
    send_blobs(&app, &admin, id, N).await;
    let mut seqs = Vec::with_capacity(N);
    while seqs.len() < N {
        let event = next_json(&mut ws).await;
        assert_eq!(event["type"], "notification");
        seqs.push(event["seq"].as_i64().unwrap());
    }
    let expected: Vec<i64> = (start + 1..=start + N as i64).collect();
    assert!(seqs == expected, "every event once, in order");
    assert_silent(&mut ws, Duration::from_millis(300)).await;
}

#[actix_web::test]
async fn a_frame_sent_together_with_the_handshake_is_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let (_, token) = app.customer("Eager").await;
    let host = app.address.trim_start_matches("http://").to_string();
    // A masked `{"type":"ping"}` text frame, as a client must send it.
    let payload = br#"{"type":"ping"}"#;
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let mut bytes = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(&frame);

    // One write: the frame reaches the server in the same read as the request.
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let mut seen = Vec::new();
    let answered = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 1024];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the pong");
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen);
            if text.contains(r#"{"type":"pong"}"#) {
                return text.into_owned();
            }
        }
    })
    .await
    .expect("a pong");
    assert!(answered.starts_with("HTTP/1.1 101"), "{answered}");
}

#[actix_web::test]
async fn a_websocket_upgrade_to_a_plain_route_gets_its_ordinary_answer() {
    let app = spawn_app().await;
    let request = format!("{}/api/orders", app.ws_address)
        .into_client_request()
        .unwrap();
    // No token: the route answers 401 as it would without the upgrade headers.
    let (status, body) = refused_status(request).await;
    assert_eq!(status, 401);
    assert_eq!(body["status"], "error");
}

#[actix_web::test]
async fn the_1013_close_arrives_even_while_the_client_keeps_pinging() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let app = spawn_app_tuned(|settings| {
        settings.ws.outbound_queue = 1;
        // The pings below must not trip the flood limit (1008) before the backlog fills.
        settings.ws.messages_per_minute = 100_000;
    })
    .await;
    let (id, token) = app.customer("Pinger").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (mut sink, mut stream) = slow_reader(&app, &token).await.split();
    // The client keeps talking while it does not read: bytes the server has not read when it
    // closes would make the kernel reset the connection and lose the close frame.
    let pinger = actix_web::rt::spawn(async move {
        while sink.send(Message::Ping(vec![1, 2, 3].into())).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    send_blobs(&app, &admin, id, 2500).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let close = loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("the close frame was lost: {other:?}"),
        }
    };
    assert_eq!(close.expect("a close frame").code, CloseCode::Again);
    pinger.abort();
}

#[actix_web::test]
async fn a_fragmented_message_too_large_in_total_closes_with_1009() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

    let app = spawn_app().await;
    let (_, token) = app.customer("Fragments").await;
    let mut ws = app.ws("/ws", &token).await;
    // Eight fragments of 10 KB: each is small, together they pass the 64 KiB limit.
    for i in 0..8 {
        let header = FrameHeader {
            is_final: i == 7,
            opcode: OpCode::Data(if i == 0 { Data::Text } else { Data::Continue }),
            ..FrameHeader::default()
        };
        let frame = Frame::from_payload(header, vec![b'x'; 10_000].into());
        if ws.send(Message::Frame(frame)).await.is_err() {
            break;
        }
    }
    let frame = next_close(&mut ws).await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Size);
}
