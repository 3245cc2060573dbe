//! Drivers' positions: a shipped order's driver (or an admin) sends them by socket or REST; the
//! owner, share-link viewers and the board get at most one a second per order, the newest, with
//! the ETA; none once the order is delivered; the database gets at most one per
//! `dispatch.location_persist_secs`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::dispatch::{assign, ship};
use crate::helpers::*;
use crate::share_links::share;

/// A shipped order going to central Jakarta, assigned to a driver: (admin, driver id, driver,
/// owner, order).
pub async fn delivering(app: &TestApp) -> (String, i64, String, String, i64) {
    let (_, admin) = app.staff("Admin", "admin").await;
    let (driver_id, driver) = app.staff("Budi Santoso", "driver").await;
    let (_, owner) = app.customer("Owner").await;
    let made = app
        .post(
            "/api/orders",
            Some(&owner),
            json!({"items": "Nasi Padang", "delivery_lat": -6.1950, "delivery_lng": 106.8230}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let order = made.body["data"]["id"].as_i64().unwrap();
    assert_eq!(
        assign(app, &admin, order, json!(driver_id)).await.status,
        200
    );
    ship(app, &admin, order).await;
    (admin, driver_id, driver, owner, order)
}

fn position(order: i64, lat: f64) -> Value {
    json!({"type": "location", "order_id": order, "lat": lat, "lng": 106.8272, "accuracy": 8, "speed": 9.5})
}

async fn post_position(app: &TestApp, token: &str, order: i64, body: Value) -> Answer {
    app.post(&format!("/api/orders/{order}/location"), Some(token), body)
        .await
}

/// Every `order.location` that arrives within `window`, with when it arrived.
async fn positions_within(ws: &mut Ws, window: Duration) -> Vec<(Instant, Value)> {
    let deadline = tokio::time::Instant::now() + window;
    let mut got = Vec::new();
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout_at(deadline, futures_util::StreamExt::next(ws)).await
    {
        if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
            let event: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                event["type"], "order.location",
                "only positions expected: {event}"
            );
            got.push((Instant::now(), event));
        }
    }
    got
}

#[actix_web::test]
async fn positions_reach_owner_viewer_and_board_at_most_once_a_second_newest_first() {
    let app = spawn_app().await;
    let (admin, driver_id, driver, owner, order) = delivering(&app).await;
    let link = share(&app, &owner, order, None).await;
    let token = link.body["data"]["token"].as_str().unwrap().to_string();

    let mut owner_ws = app.ws(&format!("/ws/orders/{order}"), &owner).await;
    next_json(&mut owner_ws).await;
    let mut viewer = ws_connect(
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "{}/ws/track/{token}",
            app.ws_address
        ))
        .unwrap(),
    )
    .await
    .unwrap();
    next_json(&mut viewer).await;
    let mut board = app.ws("/ws", &admin).await;
    send_json(&mut board, json!({"type": "subscribe", "topic": "board"})).await;
    next_json(&mut board).await;
    next_json(&mut board).await;

    // A burst of ten positions from the driver's socket.
    let mut driver_ws = app.ws("/ws", &driver).await;
    for k in 0..10 {
        send_json(
            &mut driver_ws,
            position(order, -6.1754 - f64::from(k) * 0.001),
        )
        .await;
    }
    let window = Duration::from_millis(2600);
    let (owner_got, viewer_got, board_got) = tokio::join!(
        positions_within(&mut owner_ws, window),
        positions_within(&mut viewer, window),
        positions_within(&mut board, window),
    );
    for got in [&owner_got, &viewer_got, &board_got] {
        // The first at once, then one a second: at most three in 2.6 s, never two within 0.9 s.
        assert!((1..=3).contains(&got.len()), "{got:?}");
        for pair in got.windows(2) {
            assert!(
                pair[1].0 - pair[0].0 >= Duration::from_millis(900),
                "{got:?}"
            );
        }
        // The newest wins: the last one carries the last position sent.
        let last = &got.last().unwrap().1;
        assert!(
            (last["lat"].as_f64().unwrap() - (-6.1844)).abs() < 1e-9,
            "{last}"
        );
        assert!(
            last["estimated_time"].is_string(),
            "with a destination there is an ETA: {last}"
        );
    }
    let owners = &owner_got[0].1;
    assert_eq!(
        (owners["topic"].as_str(), owners["order_id"].as_str()),
        (
            Some(format!("order:{order}").as_str()),
            Some(order.to_string().as_str())
        )
    );
    assert_eq!(owners["driver_id"], driver_id);
    let viewers = &viewer_got[0].1;
    assert_eq!(viewers["topic"], format!("track:{order}"));
    for private in ["order_id", "driver_id"] {
        assert!(
            viewers.get(private).is_none(),
            "{private} leaked: {viewers}"
        );
    }
    assert_eq!(
        (
            board_got[0].1["topic"].as_str(),
            board_got[0].1["order_id"].as_str()
        ),
        (Some("board"), Some(order.to_string().as_str()))
    );
    assert!(owners.get("seq").is_none() || owners["seq"] == 0);

    // A new subscriber's snapshot carries the last known position.
    let mut late = app.ws(&format!("/ws/orders/{order}"), &owner).await;
    let snapshot = next_json(&mut late).await;
    assert!(snapshot["location"]["lat"].is_number(), "{snapshot}");

    // Delivered: positions are refused and nobody hears one again.
    assert_eq!(
        app.set_status(&driver, order, "delivered").await.status,
        200
    );
    for ws in [&mut owner_ws, &mut viewer] {
        let delivered = next_json(ws).await;
        assert_eq!(delivered["status"], "delivered");
    }
    send_json(&mut driver_ws, position(order, -6.19)).await;
    let refused = next_json(&mut driver_ws).await;
    assert_eq!(
        (refused["type"].as_str(), refused["order_id"].as_i64()),
        (Some("error"), Some(order)),
        "{refused}"
    );
    assert_eq!(
        post_position(&app, &driver, order, position(order, -6.19))
            .await
            .status,
        409
    );
    assert_silent(&mut owner_ws, Duration::from_millis(1500)).await;
    assert_silent(&mut viewer, Duration::from_millis(100)).await;
    let snapshot = next_json(&mut app.ws(&format!("/ws/orders/{order}"), &owner).await).await;
    assert_eq!(
        snapshot["location"],
        Value::Null,
        "no position once delivered: {snapshot}"
    );
}

#[actix_web::test]
async fn positions_are_refused_from_anyone_else_with_bad_numbers_or_outside_shipped() {
    let app = spawn_app().await;
    let (admin, _, driver, owner, order) = delivering(&app).await;
    let (_, other_driver) = app.staff("Siti", "driver").await;
    let good = json!({"lat": -6.2, "lng": 106.8});

    assert_eq!(
        post_position(&app, &driver, order, good.clone())
            .await
            .status,
        202
    );
    assert_eq!(
        post_position(&app, &admin, order, good.clone())
            .await
            .status,
        202
    );
    assert_eq!(
        post_position(&app, &other_driver, order, good.clone())
            .await
            .status,
        403
    );
    assert_eq!(
        post_position(&app, &owner, order, good.clone())
            .await
            .status,
        403
    );
    assert_eq!(
        post_position(&app, &driver, 999_999, good.clone())
            .await
            .status,
        404
    );
    let now = chrono::Utc::now();
    for bad in [
        json!({"lat": 91, "lng": 0}),
        json!({"lat": 0, "lng": 181}),
        json!({"lat": "1", "lng": 0}),
        json!({"lng": 0}),
        json!({"lat": 0, "lng": 0, "speed": -1}),
        json!({"lat": 0, "lng": 0, "accuracy": 1e300}),
        json!({"lat": 0, "lng": 0, "at": (now + chrono::Duration::minutes(5)).to_rfc3339()}),
        json!({"lat": 0, "lng": 0, "at": (now - chrono::Duration::minutes(2)).to_rfc3339()}),
        json!({"lat": 0, "lng": 0, "at": "\u{0}"}),
    ] {
        let answer = post_position(&app, &driver, order, bad.clone()).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
    }
    // A number too large for a double is no number at all.
    let huge = app
        .client
        .post(format!("{}/api/orders/{order}/location", app.address))
        .bearer_auth(&driver)
        .header("content-type", "application/json")
        .body(r#"{"lat": 1e999, "lng": 0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 400);

    // Over the socket: the same rules, answered with error frames.
    let mut ws = app.ws("/ws", &driver).await;
    send_json(
        &mut ws,
        json!({"type": "location", "order_id": order, "lat": 95, "lng": 0}),
    )
    .await;
    let invalid = next_json(&mut ws).await;
    assert!(invalid["errors"]["lat"].is_array(), "{invalid}");
    send_json(
        &mut ws,
        json!({"type": "location", "order_id": "x", "lat": 0, "lng": 0}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "error");
    let mut stranger = app.ws("/ws", &other_driver).await;
    send_json(
        &mut stranger,
        json!({"type": "location", "order_id": order, "lat": 0, "lng": 0}),
    )
    .await;
    assert_eq!(next_json(&mut stranger).await["type"], "error");

    // Not shipped yet: refused.
    let pending = app.create_order(&owner, "Later").await;
    assert_eq!(post_position(&app, &admin, pending, good).await.status, 409);
}

#[actix_web::test]
async fn the_database_gets_at_most_one_position_per_order_per_persist_interval() {
    let app = spawn_app_tuned(|s| s.dispatch.location_persist_secs = 2).await;
    let (admin, _, driver, owner, order) = delivering(&app).await;
    let mut watcher = app.ws(&format!("/ws/orders/{order}"), &owner).await;
    next_json(&mut watcher).await;
    let mut ws = app.ws("/ws", &driver).await;
    let started = Instant::now();
    let mut k = 0;
    while started.elapsed() < Duration::from_millis(5_000) {
        send_json(&mut ws, position(order, -6.1754 - f64::from(k) * 0.0001)).await;
        k += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    // Give the last publish its second.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let written = app
        .sql_number(&format!(
            "SELECT count(*) FROM order_locations WHERE order_id = {order}"
        ))
        .await;
    let bound = (seconds / 2.0).ceil() as i64 + 1;
    assert!(
        (1..=bound).contains(&written),
        "{written} rows in {seconds:.1} s, bound {bound}"
    );
    // Writes keep the order's last position and its ETA current.
    let with_location = app
        .sql_number(&format!(
            "SELECT count(*) FROM orders WHERE id = {order} AND location IS NOT NULL
             AND estimated_time IS NOT NULL"
        ))
        .await;
    assert_eq!(with_location, 1);
    assert!(k >= 40, "{k} positions sent");
    // The trail is the order's to see, oldest first.
    let trail = app.get(&format!("/api/orders/{order}/trail"), &owner).await;
    assert_eq!(trail.status, 200, "{}", trail.body);
    let points = trail.body["data"].as_array().unwrap();
    assert_eq!(points.len() as i64, written);
    assert!(points
        .windows(2)
        .all(|w| w[0]["at"].as_str() < w[1]["at"].as_str()));
    let (_, stranger) = app.customer("Stranger").await;
    assert_eq!(
        app.get(&format!("/api/orders/{order}/trail"), &stranger)
            .await
            .status,
        404
    );
    // Another driver takes over: the last position was the first driver's, and goes.
    let (sari, _) = app.staff("Sari", "driver").await;
    assert_eq!(assign(&app, &admin, order, json!(sari)).await.status, 200);
    let kept = app
        .sql_number(&format!(
            "SELECT count(*) FROM orders WHERE id = {order} AND location IS NOT NULL"
        ))
        .await;
    assert_eq!(kept, 0);
}
