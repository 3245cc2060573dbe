//! Live tracking end to end, as seed 000 (Indonesian order tracking) lists it: register, order,
//! follow it over WebSocket, recover what was missed offline, the display language, and what a
//! new subscriber's snapshot carries.

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn register_order_track_live_and_recover_offline() {
    let app = spawn_app().await;

    // 1. Register & login -> JWT (the seed's bodies).
    let reg = app
        .post(
            "/api/register",
            None,
            json!({"name": "John", "email": "john@example.com", "password": "secret123"}),
        )
        .await;
    assert_eq!(reg.status, 201);
    assert_eq!(reg.body["status"], "success");
    assert_eq!(reg.body["data"]["role"], "user");
    let login = app
        .post(
            "/api/login",
            None,
            json!({"email": "john@example.com", "password": "secret123"}),
        )
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(login.body["status"], "success");
    assert_eq!(login.body["data"]["token_type"], "Bearer");
    assert!(login.body["data"]["expires_at"].is_string());
    let token = login.body["data"]["token"].as_str().unwrap().to_string();

    // 2. Create an order with free-text items.
    let created = app
        .post(
            "/api/orders",
            Some(&token),
            json!({"items": "Nasi Goreng, Es Teh"}),
        )
        .await;
    assert_eq!(created.status, 201);
    let order = &created.body["data"];
    assert_eq!(order["status"], "pending");
    assert_eq!(order["items"], "Nasi Goreng, Es Teh");
    let number = order["order_number"].as_str().unwrap();
    assert!(
        number.starts_with("ORD-") && number.len() == "ORD-20250105-0001".len(),
        "{number}"
    );
    let id = order["id"].as_i64().unwrap();

    // 4. A WebSocket client sees every change live; it starts from a snapshot.
    let mut ws = app.ws(&format!("/ws/orders/{id}"), &token).await;
    let snapshot = next_json(&mut ws).await;
    assert_eq!(snapshot["type"], "order.snapshot");
    assert_eq!(snapshot["order_id"], id.to_string());
    assert_eq!(snapshot["status"], "pending");
    assert_eq!(snapshot["seq"], 1);

    // 3. Update the status as admin and as driver, with the seed's Indonesian words.
    let (_, admin) = app.staff("Admin", "admin").await;
    let (_, driver) = app.staff("Budi", "driver").await;
    for (who, word, canonical, seq) in [
        (&admin, "Diproses", "preparing", 2),
        (&driver, "Dikirim", "shipped", 3),
        (&driver, "Selesai", "delivered", 4),
    ] {
        let res = app.set_status(who, id, word).await;
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.body["data"]["status"], canonical);
        let event = next_json(&mut ws).await;
        assert_eq!(event["type"], "order.status");
        assert_eq!(event["order_id"], id.to_string());
        assert_eq!(event["status"], canonical);
        assert_eq!(event["seq"], seq);
        assert!(event["updated_at"].is_string());
    }
    drop(ws);

    // 5. Offline: log in again and read the latest status and the history over REST.
    let token = app
        .login(json!({"email": "john@example.com", "password": "secret123"}))
        .await;
    let detail = app.get(&format!("/api/orders/{id}"), &token).await;
    assert_eq!(detail.body["data"]["status"], "delivered");
    let history = app.get(&format!("/api/orders/{id}/history"), &token).await;
    let statuses: Vec<&str> = history.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "preparing", "shipped", "delivered"]);
    let entries = history.body["data"].as_array().unwrap();
    assert_eq!(entries[2]["updated_by"], "Budi");
    assert!(entries.iter().all(|h| h["created_at"].is_string()));
}

#[actix_web::test]
async fn indonesian_display_follows_accept_language() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Siti").await;
    let id = app.create_order(&token, "Sate Ayam").await;
    let res = app
        .client
        .get(format!("{}/api/orders/{id}", app.address))
        .bearer_auth(&token)
        .header("Accept-Language", "id-ID,id;q=0.9")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["data"]["status_display"], "Menunggu");
}

#[actix_web::test]
async fn the_snapshot_and_order_answers_carry_what_is_stored() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Siti").await;
    let (_, admin) = app.staff("Budi", "admin").await;
    let order = app.create_order(&token, "Nasi Goreng").await;
    let moved = app
        .put(
            &format!("/api/orders/{order}/status"),
            &admin,
            serde_json::json!({"status": "Dikirim", "notes": "Driver on the way"}),
        )
        .await;
    assert_eq!(moved.status, 200);
    let mut ws = app.ws(&format!("/ws/orders/{order}"), &token).await;
    let snapshot = next_json(&mut ws).await;
    assert_eq!(snapshot["type"], "order.snapshot");
    assert_eq!(snapshot["notes"], "Driver on the way");
    assert_eq!(snapshot["updated_by"], "Budi");

    let paid = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/orders/{order}/payment"),
            Some(&admin),
            Some(serde_json::json!({"payment_status": "confirmed"})),
        )
        .await;
    assert_eq!(paid.body["data"]["payment_status"], "confirmed");
    let shown = app.get(&format!("/api/orders/{order}"), &token).await;
    assert_eq!(shown.body["data"]["payment_status"], "confirmed");
}
