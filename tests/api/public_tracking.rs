//! `GET /ws/track/{token}`: a share link's live view of its order, without login. The viewer
//! gets the order's events without their private fields (who made a change, the order's id), resumes with `since`, can follow
//! nothing else, and is closed with 4003 the moment the link is revoked, on every process.

use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::helpers::*;
use crate::share_links::{share, unshare};

/// Opens a viewer's socket with no credentials at all.
async fn view(app: &TestApp, path: &str) -> Result<Ws, WsError> {
    let request = format!("{}{}", app.ws_address, path)
        .into_client_request()
        .unwrap();
    ws_connect(request).await
}

/// The HTTP status a refused handshake got.
fn refused_status(result: Result<Ws, WsError>) -> u16 {
    match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, the socket opened"),
    }
}

/// An order of a new customer, shared: (owner's token, order id, link id, link token).
async fn shared_order(app: &TestApp) -> (String, i64, i64, String) {
    let (_, owner) = app.customer("Sharer").await;
    let order = app.create_order(&owner, "Soto Ayam").await;
    let made = share(app, &owner, order, None).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let data = &made.body["data"];
    let token = data["token"].as_str().unwrap().to_string();
    (owner, order, data["id"].as_i64().unwrap(), token)
}

fn assert_public(event: &Value, order: i64) {
    assert_eq!(event["topic"], format!("track:{order}"), "{event}");
    for private in ["order_id", "updated_by"] {
        assert!(event.get(private).is_none(), "{private} leaked: {event}");
    }
}

#[actix_web::test]
async fn a_viewer_follows_the_order_live_without_private_fields_and_resumes_with_since() {
    let app = spawn_app().await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (_, order, _, token) = shared_order(&app).await;
    let path = format!("/ws/track/{token}");

    let mut viewer = view(&app, &path).await.expect("an anonymous handshake");
    let snapshot = next_json(&mut viewer).await;
    assert_eq!(snapshot["type"], "order.snapshot");
    assert_eq!(
        (snapshot["seq"].as_i64(), snapshot["status"].as_str()),
        (Some(1), Some("pending"))
    );
    assert_public(&snapshot, order);
    assert!(snapshot["order_number"]
        .as_str()
        .unwrap()
        .starts_with("ORD-"));

    let noted = json!({"status": "confirmed", "notes": "Rider picks up at 12:30"});
    let path_status = format!("/api/orders/{order}/status");
    assert_eq!(app.put(&path_status, &admin, noted).await.status, 200);
    let live = next_json(&mut viewer).await;
    assert_eq!(
        (live["type"].as_str(), live["seq"].as_i64()),
        (Some("order.status"), Some(2))
    );
    assert_eq!(live["status"], "confirmed");
    assert_eq!(live["notes"], "Rider picks up at 12:30");
    assert_public(&live, order);
    drop(viewer);

    // Two changes while the viewer is away arrive once each, in order, after `since`.
    for status in ["preparing", "ready"] {
        assert_eq!(app.set_status(&admin, order, status).await.status, 200);
    }
    let mut back = view(&app, &format!("{path}?since=2")).await.unwrap();
    let third = next_json(&mut back).await;
    let fourth = next_json(&mut back).await;
    assert_eq!(
        (third["seq"].as_i64(), third["status"].as_str()),
        (Some(3), Some("preparing"))
    );
    assert_eq!(
        (fourth["seq"].as_i64(), fourth["status"].as_str()),
        (Some(4), Some("ready"))
    );
    assert_public(&third, order);
    assert_silent(&mut back, Duration::from_millis(300)).await;

    // Staff following the order itself still get the whole event.
    let staff_view = {
        let mut ws = app.ws(&format!("/ws/orders/{order}?since=1"), &admin).await;
        next_json(&mut ws).await
    };
    assert_eq!(staff_view["updated_by"], "Admin");
    assert_eq!(staff_view["topic"], format!("order:{order}"));
}

#[actix_web::test]
async fn a_link_opens_its_order_public_view_and_nothing_else() {
    let app = spawn_app().await;
    let (owner_id, other) = app.customer("Neighbour").await;
    let other_order = app.create_order(&other, "Bakso").await;
    let (_, order, _, token) = shared_order(&app).await;
    let mut viewer = view(&app, &format!("/ws/track/{token}")).await.unwrap();
    next_json(&mut viewer).await;

    for topic in [
        format!("order:{order}"),
        format!("track:{other_order}"),
        format!("order:{other_order}"),
        format!("user:{owner_id}"),
    ] {
        send_json(&mut viewer, json!({"type": "subscribe", "topic": topic})).await;
        let answer = next_json(&mut viewer).await;
        assert_eq!(answer["type"], "error", "{topic} was granted: {answer}");
        assert_eq!(answer["topic"], topic);
    }
    // The socket still works for what it was given.
    send_json(&mut viewer, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut viewer).await["type"], "pong");

    // The link's token is no credential for the API, nor for the other sockets.
    let as_bearer = app.get(&format!("/api/orders/{order}"), &token).await;
    assert_eq!(as_bearer.status, 401);
    let request = app.ws_request(&format!("/ws/orders/{order}"), &token);
    assert_eq!(refused_status(ws_connect(request).await), 401);
}

#[actix_web::test]
async fn bad_tokens_and_bad_since_are_refused_before_the_upgrade() {
    let app = spawn_app().await;
    let (owner, order, link, token) = shared_order(&app).await;
    let never = "0".repeat(64);
    let long = "a".repeat(5000);
    for path in [
        format!("/ws/track/{never}"),
        "/ws/track/not-a-token".to_string(),
        format!("/ws/track/{}", token.to_uppercase()),
        format!("/ws/track/{long}"),
        format!("/ws/track/{token}%00"),
    ] {
        let status = refused_status(view(&app, &path).await);
        assert!([400, 404, 422].contains(&status), "{path}: {status}");
    }
    for since in ["-1", "x", "99999999999999999999"] {
        let path = format!("/ws/track/{token}?since={since}");
        assert_eq!(refused_status(view(&app, &path).await), 400, "{since}");
    }
    assert_eq!(unshare(&app, &owner, order, link).await.status, 200);
    assert_eq!(
        refused_status(view(&app, &format!("/ws/track/{token}")).await),
        404
    );
}

#[actix_web::test]
async fn revoking_a_link_closes_its_viewers_on_every_process_with_4003() {
    let a = spawn_app().await;
    let b = spawn_app_with(test_settings(&a.database_url)).await;
    let (owner, order, link, token) = shared_order(&a).await;
    let (_, _, _, other_token) = shared_order(&a).await;
    let path = format!("/ws/track/{token}");
    let mut on_a = view(&a, &path).await.unwrap();
    let mut on_b = view(&b, &path).await.unwrap();
    let mut bystander = view(&b, &format!("/ws/track/{other_token}")).await.unwrap();
    for ws in [&mut on_a, &mut on_b, &mut bystander] {
        next_json(ws).await;
    }

    assert_eq!(unshare(&a, &owner, order, link).await.status, 200);
    for ws in [&mut on_a, &mut on_b] {
        let close = next_close(ws).await.expect("a close frame");
        assert_eq!(u16::from(close.code), 4003);
    }
    // Another link's viewer is untouched.
    send_json(&mut bystander, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut bystander).await["type"], "pong");
}

#[actix_web::test]
async fn deleting_the_order_closes_its_viewers() {
    let app = spawn_app().await;
    let (owner, order, _, token) = shared_order(&app).await;
    let mut viewer = view(&app, &format!("/ws/track/{token}")).await.unwrap();
    next_json(&mut viewer).await;
    let deleted = app.delete(&format!("/api/orders/{order}"), &owner).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let close = next_close(&mut viewer).await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4003);
}

#[actix_web::test]
async fn a_link_holds_at_most_its_cap_of_viewers() {
    let app = spawn_app_tuned(|s| s.share.max_viewers_per_link = 2).await;
    let (_, _, _, token) = shared_order(&app).await;
    let path = format!("/ws/track/{token}");
    let first = view(&app, &path).await.unwrap();
    let _second = view(&app, &path).await.unwrap();
    assert_eq!(refused_status(view(&app, &path).await), 429);
    drop(first);
    // The slot comes back once the server has seen the socket go.
    let mut reopened = None;
    for _ in 0..50 {
        if let Ok(ws) = view(&app, &path).await {
            reopened = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "a freed slot is taken again");
}

#[actix_web::test]
async fn the_largest_since_resumes_quietly_instead_of_catching_up_forever() {
    let app = spawn_app().await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (_, order, _, token) = shared_order(&app).await;
    let path = format!("/ws/track/{token}?since={}", i64::MAX);
    let mut viewer = view(&app, &path).await.unwrap();
    let commits = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()";
    let before = app.sql_number(commits).await;
    assert_eq!(app.set_status(&admin, order, "confirmed").await.status, 200);
    assert_silent(&mut viewer, Duration::from_millis(500)).await;
    // A busy backend reports its counts at most once a second; give them time to show.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // One change costs a handful of transactions; a catch-up loop costs thousands a second.
    let spent = app.sql_number(commits).await - before;
    assert!(spent < 100, "{spent} transactions for one change");
    send_json(&mut viewer, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut viewer).await["type"], "pong");
}

#[actix_web::test]
async fn viewers_learn_the_first_name_of_the_driver_bringing_the_order() {
    let app = spawn_app().await;
    let (_, admin) = app.staff("Admin Person", "admin").await;
    let (_, driver) = app.staff("Budi Santoso", "driver").await;
    let (_, order, _, token) = shared_order(&app).await;
    let path = format!("/ws/track/{token}");
    let mut viewer = view(&app, &path).await.unwrap();
    assert_eq!(next_json(&mut viewer).await["driver_name"], Value::Null);

    assert_eq!(app.set_status(&driver, order, "shipped").await.status, 200);
    let by_driver = next_json(&mut viewer).await;
    assert_eq!(by_driver["driver_name"], "Budi");
    assert!(!by_driver.to_string().contains("Santoso"), "{by_driver}");
    // An admin's change names no driver; the one who last moved the order is still the one.
    assert_eq!(app.set_status(&admin, order, "delivered").await.status, 200);
    assert_eq!(next_json(&mut viewer).await["driver_name"], Value::Null);

    let fresh = {
        let mut ws = view(&app, &path).await.unwrap();
        next_json(&mut ws).await
    };
    assert_eq!(fresh["type"], "order.snapshot");
    assert_eq!(fresh["driver_name"], "Budi");
    let rest = app
        .request(
            reqwest::Method::GET,
            &format!("/api{}", &path[3..]),
            None,
            None,
        )
        .await;
    assert_eq!(rest.body["data"]["driver_name"], "Budi", "{}", rest.body);
    assert!(!rest.body.to_string().contains("Santoso"));
}

#[actix_web::test]
async fn one_address_holds_at_most_its_cap_of_viewers_over_all_links() {
    let app = spawn_app_tuned(|s| s.share.max_viewers_per_address = 2).await;
    let (_, _, _, first) = shared_order(&app).await;
    let (_, _, _, second) = shared_order(&app).await;
    let _a = view(&app, &format!("/ws/track/{first}")).await.unwrap();
    let _b = view(&app, &format!("/ws/track/{second}")).await.unwrap();
    let third = view(&app, &format!("/ws/track/{first}")).await;
    assert_eq!(refused_status(third), 429);
}

#[actix_web::test]
async fn a_link_whose_days_after_final_run_out_closes_its_viewers_at_the_next_check() {
    let app = spawn_app_tuned(|s| s.share.recheck_secs = 1).await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (_, order, _, token) = shared_order(&app).await;
    assert_eq!(app.set_status(&admin, order, "delivered").await.status, 200);
    let mut viewer = view(&app, &format!("/ws/track/{token}")).await.unwrap();
    assert_eq!(next_json(&mut viewer).await["status"], "delivered");
    // Nothing announces the end: the order simply became final more than ttl_days ago.
    app.sql(&format!(
        "UPDATE order_status_history SET created_at = created_at - interval '8 days'
         WHERE order_id = {order} AND status = 'delivered'"
    ))
    .await;
    let close = next_close(&mut viewer).await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4003);
}
