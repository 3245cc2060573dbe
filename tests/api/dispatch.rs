//! Drivers and orders: an admin assigns and unassigns, a driver claims (one winner of a race),
//! a driver lists their orders, `dispatch.drivers_assigned_only` keeps drivers to their own, and
//! `dispatch.require_delivery_code` asks for the owner's code with a growing wait after wrong ones.

use serde_json::{json, Value};

use crate::helpers::*;

/// `PUT /api/orders/{id}/driver`.
pub(crate) async fn assign(app: &TestApp, admin: &str, order: i64, driver: Value) -> Answer {
    app.put(
        &format!("/api/orders/{order}/driver"),
        admin,
        json!({"driver_id": driver}),
    )
    .await
}

pub(crate) async fn claim(app: &TestApp, driver: &str, order: i64) -> Answer {
    app.post(
        &format!("/api/orders/{order}/claim"),
        Some(driver),
        json!({}),
    )
    .await
}

/// Moves an order along to `shipped` as `staff`.
pub(crate) async fn ship(app: &TestApp, staff: &str, order: i64) {
    let shipped = app.set_status(staff, order, "shipped").await;
    assert_eq!(shipped.status, 200, "{}", shipped.body);
}

#[actix_web::test]
async fn an_admin_assigns_a_driver_the_owner_sees_it_live_and_the_driver_lists_it() {
    let app = spawn_app().await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (budi_id, budi) = app.staff("Budi Santoso", "driver").await;
    let (_, owner) = app.customer("Owner").await;
    let order = app.create_order(&owner, "Nasi Goreng").await;
    let mut watcher = app.ws(&format!("/ws/orders/{order}"), &owner).await;
    let snapshot = next_json(&mut watcher).await;
    assert_eq!(snapshot["driver"], Value::Null);

    let assigned = assign(&app, &admin, order, json!(budi_id)).await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    assert_eq!(
        assigned.body["data"]["driver"],
        json!({"id": budi_id, "name": "Budi Santoso"})
    );
    let event = next_json(&mut watcher).await;
    assert_eq!(
        (
            event["type"].as_str(),
            event["change"].as_str(),
            event["seq"].as_i64(),
            event["status"].as_str()
        ),
        (
            Some("order.status"),
            Some("assigned"),
            Some(2),
            Some("pending")
        ),
        "{event}"
    );
    assert_eq!(event["driver"]["id"], budi_id);
    assert_eq!(event["driver_name"], "Budi");
    // Assigning the same driver again changes nothing, so nothing is announced.
    assert_eq!(
        assign(&app, &admin, order, json!(budi_id)).await.status,
        200
    );

    let mine = app.get("/api/driver/orders", &budi).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    let ids: Vec<i64> = mine.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![order]);
    // The driver never sees the owner's delivery code.
    assert!(mine.body["data"][0].get("delivery_code").is_none());

    let inbox = app.get("/api/notifications", &owner).await;
    assert!(
        inbox.body.to_string().contains("Budi will bring order"),
        "{}",
        inbox.body
    );

    let unassigned = assign(&app, &admin, order, Value::Null).await;
    assert_eq!(unassigned.status, 200, "{}", unassigned.body);
    let event = next_json(&mut watcher).await;
    assert_eq!(
        (event["change"].as_str(), event["seq"].as_i64()),
        (Some("assigned"), Some(3))
    );
    assert_eq!(event["driver"], Value::Null);
    assert_silent(&mut watcher, std::time::Duration::from_millis(300)).await;
    let mine = app.get("/api/driver/orders", &budi).await;
    assert_eq!(mine.body["data"], json!([]));

    // The history records both, with the status unchanged.
    let history = app
        .get(&format!("/api/orders/{order}/history"), &owner)
        .await;
    let changes: Vec<&str> = history.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["status", "assigned", "assigned"]);
}

#[actix_web::test]
async fn assignment_refuses_strangers_non_drivers_bad_ids_and_final_orders() {
    let app = spawn_app().await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (budi_id, budi) = app.staff("Budi", "driver").await;
    let (customer_id, owner) = app.customer("Owner").await;
    let order = app.create_order(&owner, "Bakso").await;

    assert_eq!(
        assign(&app, &owner, order, json!(budi_id)).await.status,
        403
    );
    assert_eq!(assign(&app, &budi, order, json!(budi_id)).await.status, 403);
    for bad in [
        json!(customer_id),
        json!(999_999),
        json!("1"),
        json!(-1),
        json!(1.5),
    ] {
        let answer = assign(&app, &admin, order, bad.clone()).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert!(
            answer.body["errors"]["driver_id"].is_array(),
            "{}",
            answer.body
        );
    }
    let missing = app
        .put(&format!("/api/orders/{order}/driver"), &admin, json!({}))
        .await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert_eq!(
        assign(&app, &admin, 999_999, json!(budi_id)).await.status,
        404
    );
    assert_eq!(app.set_status(&admin, order, "cancelled").await.status, 200);
    assert_eq!(
        assign(&app, &admin, order, json!(budi_id)).await.status,
        409
    );
    assert_eq!(claim(&app, &budi, order).await.status, 409);
    assert_eq!(claim(&app, &owner, order).await.status, 403);
    assert_eq!(claim(&app, &admin, order).await.status, 403);
    // Nothing of it reached the order: its history is creation and cancellation.
    assert_eq!(
        app.sql_number(&format!(
            "SELECT count(*) FROM order_status_history WHERE order_id = {order}"
        ))
        .await,
        2
    );
}

#[actix_web::test]
async fn drivers_racing_to_claim_an_order_get_exactly_one_winner() {
    let app = spawn_app().await;
    let (_, owner) = app.customer("Owner").await;
    let mut drivers = Vec::new();
    for k in 0..8 {
        drivers.push(app.staff(&format!("Driver {k}"), "driver").await);
    }
    for round in 0..5 {
        let order = app.create_order(&owner, &format!("Round {round}")).await;
        let claims = drivers.iter().map(|(_, token)| claim(&app, token, order));
        let answers = futures_util::future::join_all(claims).await;
        let winners: Vec<i64> = answers
            .iter()
            .zip(&drivers)
            .filter(|(a, _)| a.status == 200)
            .map(|(_, (id, _))| *id)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}");
        assert!(
            answers.iter().all(|a| a.status == 200 || a.status == 409),
            "round {round}"
        );
        let held = app
            .sql_number(&format!("SELECT driver_id FROM orders WHERE id = {order}"))
            .await;
        assert_eq!(held, winners[0]);
        let assignments = app
            .sql_number(&format!(
                "SELECT count(*) FROM order_status_history
                 WHERE order_id = {order} AND change = 'assigned'"
            ))
            .await;
        assert_eq!(assignments, 1, "round {round}");
    }
}

#[actix_web::test]
async fn with_drivers_assigned_only_a_driver_moves_only_their_own_orders() {
    let app = spawn_app_tuned(|s| s.dispatch.drivers_assigned_only = true).await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (budi_id, budi) = app.staff("Budi", "driver").await;
    let (_, siti) = app.staff("Siti", "driver").await;
    let (_, owner) = app.customer("Owner").await;
    let order = app.create_order(&owner, "Sate").await;

    assert_eq!(app.set_status(&budi, order, "confirmed").await.status, 403);
    assert_eq!(
        assign(&app, &admin, order, json!(budi_id)).await.status,
        200
    );
    assert_eq!(app.set_status(&budi, order, "confirmed").await.status, 200);
    let other = app.set_status(&siti, order, "preparing").await;
    assert_eq!(other.status, 403, "{}", other.body);
    // Claiming an order another driver holds is refused too.
    assert_eq!(claim(&app, &siti, order).await.status, 409);
    // Admins are not drivers: they move any order.
    assert_eq!(app.set_status(&admin, order, "preparing").await.status, 200);
}

#[actix_web::test]
async fn without_the_setting_any_driver_still_moves_any_order() {
    let app = spawn_app().await;
    let (_, budi) = app.staff("Budi", "driver").await;
    let (_, owner) = app.customer("Owner").await;
    let order = app.create_order(&owner, "Sate").await;
    assert_eq!(app.set_status(&budi, order, "confirmed").await.status, 200);
}

/// The owner's code, from the owner's own view of the order.
async fn delivery_code(app: &TestApp, owner: &str, order: i64) -> String {
    let mine = app.get(&format!("/api/orders/{order}"), owner).await;
    mine.body["data"]["delivery_code"]
        .as_str()
        .expect("the owner sees the code")
        .to_string()
}

async fn deliver(app: &TestApp, driver: &str, order: i64, code: Option<&str>) -> Answer {
    let mut body = json!({"status": "delivered"});
    if let Some(code) = code {
        body["delivery_code"] = json!(code);
    }
    app.put(&format!("/api/orders/{order}/status"), driver, body)
        .await
}

#[actix_web::test]
async fn delivery_needs_the_owners_code_and_wrong_codes_wait_longer_and_longer() {
    let app = spawn_app_tuned(|s| s.dispatch.require_delivery_code = true).await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (_, budi) = app.staff("Budi", "driver").await;
    let (_, owner) = app.customer("Owner").await;
    let order = app.create_order(&owner, "Martabak").await;
    let code = delivery_code(&app, &owner, order).await;
    assert!(
        code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    // Nobody else sees it: not staff, not the list of a driver, not the public page.
    let as_admin = app.get(&format!("/api/orders/{order}"), &admin).await;
    assert!(as_admin.body["data"].get("delivery_code").is_none());
    assert!(!as_admin.body.to_string().contains(&format!("\"{code}\"")));
    let listed = app.get("/api/orders", &owner).await;
    assert_eq!(listed.body["data"][0]["delivery_code"], code.as_str());
    ship(&app, &admin, order).await;

    let missing = deliver(&app, &budi, order, None).await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert!(missing.body["errors"]["delivery_code"].is_array());
    let malformed = deliver(&app, &budi, order, Some("12a4")).await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);

    let wrong = format!("{:04}", (code.parse::<u32>().unwrap() + 1) % 10_000);
    for attempt in 1..=5 {
        let answer = deliver(&app, &budi, order, Some(&wrong)).await;
        assert_eq!(answer.status, 422, "attempt {attempt}: {}", answer.body);
    }
    // The free tries are spent: even the right code waits now.
    let locked = deliver(&app, &budi, order, Some(&code)).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    // The wait passes (moved into the past here); a wrong code then waits twice as long.
    app.sql(&format!(
        "UPDATE orders SET code_retry_at = now() - interval '1 second' WHERE id = {order}"
    ))
    .await;
    assert_eq!(deliver(&app, &budi, order, Some(&wrong)).await.status, 422);
    let wait = app
        .sql_number(&format!(
            "SELECT extract(epoch FROM code_retry_at - now())::bigint FROM orders WHERE id = {order}"
        ))
        .await;
    assert!((50..=60).contains(&wait), "{wait}");
    app.sql(&format!(
        "UPDATE orders SET code_retry_at = now() - interval '1 second' WHERE id = {order}"
    ))
    .await;
    let delivered = deliver(&app, &budi, order, Some(&code)).await;
    assert_eq!(delivered.status, 200, "{}", delivered.body);
    let history = app
        .get(&format!("/api/orders/{order}/history"), &owner)
        .await;
    let last = history.body["data"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (
            last["status"].as_str(),
            last["delivery_code_used"].as_bool()
        ),
        (Some("delivered"), Some(true))
    );
    assert_eq!(
        app.sql_number(&format!(
            "SELECT code_failures::int8 FROM orders WHERE id = {order}"
        ))
        .await,
        0
    );

    // An admin closes an order without the code (recorded as not used).
    let other = app.create_order(&owner, "Es Teh").await;
    ship(&app, &admin, other).await;
    assert_eq!(deliver(&app, &admin, other, None).await.status, 200);
}

#[actix_web::test]
async fn wrong_codes_raced_at_once_are_all_counted() {
    let app = spawn_app_tuned(|s| s.dispatch.require_delivery_code = true).await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (_, budi) = app.staff("Budi", "driver").await;
    let (_, owner) = app.customer("Owner").await;
    let order = app.create_order(&owner, "Pempek").await;
    let code = delivery_code(&app, &owner, order).await;
    ship(&app, &admin, order).await;
    let wrong = format!("{:04}", (code.parse::<u32>().unwrap() + 7) % 10_000);
    let guesses = (0..20).map(|_| deliver(&app, &budi, order, Some(&wrong)));
    let answers = futures_util::future::join_all(guesses).await;
    let wrong_answers = answers.iter().filter(|a| a.status == 422).count();
    let waits = answers.iter().filter(|a| a.status == 429).count();
    assert_eq!(wrong_answers + waits, 20);
    // Only the free tries were judged; every later guess was told to wait.
    assert_eq!(wrong_answers, 5);
    assert_eq!(
        app.sql_number(&format!(
            "SELECT (status = 'shipped')::int::int8 FROM orders WHERE id = {order}"
        ))
        .await,
        1
    );
}

#[actix_web::test]
async fn only_the_assigned_driver_may_try_codes_on_an_assigned_order() {
    let app = spawn_app_tuned(|s| s.dispatch.require_delivery_code = true).await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (budi_id, budi) = app.staff("Budi", "driver").await;
    let (_, sari) = app.staff("Sari", "driver").await;
    let (_, owner) = app.customer("Owner").await;
    let order = app.create_order(&owner, "Soto").await;
    let code = delivery_code(&app, &owner, order).await;
    assert_eq!(
        assign(&app, &admin, order, json!(budi_id)).await.status,
        200
    );
    ship(&app, &admin, order).await;
    let wrong = format!("{:04}", (code.parse::<u32>().unwrap() + 3) % 10_000);
    for _ in 0..10 {
        let refused = deliver(&app, &sari, order, Some(&wrong)).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
    }
    // None of those counted: the assigned driver is not locked out.
    assert_eq!(
        app.sql_number(&format!(
            "SELECT code_failures::int8 FROM orders WHERE id = {order}"
        ))
        .await,
        0
    );
    assert_eq!(deliver(&app, &budi, order, Some(&code)).await.status, 200);
}

#[actix_web::test]
async fn a_destination_is_both_coordinates_in_range() {
    let app = spawn_app().await;
    let (_, owner) = app.customer("Owner").await;
    let made = app
        .post(
            "/api/orders",
            Some(&owner),
            json!({"items": "Soto", "delivery_lat": -6.2, "delivery_lng": 106.8}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(
        (
            made.body["data"]["delivery_lat"].as_f64(),
            made.body["data"]["delivery_lng"].as_f64()
        ),
        (Some(-6.2), Some(106.8))
    );
    for bad in [
        json!({"items": "x", "delivery_lat": -6.2}),
        json!({"items": "x", "delivery_lat": 91, "delivery_lng": 0}),
        json!({"items": "x", "delivery_lat": "0", "delivery_lng": 0}),
        json!({"items": "x", "delivery_lat": 1e300, "delivery_lng": 0}),
    ] {
        let answer = app.post("/api/orders", Some(&owner), bad.clone()).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
    }
}
