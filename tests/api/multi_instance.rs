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
