//! Limits an attacker meets: failed-login throttling that never keeps the owner out, rate
//! limits keyed by the verified user (or the address), on WebSocket handshakes too, a cap on
//! sockets per user, a registration budget, bounded metric labels and who may read them.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{json, Value};

use crate::helpers::*;

/// A client whose connections come from `127.0.0.x`: another address on this machine.
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap()
}

async fn login_from(app: &TestApp, client: &reqwest::Client, body: Value) -> u16 {
    client
        .post(format!("{}/api/login", app.address))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[actix_web::test]
async fn a_stranger_slows_only_their_own_attempts_on_an_account() {
    let app = spawn_app_tuned(|settings| {
        settings.auth.login_free_failures = 2;
        settings.auth.login_max_delay_secs = 300;
    })
    .await;
    let email = unique_email("owner");
    let reg = app
        .post(
            "/api/register",
            None,
            json!({"email": email, "username": "owner-name", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reg.status, 201);
    let stranger = client_from(2);
    // The email and the username are one account: failures under either count together.
    for body in [
        json!({"email": email, "password": "wrong-one"}),
        json!({"username": "OWNER-NAME", "password": "wrong-two"}),
    ] {
        assert_eq!(login_from(&app, &stranger, body).await, 401);
    }
    let held = login_from(
        &app,
        &stranger,
        json!({"username": "owner-name", "password": "wrong-three"}),
    )
    .await;
    assert_eq!(held, 429, "the stranger waits");
    // The owner, from a clean address, is not held back at all.
    let owner = client_from(3);
    let ok = login_from(&app, &owner, json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(ok, 200);
}

#[actix_web::test]
async fn a_revoked_token_spends_its_senders_budget_not_its_users() {
    let app = spawn_app_tuned(|settings| {
        settings.rate_limit.enabled = true;
        settings.rate_limit.member_per_minute = 3;
    })
    .await;
    let (_, old) = app.customer("Budget").await;
    let email = app.get("/api/me", &old).await.body["data"]["email"]
        .as_str()
        .unwrap()
        .to_string();
    let fresh = app
        .login(json!({"email": email, "password": PASSWORD}))
        .await;
    app.post("/api/logout-all", Some(&fresh), json!({})).await;
    // Register/login above spent this address's budget; another address sends the revoked token.
    let other = client_from(4);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let res = other
            .get(format!("{}/api/me", app.address))
            .bearer_auth(&old)
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 429],
        "counted against the address"
    );
    let login = client_from(5)
        .post(format!("{}/api/login", app.address))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let login: Value = login.json().await.unwrap();
    let current = login["data"]["token"].as_str().unwrap();
    let me = other
        .get(format!("{}/api/me", app.address))
        .bearer_auth(current)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "the user's own budget is untouched");
}

#[actix_web::test]
async fn websocket_handshakes_are_rate_limited_and_capped_per_user() {
    let app = spawn_app_tuned(|settings| {
        settings.ws.max_sockets_per_user = 3;
    })
    .await;
    let (_, token) = app.customer("Hoarder").await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(app.ws("/ws", &token).await);
    }
    let refused = refused_handshake(&app, "/ws", &token).await;
    assert_eq!(refused.0, 429, "{}", refused.1);
    drop(open.pop());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    open.push(app.ws("/ws", &token).await);

    let limited = spawn_app_tuned(|settings| {
        settings.rate_limit.enabled = true;
        settings.rate_limit.member_per_minute = 4;
    })
    .await;
    let (_, token) = limited.customer("Storm").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            refused_handshake(&limited, "/ws/orders/999999", &token)
                .await
                .0,
        );
    }
    // Every handshake is counted, refused ones too: 404 for the unknown order, then 429.
    assert!(
        statuses.contains(&404) && statuses.ends_with(&[429]),
        "{statuses:?}"
    );
}

/// A handshake expected to be refused: its status and body.
async fn refused_handshake(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    use tokio_tungstenite::tungstenite::Error;

    match ws_connect(app.ws_request(path, token)).await {
        Err(Error::Http(res)) => (
            res.status().as_u16(),
            String::from_utf8_lossy(res.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("the handshake was accepted"),
    }
}

#[actix_web::test]
async fn registration_has_a_budget_per_address() {
    let app = spawn_app_tuned(|settings| {
        settings.rate_limit.enabled = true;
        settings.rate_limit.register_per_hour = 2;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let res = app
            .post(
                "/api/register",
                None,
                json!({"email": unique_email("many"), "password": PASSWORD}),
            )
            .await;
        statuses.push(res.status);
    }
    assert_eq!(statuses, [201, 201, 429]);
}

/// Requests with the method `M{i}X`, to a route and to no route.
async fn made_up(app: &TestApp, i: usize) {
    let method = reqwest::Method::from_bytes(format!("M{i}X").as_bytes()).unwrap();
    for path in [format!("/healthz?n={i}"), format!("/no/such/route/{i}")] {
        app.client
            .request(method.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
    }
}

#[actix_web::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = spawn_app().await;
    for i in 0..20 {
        made_up(&app, i).await;
    }
    // Twice: the first scrape adds its own series.
    app.metrics().await;
    let before = app.metrics().await.len();
    for i in 20..300 {
        made_up(&app, i).await;
    }
    let after = app.metrics().await;
    assert!(after.contains("method=\"other\""), "{after}");
    assert!(!after.contains("M77X"));
    // The counts change, the series do not: a few digits more at most.
    assert!(after.len() < before + 200, "{} -> {}", before, after.len());
}

#[actix_web::test]
async fn metrics_behind_a_token_or_on_their_own_address() {
    let app = spawn_app_tuned(|settings| {
        settings.metrics.token = "scrape-secret".into();
    })
    .await;
    let url = format!("{}/metrics", app.address);
    let anonymous = app.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 404);
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    let right = app
        .client
        .get(&url)
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(right
        .text()
        .await
        .unwrap()
        .contains("order_tracker_db_pool_max"));

    let separate = spawn_app_tuned(|settings| {
        settings.metrics.address = "127.0.0.1:0".into();
    })
    .await;
    let main = separate
        .client
        .get(format!("{}/metrics", separate.address))
        .send()
        .await
        .unwrap();
    assert_eq!(main.status(), 404, "not on the main port");
    let own = separate
        .metrics_address
        .as_ref()
        .expect("a metrics address");
    let scraped = separate
        .client
        .get(format!("{own}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
}

#[actix_web::test]
async fn answers_carry_protective_headers() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Headers").await;
    for res in [
        app.get("/api/me", &token).await,
        app.get("/api/nothing-here", &token).await,
    ] {
        assert_eq!(res.headers["x-content-type-options"], "nosniff");
        assert_eq!(res.headers["x-frame-options"], "DENY");
        assert_eq!(res.headers["cache-control"], "no-store");
        assert!(res.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
    }
}

#[actix_web::test]
async fn no_spelling_of_a_path_slips_past_the_limits() {
    let app = spawn_app_tuned(|settings| {
        settings.rate_limit.enabled = true;
        settings.rate_limit.member_per_minute = 3;
    })
    .await;
    let (_, token) = app.customer("Speller").await;
    let mut statuses = Vec::new();
    for path in [
        "/%61pi/me",
        "/api/m%65",
        "/%61pi/me",
        "/api/me",
        "/%61pi/me",
    ] {
        statuses.push(app.get(path, &token).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}
