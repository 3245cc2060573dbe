//! Fan-out across the server's worker threads: each thread's part of the hub writes events to its own
//! sockets, so subscribers on every thread must hear every event once and in order, also when
//! they join while events are flowing, and a user online on any thread counts as online.

use futures_util::future::join_all;

use crate::helpers::*;

const ORDERS: usize = 3;
/// Enough sockets per order that both worker threads hold several of each order's subscribers.
const SOCKETS_PER_ORDER: usize = 8;
const STEPS: [&str; 5] = ["confirmed", "preparing", "ready", "shipped", "delivered"];

#[actix_web::test]
async fn subscribers_on_every_worker_hear_every_event_once_in_order() {
    let app = spawn_app().await;
    let (_, owner) = app.customer("Owner").await;
    let (_, staff) = app.staff("Admin", "admin").await;
    let mut orders = Vec::new();
    for _ in 0..ORDERS {
        orders.push(app.create_order(&owner, "Sate Padang").await);
    }
    let mut sockets = Vec::new();
    for _ in 0..SOCKETS_PER_ORDER {
        for &id in &orders {
            let mut ws = app.ws(&format!("/ws/orders/{id}"), &staff).await;
            assert_eq!(next_json(&mut ws).await["seq"], 1);
            sockets.push((id, ws));
        }
    }

    // Every order walks to delivered at once; each order's steps are one after another.
    let walks = orders.iter().map(|&id| {
        let (app, staff) = (&app, &staff);
        async move {
            for step in STEPS {
                assert_eq!(app.set_status(staff, id, step).await.status, 200);
            }
        }
    });
    join_all(walks).await;

    let expected: Vec<(i64, String)> = (2..).zip(STEPS.map(String::from)).collect();
    for (id, ws) in sockets.iter_mut() {
        let mut got = Vec::new();
        for _ in STEPS {
            let event = next_json(ws).await;
            assert_eq!(event["order_id"].as_str(), Some(id.to_string().as_str()));
            got.push((
                event["seq"].as_i64().unwrap(),
                event["status"].as_str().unwrap().to_string(),
            ));
        }
        assert_eq!(got, expected, "order {id}: each event once, in order");
        assert_silent(ws, std::time::Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn sockets_joining_mid_stream_miss_nothing() {
    const SENT: usize = 400;
    const LATE_JOINERS: usize = 6;
    let app = spawn_app().await;
    let (id, token) = app.customer("Watcher").await;
    let (_, admin) = app.staff("Admin", "admin").await;

    let sends = async {
        for batch in 0..SENT / 20 {
            let posts = (0..20).map(|i| app.notify(&admin, id, format!("#{batch}-{i}")));
            assert!(join_all(posts).await.iter().all(|a| a.status == 201));
        }
    };
    // Sockets open one after another while the notifications are being sent: each starts
    // from the unread count's seq and must then hear every later seq, whether it arrived
    // during its catch-up or after.
    let joins = async {
        let mut joined = Vec::new();
        for _ in 0..LATE_JOINERS {
            let mut ws = app.ws("/api/ws", &token).await;
            let first = next_json(&mut ws).await;
            assert_eq!(first["type"], "notification.unread");
            joined.push((first["seq"].as_i64().unwrap(), ws));
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        }
        joined
    };
    let ((), joined) = tokio::join!(sends, joins);

    assert_eq!(
        app.get("/api/notifications", &token).await.body["meta"]["total"],
        SENT as i64
    );
    // All are committed now, so a fresh socket's first frame carries the newest seq.
    let newest = next_json(&mut app.ws("/api/ws", &token).await).await["seq"]
        .as_i64()
        .unwrap();
    for (start, mut ws) in joined {
        for seq in start + 1..=newest {
            let event = next_json(&mut ws).await;
            assert_eq!(event["type"], "notification");
            assert_eq!(
                event["seq"], seq,
                "socket that started at {start}: no gap, no repeat"
            );
        }
        assert_silent(&mut ws, std::time::Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn a_user_online_on_either_worker_gets_notifications_live() {
    let app = spawn_app().await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let mut online = Vec::new();
    // Connections are dealt to the workers in turn, so these land on both.
    for i in 0..4 {
        let (id, token) = app.customer(&format!("Online {i}")).await;
        let mut ws = app.ws("/api/ws", &token).await;
        next_json(&mut ws).await;
        online.push((id, ws));
    }
    let (offline, _) = app.customer("Offline").await;

    for (id, ws) in online.iter_mut() {
        let sent = app.notify(&admin, *id, "hello").await;
        assert_eq!(sent.body["data"]["delivered_live"], true, "user {id}");
        assert_eq!(next_json(ws).await["message"], "hello");
    }
    let sent = app.notify(&admin, offline, "later").await;
    assert_eq!(sent.body["data"]["delivered_live"], false);
}
