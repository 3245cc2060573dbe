//! Faults answered honestly: a database that goes away is a 503 with `Retry-After` (and the
//! server recovers with it), and a client that stops reading loses its connection.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

/// The database name inside a test app's connection string.
fn database_name(app: &TestApp) -> String {
    app.database_url
        .split_whitespace()
        .find_map(|part| part.strip_prefix("dbname="))
        .unwrap()
        .to_string()
}

/// Runs `statement` on the cluster's maintenance database, beside the app's own.
async fn maintenance(app: &TestApp, statement: &str) {
    let url = app
        .database_url
        .replace(&format!("dbname={}", database_name(app)), "dbname=postgres");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    actix_web::rt::spawn(connection);
    client.batch_execute(statement).await.unwrap();
}

#[actix_web::test]
async fn a_database_outage_is_a_503_with_retry_after_and_passes() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Patient").await;
    let db = database_name(&app);
    // The database refuses new connections and every open one is cut, as in a restart.
    maintenance(
        &app,
        &format!(
            "ALTER DATABASE {db} ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = '{db}' AND pid <> pg_backend_pid();"
        ),
    )
    .await;
    for _ in 0..3 {
        let res = app.get("/api/orders", &token).await;
        assert_eq!(res.status, 503, "{}", res.body);
        assert!(res.headers.get("retry-after").is_some());
        assert_eq!(res.body["status"], "error");
    }
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    maintenance(&app, &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).await;
    let back = app.get("/api/orders", &token).await;
    assert_eq!(back.status, 200, "{}", back.body);
}

#[actix_web::test]
async fn a_client_that_stops_reading_loses_its_connection() {
    let app = spawn_app_tuned(|settings| {
        settings.ws.outbound_queue = 1;
        settings.ws.write_timeout_secs = 1;
    })
    .await;
    let (id, token) = app.customer("Stalled").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let _stalled = crate::websocket::slow_reader(&app, &token).await;
    crate::websocket::send_blobs(&app, &admin, id, 2500).await;
    // The client never reads again; the server must let go of the connection on its own.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let text = app.metrics().await;
        if text.contains("order_tracker_websocket_open 0") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled connection is still open"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The server still serves everyone else.
    let res = app
        .post(
            "/api/notifications/send",
            Some(&admin),
            json!({"user_id": id, "message": "hi"}),
        )
        .await;
    assert_eq!(res.status, 201);
}
