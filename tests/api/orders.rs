//! Orders as seed 001 (English order tracking) uses them: `description` orders, the admin list,
//! a WebSocket authenticated by its `Authorization` header, the owner cancelling and deleting.

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn description_orders_admin_list_and_header_websocket() {
    let app = spawn_app().await;
    let reg = app
        .post(
            "/api/register",
            None,
            json!({"name": "Test User", "email": "test@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(reg.status, 201);
    let token = app
        .login(json!({"email": "test@example.com", "password": "password123"}))
        .await;

    let created = app
        .post(
            "/api/orders",
            Some(&token),
            json!({"description": "Nasi Goreng Special"}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["data"]["description"], "Nasi Goreng Special");
    let id = created.body["data"]["id"].as_i64().unwrap();

    let mine = app.get("/api/orders", &token).await;
    assert_eq!(mine.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(mine.body["meta"]["total"], 1);

    let mut ws = app.ws(&format!("/ws/orders/{id}"), &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "order.snapshot");

    let (_, admin) = app.staff("Admin", "admin").await;
    for (word, canonical, display) in [
        ("Processing", "preparing", "Preparing"),
        ("Shipped", "shipped", "Shipped"),
        ("Completed", "delivered", "Delivered"),
    ] {
        let res = app.set_status(&admin, id, word).await;
        assert_eq!(res.status, 200, "{}", res.body);
        let event = next_json(&mut ws).await;
        assert_eq!(event["status"], canonical);
        assert_eq!(event["status_display"], display);
        assert_eq!(event["updated_by"], "Admin");
    }

    // The admin list sees everyone's orders and filters by status.
    let other = app.customer("Other").await.1;
    app.create_order(&other, "Es Teh").await;
    let all = app.get("/api/admin/orders", &admin).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["meta"]["total"], 2);
    let delivered = app.get("/api/admin/orders?status=completed", &admin).await;
    assert_eq!(delivered.body["meta"]["total"], 1);
    assert_eq!(delivered.body["data"][0]["id"], id);
    let by_status = app.get("/api/orders/status/delivered", &token).await;
    assert_eq!(by_status.body["data"][0]["id"], id);
}

#[actix_web::test]
async fn owner_cancels_while_pending_and_delete_hides() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Ann").await;
    let id = app.create_order(&token, "Kopi").await;
    let other = app.create_order(&token, "Teh").await;

    let cancel = app.set_status(&token, id, "canceled").await;
    assert_eq!(cancel.status, 200);
    assert_eq!(cancel.body["data"]["status"], "cancelled");
    let again = app.set_status(&token, id, "pending").await;
    assert_eq!(again.status, 409, "cancelled is final");

    let deleted = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/orders/{other}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        app.get(&format!("/api/orders/{other}"), &token)
            .await
            .status,
        404
    );
    let list = app.get("/api/orders", &token).await;
    assert_eq!(list.body["meta"]["total"], 1);
    // The history stays, for staff.
    let (_, admin) = app.staff("Admin", "admin").await;
    let history = app
        .get(&format!("/api/orders/{other}/history"), &admin)
        .await;
    assert_eq!(history.body["data"].as_array().unwrap().len(), 2);
}
