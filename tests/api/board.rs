//! The staff board (`board` on the socket): a snapshot of every unfinished order, then every
//! order created, changed, assigned or cancelled, once, in commit order, with a gap-free seq of
//! its own, resumable with `since`; staff only, and a driver who sees only their own orders
//! gets the others' events as bare seqs.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::dispatch::assign;
use crate::helpers::*;

async fn board(app: &TestApp, token: &str, since: Option<i64>) -> Ws {
    let mut ws = app.ws("/ws", token).await;
    let mut frame = json!({"type": "subscribe", "topic": "board"});
    if let Some(since) = since {
        frame["since"] = json!(since);
    }
    send_json(&mut ws, frame).await;
    let subscribed = next_json(&mut ws).await;
    assert_eq!(
        (subscribed["type"].as_str(), subscribed["topic"].as_str()),
        (Some("subscribed"), Some("board")),
        "{subscribed}"
    );
    ws
}

/// The next board event, with its seq checked to follow `last`.
async fn next_board(ws: &mut Ws, last: &mut i64) -> Value {
    let event = next_json(ws).await;
    assert_eq!(event["topic"], "board", "{event}");
    assert_eq!(
        event["seq"].as_i64(),
        Some(*last + 1),
        "a gap or a duplicate: {event}"
    );
    *last += 1;
    event
}

#[actix_web::test]
async fn staff_get_a_snapshot_then_every_change_once_and_resume_across_a_drop() {
    let app = spawn_app().await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (budi_id, _) = app.staff("Budi Santoso", "driver").await;
    let (_, owner) = app.customer("Ani").await;
    let open = app.create_order(&owner, "Rendang").await;
    let done = app.create_order(&owner, "Gado-gado").await;
    for status in ["shipped", "delivered"] {
        assert_eq!(app.set_status(&admin, done, status).await.status, 200);
    }

    let mut ws = board(&app, &admin, None).await;
    let snapshot = next_json(&mut ws).await;
    assert_eq!(snapshot["type"], "board.snapshot", "{snapshot}");
    // Two orders created, two moves: four events so far.
    assert_eq!(snapshot["seq"], 4);
    let cards = snapshot["orders"].as_array().unwrap();
    assert_eq!(cards.len(), 1, "only unfinished orders: {snapshot}");
    assert_eq!(
        (
            cards[0]["id"].as_i64(),
            cards[0]["customer"].as_str(),
            cards[0]["status"].as_str()
        ),
        (Some(open), Some("Ani"), Some("pending"))
    );
    let mut last = 4;

    let fresh = app.create_order(&owner, "Soto").await;
    let created = next_board(&mut ws, &mut last).await;
    assert_eq!(
        (created["change"].as_str(), created["order"]["id"].as_i64()),
        (Some("created"), Some(fresh))
    );
    assert_eq!(app.set_status(&admin, open, "confirmed").await.status, 200);
    let moved = next_board(&mut ws, &mut last).await;
    assert_eq!(
        (moved["change"].as_str(), moved["order"]["status"].as_str()),
        (Some("status"), Some("confirmed"))
    );
    assert_eq!(assign(&app, &admin, open, json!(budi_id)).await.status, 200);
    let assigned = next_board(&mut ws, &mut last).await;
    assert_eq!(assigned["change"], "assigned");
    assert_eq!(
        assigned["order"]["driver"],
        json!({"id": budi_id, "name": "Budi Santoso"})
    );
    assert_eq!(
        app.delete(&format!("/api/orders/{fresh}"), &owner)
            .await
            .status,
        200
    );
    let cancelled = next_board(&mut ws, &mut last).await;
    assert_eq!(
        (
            cancelled["change"].as_str(),
            cancelled["order"]["status"].as_str()
        ),
        (Some("cancelled"), Some("cancelled"))
    );

    // A drop: changes made meanwhile arrive after `since`, each once, nothing before it.
    drop(ws);
    let later = app.create_order(&owner, "Pecel").await;
    assert_eq!(app.set_status(&admin, later, "confirmed").await.status, 200);
    assert_eq!(app.set_status(&admin, open, "preparing").await.status, 200);
    let mut ws = board(&app, &admin, Some(last)).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = next_board(&mut ws, &mut last).await;
        seen.push((
            event["order"]["id"].as_i64().unwrap(),
            event["change"].as_str().unwrap().to_string(),
        ));
    }
    assert_eq!(
        seen,
        [
            (later, "created".into()),
            (later, "status".into()),
            (open, "status".into())
        ]
    );
    assert_silent(&mut ws, Duration::from_millis(300)).await;
    // And live again after the catch-up.
    assert_eq!(app.set_status(&admin, later, "preparing").await.status, 200);
    next_board(&mut ws, &mut last).await;
}

#[actix_web::test]
async fn changes_racing_from_many_clients_reach_every_board_gap_free_and_in_commit_order() {
    let app = spawn_app().await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let mut boards = Vec::new();
    for k in 0..3 {
        let (_, staff) = app
            .staff(
                &format!("Staff {k}"),
                if k == 0 { "admin" } else { "driver" },
            )
            .await;
        let mut ws = board(&app, &staff, None).await;
        let snapshot = next_json(&mut ws).await;
        assert_eq!(snapshot["seq"], 0);
        boards.push(ws);
    }
    let mut customers = Vec::new();
    for k in 0..8 {
        customers.push(app.customer(&format!("Customer {k}")).await.1);
    }
    // Each customer places orders and staff move them, all at once.
    let work = customers.iter().map(|owner| {
        let (app, admin) = (&app, &admin);
        async move {
            for n in 0..3 {
                let order = app.create_order(owner, &format!("Dish {n}")).await;
                for status in ["confirmed", "preparing", "ready"] {
                    assert_eq!(app.set_status(admin, order, status).await.status, 200);
                }
            }
        }
    });
    futures_util::future::join_all(work).await;
    let total = 8 * 3 * 4;
    assert_eq!(
        app.sql_number("SELECT count(*) FROM board_events").await,
        total
    );

    for ws in &mut boards {
        let mut last = 0;
        // Per order, the versions the board shows only go up: commit order.
        let mut versions: HashMap<i64, i64> = HashMap::new();
        for _ in 0..total {
            let event = next_board(ws, &mut last).await;
            let (id, version) = (
                event["order"]["id"].as_i64().unwrap(),
                event["order"]["version"].as_i64().unwrap(),
            );
            let before = versions.insert(id, version).unwrap_or(0);
            assert_eq!(version, before + 1, "order {id} out of order: {event}");
        }
        assert_silent(ws, Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn customers_cannot_follow_the_board() {
    let app = spawn_app().await;
    let (_, owner) = app.customer("Owner").await;
    let mut ws = app.ws("/ws", &owner).await;
    send_json(&mut ws, json!({"type": "subscribe", "topic": "board"})).await;
    let refused = next_json(&mut ws).await;
    assert_eq!(
        (refused["type"].as_str(), refused["topic"].as_str()),
        (Some("error"), Some("board")),
        "{refused}"
    );
    app.create_order(&owner, "Nasi Uduk").await;
    assert_silent(&mut ws, Duration::from_millis(300)).await;
}

#[actix_web::test]
async fn a_driver_kept_to_their_own_orders_sees_only_theirs_and_the_rest_as_bare_seqs() {
    let app = spawn_app_tuned(|s| s.dispatch.drivers_assigned_only = true).await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (budi_id, budi) = app.staff("Budi", "driver").await;
    let (siti_id, _) = app.staff("Siti", "driver").await;
    let (_, owner) = app.customer("Owner").await;
    let mine = app.create_order(&owner, "Mine").await;
    let theirs = app.create_order(&owner, "Theirs").await;
    assert_eq!(assign(&app, &admin, mine, json!(budi_id)).await.status, 200);

    let mut ws = board(&app, &budi, None).await;
    let snapshot = next_json(&mut ws).await;
    assert_eq!(snapshot["seq"], 3);
    let ids: Vec<i64> = snapshot["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![mine]);
    let mut last = 3;

    assert_eq!(
        app.set_status(&admin, theirs, "confirmed").await.status,
        200
    );
    let hidden = next_board(&mut ws, &mut last).await;
    assert_eq!(
        hidden,
        json!({"type": "board.hidden", "topic": "board", "seq": last})
    );
    assert_eq!(app.set_status(&admin, mine, "confirmed").await.status, 200);
    let own = next_board(&mut ws, &mut last).await;
    assert_eq!(own["order"]["id"], mine);
    // Taken away from Budi: he hears of it, so his card can go.
    assert_eq!(assign(&app, &admin, mine, json!(siti_id)).await.status, 200);
    let taken = next_board(&mut ws, &mut last).await;
    assert_eq!(
        (
            taken["previous_driver_id"].as_i64(),
            taken["order"]["driver"]["id"].as_i64()
        ),
        (Some(budi_id), Some(siti_id))
    );
    assert_eq!(app.set_status(&admin, mine, "preparing").await.status, 200);
    assert_eq!(next_board(&mut ws, &mut last).await["type"], "board.hidden");

    // Resuming gives the same view.
    drop(ws);
    let mut ws = board(&app, &budi, Some(3)).await;
    let mut last = 3;
    let mut replayed = Vec::new();
    for _ in 0..4 {
        replayed.push(
            next_board(&mut ws, &mut last).await["type"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        replayed,
        ["board.hidden", "board.order", "board.order", "board.hidden"]
    );
    // Unsubscribing by the name the driver used works.
    send_json(&mut ws, json!({"type": "unsubscribe", "topic": "board"})).await;
    assert_eq!(next_json(&mut ws).await["type"], "unsubscribed");
}

#[actix_web::test]
async fn a_repeated_subscribe_is_refused_without_reading_the_board_again() {
    let app = spawn_app().await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let mut ws = app.ws("/ws", &admin).await;
    // Two at once: the second arrives while the first is still being checked.
    for _ in 0..2 {
        send_json(&mut ws, json!({"type": "subscribe", "topic": "board"})).await;
    }
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let frame = next_json(&mut ws).await;
        kinds.push(frame["type"].as_str().unwrap().to_string());
        if frame["type"] == "error" {
            assert!(frame["message"]
                .as_str()
                .unwrap()
                .contains("already subscribed"));
        }
    }
    kinds.sort();
    assert_eq!(kinds, ["board.snapshot", "error", "subscribed"]);
    send_json(
        &mut ws,
        json!({"type": "subscribe", "topic": "board", "since": 0}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "error");
    assert_silent(&mut ws, Duration::from_millis(300)).await;
    // To start over, unsubscribe first.
    send_json(&mut ws, json!({"type": "unsubscribe", "topic": "board"})).await;
    assert_eq!(next_json(&mut ws).await["type"], "unsubscribed");
    send_json(&mut ws, json!({"type": "subscribe", "topic": "board"})).await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    assert_eq!(next_json(&mut ws).await["type"], "board.snapshot");
}
