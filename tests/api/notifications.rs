//! Seed 002: a live per-user channel, offline delivery over REST, read state across devices,
//! automatic order notifications, resume, access, bad input and a 1,000-message burst.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::*;

async fn username_user(app: &TestApp, username: &str) -> (i64, String) {
    let reg = app
        .post(
            "/api/register",
            None,
            json!({"username": username, "password": "password123"}),
        )
        .await;
    assert_eq!(reg.status, 201, "{}", reg.body);
    let token = app
        .login(json!({"username": username, "password": "password123"}))
        .await;
    (reg.body["data"]["id"].as_i64().unwrap(), token)
}

#[actix_web::test]
async fn seed_002_walkthrough_online_and_offline() {
    let app = spawn_app().await;
    let (online_id, online) = username_user(&app, "testuser").await;
    let (offline_id, offline) = username_user(&app, "awayuser").await;
    let (_, admin) = app.staff("Admin", "admin").await;

    let mut ws = app.ws("/api/ws", &online).await;
    let first = next_json(&mut ws).await;
    assert_eq!(first["type"], "notification.unread");
    assert_eq!(first["unread"], 0);

    let sent = app
        .post(
            "/api/notifications/send",
            Some(&admin),
            json!({"user_id": online_id, "message": "Pesananmu sudah dikirim!"}),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(sent.body["data"]["delivered_live"], true);
    let live = next_json(&mut ws).await;
    assert_eq!(live["type"], "notification");
    assert_eq!(live["topic"], format!("user:{online_id}"));
    assert_eq!(live["message"], "Pesananmu sudah dikirim!");
    assert_eq!(live["id"], sent.body["data"]["id"]);
    assert!(live["seq"].as_i64().unwrap() > first["seq"].as_i64().unwrap());

    let stored = app
        .post(
            "/api/notifications/send",
            Some(&admin),
            json!({"user_id": offline_id, "title": "Shipped", "message": "On its way", "data": {"order_id": 9}}),
        )
        .await;
    assert_eq!(stored.body["data"]["delivered_live"], false);
    let later = app.get("/api/notifications", &offline).await;
    assert_eq!(later.status, 200);
    let item = &later.body["data"][0];
    assert_eq!(
        (item["title"].as_str(), item["message"].as_str()),
        (Some("Shipped"), Some("On its way"))
    );
    assert_eq!(item["data"]["order_id"], 9);
    assert!(item["read_at"].is_null() && item["created_at"].is_string());
    assert_eq!(
        app.get("/api/notifications", &online).await.body["meta"]["total"],
        1,
        "each sees only their own"
    );
}

#[actix_web::test]
async fn two_devices_receive_and_read_state_syncs() {
    let app = spawn_app().await;
    let (id, token) = app.customer("Dua").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let mut phone = app.ws("/api/ws", &token).await;
    let mut laptop = app.ws("/api/ws", &token).await;
    next_json(&mut phone).await;
    next_json(&mut laptop).await;

    let sent = app
        .post(
            "/api/notifications/send",
            Some(&admin),
            json!({"user_id": id, "message": "Hi"}),
        )
        .await;
    let nid = sent.body["data"]["id"].as_i64().unwrap();
    for ws in [&mut phone, &mut laptop] {
        assert_eq!(next_json(ws).await["id"], nid);
    }
    assert_eq!(
        app.get("/api/notifications/unread-count", &token)
            .await
            .body["data"]["unread"],
        1
    );

    let read = app
        .post(
            &format!("/api/notifications/{nid}/read"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(read.status, 200);
    for ws in [&mut phone, &mut laptop] {
        let event = next_json(ws).await;
        assert_eq!(event["type"], "notification.read");
        assert_eq!(event["ids"], json!([nid]));
        assert_eq!(event["unread"], 0);
    }
    assert_eq!(
        app.get("/api/notifications/unread-count", &token)
            .await
            .body["data"]["unread"],
        0
    );
    let unread = app.get("/api/notifications?unread=true", &token).await;
    assert_eq!(unread.body["meta"]["total"], 0);

    for _ in 0..2 {
        app.post(
            "/api/notifications/send",
            Some(&admin),
            json!({"user_id": id, "message": "More"}),
        )
        .await;
    }
    let all = app
        .post("/api/notifications/read-all", Some(&token), json!({}))
        .await;
    assert_eq!(all.body["data"]["updated"], 2);
    for ws in [&mut phone, &mut laptop] {
        next_json(ws).await;
        next_json(ws).await;
        let event = next_json(ws).await;
        assert_eq!(
            (event["type"].as_str(), event["all"].as_bool()),
            (Some("notification.read"), Some(true))
        );
    }

    // Read state is in the database: another server process on it sees the same.
    let other = spawn_app_with(test_settings(&app.database_url)).await;
    let list = other.get("/api/notifications", &token).await;
    assert!(list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["read_at"].is_string()));
}

#[actix_web::test]
async fn order_changes_notify_the_owner_in_their_language() {
    let app = spawn_app().await;
    let (en_id, en) = app.customer("English").await;
    let (id_id, id_token) = app.customer("Indonesia").await;
    let patched = app.set_locale(&id_token, "id").await;
    assert_eq!(patched.body["data"]["locale"], "id");
    let (_, staff) = app.staff("Budi", "driver").await;

    for (user_id, token, expected) in [
        (en_id, &en, "is now Shipped"),
        (id_id, &id_token, "sekarang Dikirim"),
    ] {
        let order = app.create_order(token, "Kopi").await;
        let mut ws = app.ws("/api/ws", token).await;
        next_json(&mut ws).await;
        assert_eq!(app.set_status(&staff, order, "shipped").await.status, 200);
        let note = next_json(&mut ws).await;
        assert_eq!(note["type"], "notification");
        assert_eq!(note["topic"], format!("user:{user_id}"));
        let message = note["message"].as_str().unwrap();
        assert!(
            message.ends_with(expected) && message.contains("ORD-"),
            "{message}"
        );
        assert_eq!(
            note["data"],
            json!({"order_id": order, "status": "shipped"})
        );
    }
}

/// The order actor writes the next change's texts in the language the owner had at the last
/// change; an owner who switched language in between must get the new one.
#[actix_web::test]
async fn a_language_switch_between_changes_is_heard_in_the_next_one() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Switcher").await;
    let (_, staff) = app.staff("Budi", "driver").await;
    let order = app.create_order(&token, "Kopi").await;
    let mut orders = app.ws(&format!("/ws/orders/{order}"), &token).await;
    next_json(&mut orders).await;
    assert_eq!(app.set_status(&staff, order, "confirmed").await.status, 200);
    assert_eq!(next_json(&mut orders).await["status_display"], "Confirmed");

    let patched = app.set_locale(&token, "id").await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let mut mine = app.ws("/api/ws", &token).await;
    next_json(&mut mine).await;
    assert_eq!(app.set_status(&staff, order, "shipped").await.status, 200);
    assert_eq!(next_json(&mut orders).await["status_display"], "Dikirim");
    let note = next_json(&mut mine).await;
    assert_eq!(note["title"], "Pembaruan pesanan");
    assert!(
        note["message"]
            .as_str()
            .unwrap()
            .ends_with("sekarang Dikirim"),
        "{note}"
    );
}

#[actix_web::test]
async fn resume_after_missing_five() {
    let app = spawn_app().await;
    let (id, token) = app.customer("Away").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let mut ws = app.ws("/api/ws", &token).await;
    let seq = next_json(&mut ws).await["seq"].as_i64().unwrap();
    drop(ws);
    for i in 0..5 {
        app.post(
            "/api/notifications/send",
            Some(&admin),
            json!({"user_id": id, "message": format!("n{i}")}),
        )
        .await;
    }
    let mut ws = app.ws(&format!("/api/ws?since={seq}"), &token).await;
    for i in 0..5 {
        let event = next_json(&mut ws).await;
        assert_eq!(event["message"], format!("n{i}"));
        assert_eq!(event["seq"], seq + 1 + i);
    }
    assert_silent(&mut ws, Duration::from_millis(300)).await;
}

#[actix_web::test]
async fn customers_cannot_send_or_touch_others() {
    let app = spawn_app().await;
    let (alice_id, alice) = app.customer("Alice").await;
    let (bob_id, bob) = app.customer("Bob").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (_, driver) = app.staff("Dodi", "driver").await;

    for token in [&alice, &driver] {
        let res = app
            .post(
                "/api/notifications/send",
                Some(token),
                json!({"user_id": bob_id, "message": "x"}),
            )
            .await;
        assert_eq!(res.status, 403);
    }
    let sent = app
        .post(
            "/api/notifications/send",
            Some(&admin),
            json!({"user_id": alice_id, "message": "mine"}),
        )
        .await;
    let nid = sent.body["data"]["id"].as_i64().unwrap();
    let res = app
        .post(
            &format!("/api/notifications/{nid}/read"),
            Some(&bob),
            json!({}),
        )
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(
        app.get("/api/notifications", &bob).await.body["meta"]["total"],
        0
    );
    assert_eq!(
        app.get("/api/notifications/unread-count", &alice)
            .await
            .body["data"]["unread"],
        1
    );

    let mut ws = app.ws("/ws", &bob).await;
    send_json(
        &mut ws,
        json!({"type": "subscribe", "topic": format!("user:{alice_id}")}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "error");
    let missing = app
        .post(
            "/api/notifications/send",
            Some(&admin),
            json!({"user_id": 999999, "message": "x"}),
        )
        .await;
    assert_eq!(missing.status, 404);
}

#[actix_web::test]
async fn bad_sends_get_field_errors_and_store_nothing() {
    let app = spawn_app().await;
    let (id, token) = app.customer("Target").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    for (body, field) in [
        (json!({"user_id": id}), "message"),
        (
            json!({"user_id": id, "message": "x".repeat(1001)}),
            "message",
        ),
        (
            json!({"user_id": id, "message": "hi", "data": [1, 2]}),
            "data",
        ),
        (
            json!({"user_id": id, "message": "hi", "data": "text"}),
            "data",
        ),
        (
            json!({"user_id": id.to_string(), "message": "hi"}),
            "user_id",
        ),
        (
            json!({"user_id": id, "message": "hi", "data": {"blob": "x".repeat(5000)}}),
            "data",
        ),
    ] {
        let res = app
            .post("/api/notifications/send", Some(&admin), body)
            .await;
        assert_eq!(res.status, 400, "{}", res.body);
        assert!(res.body["errors"][field].is_array(), "{}", res.body);
    }
    assert_eq!(
        app.get("/api/notifications", &token).await.body["meta"]["total"],
        0
    );
}

#[actix_web::test]
async fn old_notifications_board_and_webhook_events_are_purged() {
    let app = spawn_app_tuned(|settings| {
        settings.notifications.purge_interval_secs = 1;
        settings.webhooks.enabled = false;
    })
    .await;
    let (id, token) = app.customer("Old").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let hook = app
        .post(
            "/api/admin/webhooks",
            Some(&admin),
            json!({"url": "https://hooks.example.com/in", "events": ["order.created"]}),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.body);
    for message in ["ancient", "fresh"] {
        app.post(
            "/api/notifications/send",
            Some(&admin),
            json!({"user_id": id, "message": message}),
        )
        .await;
    }
    app.sql("UPDATE notifications SET created_at = now() - interval '91 days' WHERE message = 'ancient'").await;
    // Two board events (two orders made), one of them as old.
    for items in ["Old dish", "New dish"] {
        app.create_order(&token, items).await;
    }
    app.sql("UPDATE board_events SET created_at = now() - interval '91 days' WHERE seq = 1")
        .await;
    // Both orders' webhook events are as old; the first one's delivery is finished, the
    // second's still queued (kept until it is sent or given up).
    app.sql("UPDATE webhook_events SET created_at = now() - interval '91 days'")
        .await;
    app.sql("UPDATE webhook_deliveries SET state = 'delivered' WHERE event_id = (SELECT min(id) FROM webhook_events)")
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        app.sql_number("SELECT count(*) FROM webhook_events").await,
        1
    );
    assert_eq!(
        app.sql_number("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'")
            .await,
        1
    );
    let list = app.get("/api/notifications", &token).await;
    assert_eq!(list.body["meta"]["total"], 1);
    assert_eq!(list.body["data"][0]["message"], "fresh");
    assert_eq!(app.sql_number("SELECT min(seq) FROM board_events").await, 2);
}

#[actix_web::test]
async fn a_thousand_concurrent_notifications_arrive_once_in_order() {
    const N: usize = 1000;
    let app = spawn_app().await;
    let (id, token) = app.customer("Busy").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let mut ws = app.ws("/api/ws", &token).await;
    let start = next_json(&mut ws).await["seq"].as_i64().unwrap();

    let reader = actix_web::rt::spawn(async move {
        let mut seqs = Vec::with_capacity(N);
        let mut ids = std::collections::HashSet::new();
        while seqs.len() < N {
            let event = next_json(&mut ws).await;
            assert_eq!(event["type"], "notification");
            seqs.push(event["seq"].as_i64().unwrap());
            assert!(
                ids.insert(event["id"].as_i64().unwrap()),
                "a notification arrived twice"
            );
        }
        assert_silent(&mut ws, Duration::from_millis(300)).await;
        seqs
    });
    let sends = (0..N).map(|i| {
        let (app, admin) = (&app, &admin);
        async move {
            app.post(
                "/api/notifications/send",
                Some(admin),
                json!({"user_id": id, "message": format!("#{i}")}),
            )
            .await
            .status
        }
    });
    let statuses = join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 201));
    let seqs = reader.await.unwrap();
    let expected: Vec<i64> = (start + 1..=start + N as i64).collect();
    assert_eq!(seqs, expected, "every seq once, in order");
    assert_eq!(
        app.get("/api/notifications", &token).await.body["meta"]["total"],
        N as i64
    );
}
