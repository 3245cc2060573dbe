//! Several server processes on one database, with either broker (`broker.kind`): a change made
//! through any process reaches subscribers on all, once and in order; with NATS a process
//! receives only the topics its sockets follow; a broker restarted or a process killed
//! mid-stream loses and repeats nothing once repaired.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use crate::helpers::*;
use crate::processes::{Kind, NatsServer, ServerProcess};

/// Three processes on a fresh database, the first started (and, with NATS, relaying) before
/// the others.
async fn three(kind: Kind) -> (Option<NatsServer>, Vec<ServerProcess>) {
    let nats = (kind == Kind::Nats).then(NatsServer::start);
    let url = fresh_database().await;
    let mut processes = vec![ServerProcess::start(&url, kind, nats.as_ref()).await];
    if kind == Kind::Nats {
        wait_for_relay(&processes[0].app).await;
    }
    for _ in 0..2 {
        processes.push(ServerProcess::start(&url, kind, nats.as_ref()).await);
    }
    (nats, processes)
}

/// Waits until some process holds the relay's lock.
async fn wait_for_relay(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while app
        .sql_number("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        .await
        == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no relay took the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A user's notification socket on `app`, and the seq it starts after.
async fn notifications(app: &TestApp, token: &str, since: Option<i64>) -> (Ws, i64) {
    match since {
        Some(since) => (
            app.ws(&format!("/api/ws?since={since}"), token).await,
            since,
        ),
        None => {
            let mut ws = app.ws("/api/ws", token).await;
            let seq = next_json(&mut ws).await["seq"].as_i64().unwrap();
            (ws, seq)
        }
    }
}

/// Sends `user_id` the notifications `from..to`, through `via[i % via.len()]`.
async fn send(via: &[&TestApp], admin: &str, user_id: i64, from: usize, to: usize) {
    for i in from..to {
        let app = via[i % via.len()];
        let answer = app
            .post(
                "/api/notifications/send",
                Some(admin),
                json!({"user_id": user_id, "message": format!("n{i}")}),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
}

/// Reads a socket until it has the event with seq `last`; answers the seqs and messages in the
/// order they came. Fails on a gap, a repeat or a wait longer than `WAIT`.
async fn read_through(ws: &mut Ws, after: i64, last: i64) -> Vec<String> {
    let mut messages = Vec::new();
    let mut expected = after + 1;
    while expected <= last {
        let event = next_json(ws).await;
        let seq = event["seq"].as_i64().unwrap();
        assert_eq!(seq, expected, "after {expected} - 1 came {event}");
        messages.push(event["message"].as_str().unwrap().to_string());
        expected += 1;
    }
    messages
}

async fn a_change_through_any_process_reaches_every_process_once_in_order(kind: Kind) {
    let (_nats, processes) = three(kind).await;
    let apps: Vec<&TestApp> = processes.iter().map(|p| &p.app).collect();
    let (user_id, token) = apps[0].customer("Everywhere").await;
    let (_, admin) = apps[1].staff("Admin", "admin").await;
    let mut sockets = Vec::new();
    for app in &apps {
        sockets.push(notifications(app, &token, None).await);
    }
    send(&apps, &admin, user_id, 0, 30).await;
    let want: Vec<String> = (0..30).map(|i| format!("n{i}")).collect();
    for (ws, after) in &mut sockets {
        assert_eq!(read_through(ws, *after, *after + 30).await, want);
        assert_silent(ws, Duration::from_millis(300)).await;
    }

    // An order's events too: each process moves it once, every process's subscriber sees all.
    let order = apps[0].create_order(&token, "Sate").await;
    let mut watching = Vec::new();
    for app in &apps {
        let mut ws = app.ws(&format!("/ws/orders/{order}"), &token).await;
        assert_eq!(next_json(&mut ws).await["seq"], 1);
        watching.push(ws);
    }
    for (app, status) in apps.iter().zip(["confirmed", "preparing", "ready"]) {
        assert_eq!(app.set_status(&admin, order, status).await.status, 200);
    }
    for ws in &mut watching {
        for (seq, status) in [(2, "confirmed"), (3, "preparing"), (4, "ready")] {
            let event = next_json(ws).await;
            assert_eq!(
                (event["seq"].as_i64(), event["status"].as_str()),
                (Some(seq), Some(status))
            );
        }
        assert_silent(ws, Duration::from_millis(300)).await;
    }
}

#[actix_web::test]
async fn with_postgres_a_change_through_any_process_reaches_every_process_once_in_order() {
    a_change_through_any_process_reaches_every_process_once_in_order(Kind::Postgres).await;
}

#[actix_web::test]
async fn with_nats_a_change_through_any_process_reaches_every_process_once_in_order() {
    a_change_through_any_process_reaches_every_process_once_in_order(Kind::Nats).await;
}

/// With NATS a process hears only the topics its sockets follow, and stops hearing a topic
/// when its last socket leaves; with PostgreSQL every process hears everything.
async fn what_a_process_without_subscribers_receives(kind: Kind) {
    let (_nats, processes) = three(kind).await;
    let apps: Vec<&TestApp> = processes.iter().map(|p| &p.app).collect();
    let (user_id, token) = apps[0].customer("Followed").await;
    let (other_id, other) = apps[0].customer("Elsewhere").await;
    let (_, admin) = apps[0].staff("Admin", "admin").await;
    // Process 0 follows the user's topic, process 1 another user's, process 2 nothing.
    let (mut ws, after) = notifications(apps[0], &token, None).await;
    let (_other_ws, _) = notifications(apps[1], &other, None).await;
    let before: Vec<u64> =
        futures_util::future::join_all(processes.iter().map(|p| p.received())).await;

    send(&apps, &admin, user_id, 0, 20).await;
    read_through(&mut ws, after, after + 20).await;
    // Whatever else was going to arrive has had time to.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut got = Vec::new();
    for (process, before) in processes.iter().zip(&before) {
        got.push(process.received().await - before);
    }
    match kind {
        Kind::Nats => assert_eq!(got, [20, 0, 0], "received per process"),
        Kind::Postgres => assert_eq!(got, [20, 20, 20], "received per process"),
    }

    // The last socket of the topic leaves: its process hears no more of it.
    drop(ws);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = processes[0].received().await;
    send(&apps, &admin, user_id, 20, 25).await;
    send(&apps, &admin, other_id, 0, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = processes[0].received().await - before;
    match kind {
        Kind::Nats => assert_eq!(got, 0),
        Kind::Postgres => assert_eq!(got, 6),
    }
}

#[actix_web::test]
async fn with_postgres_every_process_receives_every_event() {
    what_a_process_without_subscribers_receives(Kind::Postgres).await;
}

#[actix_web::test]
async fn with_nats_a_process_receives_only_the_topics_its_sockets_follow() {
    what_a_process_without_subscribers_receives(Kind::Nats).await;
}

#[actix_web::test]
async fn nats_restarted_mid_stream_loses_and_repeats_nothing() {
    let (nats, processes) = three(Kind::Nats).await;
    let mut nats = nats.unwrap();
    let apps: Vec<&TestApp> = processes.iter().map(|p| &p.app).collect();
    let (user_id, token) = apps[0].customer("Patient").await;
    let (_, admin) = apps[0].staff("Admin", "admin").await;
    let mut sockets = Vec::new();
    for app in &apps {
        sockets.push(notifications(app, &token, None).await);
    }
    send(&apps, &admin, user_id, 0, 10).await;

    nats.stop();
    // Readiness says so; the API goes on, and what commits meanwhile waits in the outbox.
    processes[1].wait_ready(false).await;
    let down = apps[1]
        .client
        .get(format!("{}/readyz", apps[1].address))
        .send()
        .await
        .unwrap();
    assert!(down.headers().get("retry-after").is_some());
    let body: serde_json::Value = down.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("nats"), "{body}");
    send(&apps, &admin, user_id, 10, 25).await;
    assert!(
        apps[0]
            .sql_number("SELECT count(*) FROM broker_outbox")
            .await
            > 0
    );

    nats.resume();
    for process in &processes {
        process.wait_ready(true).await;
    }
    send(&apps, &admin, user_id, 25, 40).await;
    let want: Vec<String> = (0..40).map(|i| format!("n{i}")).collect();
    for (ws, after) in &mut sockets {
        assert_eq!(read_through(ws, *after, *after + 40).await, want);
        assert_silent(ws, Duration::from_millis(500)).await;
    }
    assert_eq!(
        apps[0]
            .sql_number("SELECT count(*) FROM broker_outbox")
            .await,
        0
    );
}

/// The killed process is the first one, which with NATS is the relay: another takes over and
/// publishes what committed meanwhile.
async fn a_killed_process_s_clients_resume_on_another(kind: Kind) {
    let (_nats, processes) = three(kind).await;
    let (user_id, token) = processes[1].app.customer("Moving").await;
    let (_, admin) = processes[1].app.staff("Admin", "admin").await;
    let mut sockets = Vec::new();
    for process in &processes {
        sockets.push(notifications(&process.app, &token, None).await);
    }
    let survivors = [&processes[1].app, &processes[2].app];
    send(&survivors, &admin, user_id, 0, 10).await;
    let (mut doomed, after) = sockets.remove(0);
    let seen = read_through(&mut doomed, after, after + 10).await;
    assert_eq!(seen.len(), 10);

    processes[0].kill();
    let survivors = [&processes[1].app, &processes[2].app];
    send(&survivors, &admin, user_id, 10, 25).await;
    // Its client comes back on another process with the last seq it saw.
    let (mut resumed, _) = notifications(&processes[2].app, &token, Some(after + 10)).await;
    let want: Vec<String> = (10..25).map(|i| format!("n{i}")).collect();
    assert_eq!(
        read_through(&mut resumed, after + 10, after + 25).await,
        want
    );
    assert_silent(&mut resumed, Duration::from_millis(300)).await;
    let all: Vec<String> = (0..25).map(|i| format!("n{i}")).collect();
    for (ws, after) in &mut sockets {
        assert_eq!(read_through(ws, *after, *after + 25).await, all);
    }
    if kind == Kind::Nats {
        assert_eq!(
            processes[1]
                .app
                .sql_number("SELECT count(*) FROM broker_outbox")
                .await,
            0
        );
    }
}

#[actix_web::test]
async fn with_postgres_a_killed_process_s_clients_resume_on_another() {
    a_killed_process_s_clients_resume_on_another(Kind::Postgres).await;
}

#[actix_web::test]
async fn with_nats_a_killed_relay_is_replaced_and_its_clients_resume_on_another() {
    a_killed_process_s_clients_resume_on_another(Kind::Nats).await;
}

/// Whoever can publish on the NATS server but lacks the server's secret cannot put an event in
/// front of a user: messages without the relay's seal are dropped.
#[actix_web::test]
async fn with_nats_a_message_without_the_relay_s_seal_reaches_nobody() {
    let nats = NatsServer::start();
    let url = fresh_database().await;
    let process = ServerProcess::start(&url, Kind::Nats, Some(&nats)).await;
    let app = &process.app;
    let (user_id, token) = app.customer("Target").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (mut ws, after) = notifications(app, &token, None).await;

    let intruder = async_nats::connect(nats.url()).await.unwrap();
    let forged = json!({"type": "notification", "topic": format!("user:{user_id}"),
                        "seq": after + 1, "id": 1, "title": "Refund", "message": "forged"});
    let mut fake_seal = async_nats::HeaderMap::new();
    fake_seal.insert("Order-Tracker-Seal", "00".repeat(32).as_str());
    let subject = format!("order_tracker.user.{user_id}");
    intruder
        .publish(subject.clone(), forged.to_string().into())
        .await
        .unwrap();
    intruder
        .publish_with_headers(subject, fake_seal, forged.to_string().into())
        .await
        .unwrap();
    intruder.flush().await.unwrap();

    send(&[app], &admin, user_id, 0, 1).await;
    assert_eq!(read_through(&mut ws, after, after + 1).await, ["n0"]);
    assert_silent(&mut ws, Duration::from_millis(300)).await;
}

/// A driver's position sent through one process reaches the order's owner on another and the
/// board on a third: positions are announcements too (with NATS, on the order's position
/// subject, which a board follower hears for every order).
async fn positions_reach_every_process(kind: Kind) {
    use crate::locations::{delivering, position, post_position};

    let (_nats, processes) = three(kind).await;
    let apps: Vec<&TestApp> = processes.iter().map(|p| &p.app).collect();
    let (admin, _, driver, owner, order) = delivering(apps[0]).await;
    let mut owner_ws = apps[1].ws(&format!("/ws/orders/{order}"), &owner).await;
    next_json(&mut owner_ws).await;
    let mut board = apps[2].ws("/ws", &admin).await;
    send_json(&mut board, json!({"type": "subscribe", "topic": "board"})).await;
    next_json(&mut board).await;
    next_json(&mut board).await;

    let sent = post_position(apps[0], &driver, order, position(order, -6.18)).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    for ws in [&mut owner_ws, &mut board] {
        let event = next_json(ws).await;
        assert_eq!(event["type"], "order.location", "{event}");
        assert_eq!(event["lat"], -6.18);
    }
}

#[actix_web::test]
async fn with_postgres_positions_reach_every_process() {
    positions_reach_every_process(Kind::Postgres).await;
}

#[actix_web::test]
async fn with_nats_positions_reach_every_process() {
    positions_reach_every_process(Kind::Nats).await;
}

/// A process whose sockets follow both an order and the board holds two subscriptions that
/// carry the order's positions (`order.<id>.position` and `order.*.position`): each position
/// still reaches each socket once.
#[actix_web::test]
async fn with_nats_a_position_reaches_the_order_and_the_board_once() {
    let nats = NatsServer::start();
    let url = fresh_database().await;
    let process = ServerProcess::start(&url, Kind::Nats, Some(&nats)).await;
    let app = &process.app;
    let (admin, _, driver, owner, order) = crate::locations::delivering(app).await;
    let mut owner_ws = app.ws(&format!("/ws/orders/{order}"), &owner).await;
    next_json(&mut owner_ws).await;
    let mut board = app.ws("/ws", &admin).await;
    send_json(&mut board, json!({"type": "subscribe", "topic": "board"})).await;
    next_json(&mut board).await;
    next_json(&mut board).await;
    // Both subscriptions are in place (each confirmed by a round trip through the server).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let position = json!({"type": "location", "order_id": order, "lat": -6.18, "lng": 106.82});
    let sent = app
        .post(
            &format!("/api/orders/{order}/location"),
            Some(&driver),
            position,
        )
        .await;
    assert!(sent.status < 300, "{}", sent.body);
    for ws in [&mut owner_ws, &mut board] {
        assert_eq!(next_json(ws).await["type"], "order.location");
        assert_silent(ws, Duration::from_millis(500)).await;
    }
}

/// Whoever can publish on the NATS server can replay what the relay sealed, on any subject:
/// an old event of an order on the order's position subject, an old revocation of a user. No
/// socket may take either.
#[actix_web::test]
async fn with_nats_a_sealed_message_replayed_reaches_nobody() {
    let nats = NatsServer::start();
    let url = fresh_database().await;
    let process = ServerProcess::start(&url, Kind::Nats, Some(&nats)).await;
    let app = &process.app;
    let (_, admin) = app.staff("Admin", "admin").await;
    let email = unique_email("Victim");
    let registered = app
        .post(
            "/api/register",
            None,
            json!({"name": "Victim", "email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let credentials = json!({"email": email, "password": PASSWORD});
    let token = app.login(credentials.clone()).await;
    let intruder = async_nats::connect(nats.url()).await.unwrap();
    let mut heard = intruder.subscribe("order_tracker.>").await.unwrap();
    intruder.flush().await.unwrap();

    // The intruder records an order's event and the revocation of the user's first session.
    let order = app.create_order(&token, "Rendang").await;
    let mut ws = app.ws(&format!("/ws/orders/{order}"), &token).await;
    assert_eq!(next_json(&mut ws).await["seq"], 1);
    assert_eq!(app.set_status(&admin, order, "confirmed").await.status, 200);
    assert_eq!(next_json(&mut ws).await["seq"], 2);
    let out = app.post("/api/logout-all", Some(&token), json!({})).await;
    assert!(out.status < 300, "{}", out.body);
    let wanted = [
        format!("order_tracker.order.{order}"),
        "order_tracker.revocations".to_string(),
    ];
    let mut recorded: Vec<Option<async_nats::Message>> = vec![None, None];
    while recorded.iter().any(Option::is_none) {
        let message = tokio::time::timeout(WAIT, heard.next())
            .await
            .expect("the relay publishes")
            .unwrap();
        if let Some(i) = wanted.iter().position(|w| *w == message.subject.as_str()) {
            recorded[i].get_or_insert(message);
        }
    }
    let (event, revocation) = (recorded[0].as_ref().unwrap(), recorded[1].as_ref().unwrap());

    // The user signs in again, ends that session too, then signs in once more and watches the
    // order, which moved on meanwhile.
    let token = app.login(credentials.clone()).await;
    let out = app.post("/api/logout-all", Some(&token), json!({})).await;
    assert!(out.status < 300, "{}", out.body);
    let token = app.login(credentials).await;
    assert_eq!(app.set_status(&admin, order, "preparing").await.status, 200);
    let mut ws = app.ws(&format!("/ws/orders/{order}"), &token).await;
    assert_eq!(next_json(&mut ws).await["seq"], 3);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let replay = |subject: String, message: &async_nats::Message| {
        let intruder = intruder.clone();
        let (headers, payload) = (message.headers.clone().unwrap(), message.payload.clone());
        async move {
            intruder
                .publish_with_headers(subject, headers, payload)
                .await
                .unwrap();
            intruder.flush().await.unwrap();
        }
    };
    replay(format!("order_tracker.order.{order}.position"), event).await;
    replay("order_tracker.revocations".into(), revocation).await;
    assert_silent(&mut ws, Duration::from_millis(500)).await;
}
