//! Revoked sessions lose their open sockets: log out everywhere, a role change and a deleted
//! user close them with 4002 on every process sharing the database, and a subscribe is
//! authorized for the user as they are now.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::*;

/// How long revocation may take to reach a socket (the issue asks for a second or two).
const REACH: Duration = Duration::from_secs(3);

async fn closed_with(ws: &mut Ws) -> u16 {
    let frame = tokio::time::timeout(REACH, next_close(ws))
        .await
        .expect("the socket is closed in time")
        .expect("a close frame");
    u16::from(frame.code)
}

#[actix_web::test]
async fn logging_out_everywhere_closes_open_sockets_on_every_process() {
    let a = spawn_app().await;
    let b = spawn_app_with(test_settings(&a.database_url)).await;
    let (_, token) = a.customer("Leaver").await;
    let mut here = a.ws("/api/ws", &token).await;
    let mut there = b.ws("/ws", &token).await;
    assert_eq!(next_json(&mut here).await["type"], "notification.unread");

    let out = a.post("/api/logout-all", Some(&token), json!({})).await;
    assert_eq!(out.status, 200);
    assert_eq!(closed_with(&mut here).await, 4002);
    assert_eq!(closed_with(&mut there).await, 4002);
}

#[actix_web::test]
async fn a_demoted_driver_can_no_longer_subscribe_to_a_strangers_order() {
    let app = spawn_app().await;
    let (_, customer) = app.customer("Stranger").await;
    let order = app.create_order(&customer, "Kopi").await;
    let (driver_id, driver) = app.staff("Driver", "driver").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let (_, bystander) = app.customer("Bystander").await;
    let mut ws = app.ws("/ws", &driver).await;
    let mut unrelated = app.ws("/ws", &bystander).await;

    let demoted = app
        .put(
            &format!("/api/admin/users/{driver_id}/role"),
            &admin,
            json!({"role": "user"}),
        )
        .await;
    assert_eq!(demoted.status, 200);
    // Whatever arrives first, the close or the refused subscribe, no order event does.
    send_json(
        &mut ws,
        json!({"type": "subscribe", "topic": format!("order:{order}")}),
    )
    .await;
    assert_eq!(closed_with(&mut ws).await, 4002);
    // Another user's socket is untouched.
    send_json(&mut unrelated, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut unrelated).await["type"], "pong");
}

#[actix_web::test]
async fn a_subscribe_is_checked_against_the_current_session() {
    let app = spawn_app().await;
    let (id, token) = app.customer("Checked").await;
    let order = app.create_order(&token, "Teh").await;
    let mut ws = app.ws("/ws", &token).await;
    // Revoked behind the server's back, as if the announcement had been missed.
    app.sql_batch(&format!(
        "ALTER TABLE users DISABLE TRIGGER users_revocation_on_version;
         UPDATE users SET token_version = token_version + 1 WHERE id = {id};
         ALTER TABLE users ENABLE TRIGGER users_revocation_on_version;"
    ))
    .await;
    send_json(
        &mut ws,
        json!({"type": "subscribe", "topic": format!("order:{order}")}),
    )
    .await;
    let frame = next_close(&mut ws).await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::from(4002));
}

#[actix_web::test]
async fn a_deleted_user_loses_their_sockets() {
    let app = spawn_app().await;
    let (id, token) = app.customer("Deleted").await;
    let mut ws = app.ws("/api/ws", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "notification.unread");
    app.sql(&format!("DELETE FROM users WHERE id = {id}")).await;
    assert_eq!(closed_with(&mut ws).await, 4002);
}

#[actix_web::test]
async fn sockets_opening_while_the_session_is_revoked_close_too() {
    use futures_util::future::join_all;

    let app = spawn_app().await;
    let (_, token) = app.customer("Racer").await;
    // Handshakes spread over 60 ms, the revocation in the middle: some are checked before it
    // and start their socket after it.
    let handshakes = (0..60u64).map(|i| {
        let request = app.ws_request("/api/ws", &token);
        async move {
            tokio::time::sleep(Duration::from_millis(i)).await;
            ws_connect(request).await
        }
    });
    let revoke = async {
        tokio::time::sleep(Duration::from_millis(25)).await;
        app.post("/api/logout-all", Some(&token), json!({}))
            .await
            .status
    };
    let (sockets, revoked) = tokio::join!(join_all(handshakes), revoke);
    assert_eq!(revoked, 200);
    // A handshake after the revocation is refused; every socket that opened is closed.
    for socket in sockets.into_iter().flatten() {
        let mut ws = socket;
        assert_eq!(closed_with(&mut ws).await, 4002);
    }
}
