//! Two server instances on one database deliver each other's events.

use serde_json::{json, Value};

use crate::helpers::*;

#[actix_web::test]
async fn a_change_on_one_instance_reaches_a_subscriber_of_the_other() {
    let a = spawn_app().await;
    let b = spawn_app_with(test_settings(&a.database_url)).await;
    let (_, token) = a.customer("Cross").await;
    let id = a.create_order(&token, "Pempek").await;
    let (_, staff) = a.staff("Admin", "admin").await;

    // Tokens work on both: they share the secret and the database.
    let mut on_b = b.ws(&format!("/ws/orders/{id}"), &token).await;
    assert_eq!(next_json(&mut on_b).await["type"], "order.snapshot");
    let mut on_a = a.ws(&format!("/ws/orders/{id}"), &token).await;
    next_json(&mut on_a).await;

    assert_eq!(a.set_status(&staff, id, "confirmed").await.status, 200);
    assert_eq!(b.set_status(&staff, id, "preparing").await.status, 200);
    for ws in [&mut on_a, &mut on_b] {
        let first = next_json(ws).await;
        let second = next_json(ws).await;
        assert_eq!(
            (first["seq"].as_i64(), first["status"].as_str()),
            (Some(2), Some("confirmed"))
        );
        assert_eq!(
            (second["seq"].as_i64(), second["status"].as_str()),
            (Some(3), Some("preparing"))
        );
    }
}

/// Each instance's order actor remembers the order as its own last change left it. A change made
/// meanwhile on the other instance must be checked against, never overwritten or skipped, and
/// the events written ahead of the statement must be the ones a resuming client reads back.
#[actix_web::test]
async fn a_change_made_on_the_other_instance_is_checked_against_here() {
    let a = spawn_app().await;
    let b = spawn_app_with(test_settings(&a.database_url)).await;
    let (_, token) = a.customer("Between").await;
    let id = a.create_order(&token, "Soto").await;
    let (_, staff) = a.staff("Admin", "admin").await;
    let mut live = a.ws(&format!("/ws/orders/{id}"), &token).await;
    next_json(&mut live).await;

    assert_eq!(a.set_status(&staff, id, "preparing").await.status, 200);
    assert_eq!(b.set_status(&staff, id, "shipped").await.status, 200);
    // Against what `a` last wrote this would be a forward move; the order is shipped now.
    let backwards = a.set_status(&staff, id, "ready").await;
    assert_eq!(backwards.status, 409, "{}", backwards.body);
    let delivered = a.set_status(&staff, id, "delivered").await;
    assert_eq!(delivered.status, 200, "{}", delivered.body);
    assert_eq!(b.set_status(&staff, id, "cancelled").await.status, 409);

    let history = a.get(&format!("/api/orders/{id}/history"), &token).await;
    let steps: Vec<(i64, Value, Value)> = history.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["seq"].as_i64().unwrap(),
                h["from_status"].clone(),
                h["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (1, Value::Null, json!("pending")),
            (2, json!("pending"), json!("preparing")),
            (3, json!("preparing"), json!("shipped")),
            (4, json!("shipped"), json!("delivered")),
        ]
    );

    let mut heard = Vec::new();
    for _ in 0..3 {
        heard.push(next_json(&mut live).await);
    }
    assert_silent(&mut live, std::time::Duration::from_millis(300)).await;
    let mut replay = b.ws(&format!("/ws/orders/{id}?since=1"), &token).await;
    for event in &heard {
        assert_eq!(&next_json(&mut replay).await, event);
    }
}

/// Positions travel between instances like events, and a delivery made on one instance ends
/// the positions another instance takes: the publish itself checks the order.
#[actix_web::test]
async fn positions_cross_instances_and_a_delivery_on_the_other_ends_them() {
    let a = spawn_app().await;
    let b = spawn_app_with(test_settings(&a.database_url)).await;
    let (_, admin) = a.staff("Admin", "admin").await;
    let (driver_id, driver) = a.staff("Budi", "driver").await;
    let (_, owner) = a.customer("Owner").await;
    let id = a.create_order(&owner, "Bebek").await;
    let assigned = a
        .put(
            &format!("/api/orders/{id}/driver"),
            &admin,
            json!({"driver_id": driver_id}),
        )
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    assert_eq!(a.set_status(&admin, id, "shipped").await.status, 200);

    let mut on_b = b.ws(&format!("/ws/orders/{id}"), &owner).await;
    next_json(&mut on_b).await;
    let position = json!({"lat": -6.2, "lng": 106.8});
    let sent = a
        .post(
            &format!("/api/orders/{id}/location"),
            Some(&driver),
            position.clone(),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let heard = next_json(&mut on_b).await;
    assert_eq!(
        (heard["type"].as_str(), heard["lat"].as_f64()),
        (Some("order.location"), Some(-6.2))
    );

    assert_eq!(b.set_status(&driver, id, "delivered").await.status, 200);
    assert_eq!(next_json(&mut on_b).await["status"], "delivered");
    // `a` still thinks the order is on its way until its next publish finds otherwise; either
    // way, nobody hears of a position after the delivery, and `a` refuses the ones after that.
    let mut refused = false;
    for _ in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let late = a
            .post(
                &format!("/api/orders/{id}/location"),
                Some(&driver),
                position.clone(),
            )
            .await;
        if late.status == 409 {
            refused = true;
            break;
        }
        assert_eq!(late.status, 202, "{}", late.body);
    }
    assert!(
        refused,
        "instance a kept taking positions for a delivered order"
    );
    assert_silent(&mut on_b, std::time::Duration::from_millis(300)).await;
}
