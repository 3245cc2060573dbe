//! The database restarts under a running server: the listener reconnects and subscribers catch
//! up, so no event is lost or repeated. Uses its own cluster, so other tests are undisturbed.

use std::time::Duration;

use order_tracker::db::embedded::create_database;

use crate::helpers::*;

#[actix_web::test]
async fn subscribers_catch_up_after_the_database_restarts() {
    let dir =
        std::env::temp_dir().join(format!("order-tracker-restart-{:x}", rand::random::<u32>()));
    let pg = start_cluster(dir.clone());
    let admin = pg.config("postgres");
    create_database(&admin, "restart").await.unwrap();
    let app = spawn_app_with(test_settings(&connection_string(&admin, "restart"))).await;
    let (_, token) = app.customer("Patient").await;
    let (_, staff) = app.staff("Admin", "admin").await;
    let id = app.create_order(&token, "Martabak").await;
    let mut ws = app.ws(&format!("/ws/orders/{id}"), &token).await;
    assert_eq!(next_json(&mut ws).await["seq"], 1);

    let mut pg = tokio::task::spawn_blocking(move || {
        let mut pg = pg;
        pg.stop();
        drop(pg);
        start_cluster(dir)
    })
    .await
    .unwrap();

    // The first requests may meet connections that died with the old server.
    let mut changed = false;
    for _ in 0..50 {
        if app.set_status(&staff, id, "confirmed").await.status == 200 {
            changed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(changed, "the server recovers its connections");
    let event = next_json(&mut ws).await;
    assert_eq!(
        (event["seq"].as_i64(), event["status"].as_str()),
        (Some(2), Some("confirmed"))
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.set_status(&staff, id, "preparing").await.status, 200);
    let event = next_json(&mut ws).await;
    assert_eq!(event["seq"], 3, "no duplicate of seq 2 in between");
    assert_silent(&mut ws, Duration::from_millis(300)).await;

    app.stopper.as_ref().unwrap().stop().await;
    let dir = pg.data_dir().to_path_buf();
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
