//! Two server instances on one database deliver each other's events.

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
