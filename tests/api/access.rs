//! Roles and object-level access; tokens that must be refused.

use base64::Engine;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;

#[actix_web::test]
async fn customers_stay_inside_their_own_orders() {
    let app = spawn_app().await;
    let (_, alice) = app.customer("Alice").await;
    let (_, bob) = app.customer("Bob").await;
    let order = app.create_order(&alice, "Gado-gado").await;

    assert_eq!(
        app.set_status(&alice, order, "shipped").await.status,
        403,
        "customers cannot move orders"
    );
    assert_eq!(
        app.set_status(&bob, order, "cancelled").await.status,
        404,
        "nor touch others'"
    );
    assert_eq!(
        app.get(&format!("/api/orders/{order}"), &bob).await.status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/orders/{order}/history"), &bob)
            .await
            .status,
        404
    );
    let bob_list = app.get("/api/orders", &bob).await;
    assert_eq!(bob_list.body["meta"]["total"], 0);
    let admin_route = app.get("/api/admin/orders", &bob).await;
    assert_eq!(admin_route.status, 403);
    assert_eq!(admin_route.body["status"], "error");
    let delete = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/orders/{order}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(delete.status, 404);
    assert_eq!(
        app.get(&format!("/api/orders/{order}"), &alice).await.body["data"]["status"],
        "pending"
    );

    // Subscriptions too: at the handshake and per subscribe frame.
    let mut request = format!("{}/ws/orders/{order}", app.ws_address)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {bob}").parse().unwrap());
    assert!(ws_connect(request).await.is_err());
    let mut ws = app.ws("/ws", &bob).await;
    send_json(
        &mut ws,
        json!({"type": "subscribe", "topic": format!("order:{order}")}),
    )
    .await;
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["type"], "error");
    send_json(&mut ws, json!({"type": "subscribe", "topic": "user:1"})).await;
    assert_eq!(next_json(&mut ws).await["type"], "error");

    // Drivers read and move any order, but may not delete it.
    let (_, driver) = app.staff("Dodi", "driver").await;
    assert_eq!(
        app.get(&format!("/api/orders/{order}"), &driver)
            .await
            .status,
        200
    );
    assert_eq!(app.get("/api/admin/orders", &driver).await.status, 200);
    let delete = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/orders/{order}"),
            Some(&driver),
            None,
        )
        .await;
    assert_eq!(delete.status, 404);
}

#[actix_web::test]
async fn registration_never_grants_a_role() {
    let app = spawn_app().await;
    let reg = app
        .post(
            "/api/register",
            None,
            json!({"username": "sneaky", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    assert_eq!(reg.status, 201);
    assert_eq!(reg.body["data"]["role"], "user");
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[actix_web::test]
async fn bad_expired_tampered_and_unsigned_tokens_are_refused() {
    let app = spawn_app().await;
    let (id, token) = app.customer("Eve").await;
    assert_eq!(app.get("/api/me", &token).await.status, 200);

    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64, role: &str| {
        json!({"sub": id.to_string(), "role": role, "ver": 1, "iat": now, "exp": exp,
               "iss": "order-tracker", "aud": "order-tracker"})
    };
    let sign = |claims: serde_json::Value, secret: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let expired = sign(claims(now - 3600, "user"), TEST_JWT_SECRET);
    let wrong_key = sign(
        claims(now + 3600, "user"),
        "another-secret-that-is-long-enough-000000",
    );
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims(now + 3600, "admin").to_string().as_bytes()),
        parts[2]
    );
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims(now + 3600, "admin").to_string().as_bytes())
    );
    for bad in [
        "garbage",
        expired.as_str(),
        wrong_key.as_str(),
        tampered.as_str(),
        unsigned.as_str(),
    ] {
        let res = app.get("/api/me", bad).await;
        assert_eq!(res.status, 401, "token {bad}");
        assert_eq!(res.body["status"], "error");
    }
    let res = app
        .request(reqwest::Method::GET, "/api/me", None, None)
        .await;
    assert_eq!(res.status, 401);
}

#[actix_web::test]
async fn failed_logins_are_throttled_per_account() {
    let app = spawn_app_tuned(|settings| {
        settings.auth.login_free_failures = 3;
    })
    .await;
    app.post(
        "/api/register",
        None,
        json!({"username": "target", "password": PASSWORD}),
    )
    .await;
    for _ in 0..3 {
        let res = app
            .post(
                "/api/login",
                None,
                json!({"username": "target", "password": "wrong-password"}),
            )
            .await;
        assert_eq!(res.status, 401);
        assert_eq!(res.body["error"], "Invalid credentials");
    }
    let throttled = app
        .post(
            "/api/login",
            None,
            json!({"username": "TARGET", "password": PASSWORD}),
        )
        .await;
    assert_eq!(throttled.status, 429);
    assert!(throttled.headers.get("retry-after").is_some());
    // An unknown account answers exactly like a wrong password.
    let unknown = app
        .post(
            "/api/login",
            None,
            json!({"username": "nobody-here", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body["error"].as_str()),
        (401, Some("Invalid credentials"))
    );
    // The delay grows but passes: after it, the right password works.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.login(json!({"username": "target", "password": PASSWORD}))
        .await;
}

#[actix_web::test]
async fn logging_out_everywhere_and_role_changes_revoke_tokens() {
    let app = spawn_app().await;
    let (id, first) = app.customer("Revoked").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let email = app.get("/api/me", &first).await.body["data"]["email"]
        .as_str()
        .unwrap()
        .to_string();
    let second = app
        .login(json!({"email": email, "password": PASSWORD}))
        .await;
    let out = app.post("/api/logout-all", Some(&first), json!({})).await;
    assert_eq!(out.status, 200);
    for old in [&first, &second] {
        assert_eq!(
            app.get("/api/me", old).await.status,
            401,
            "every older token stops working"
        );
    }
    let fresh = app
        .login(json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(app.get("/api/me", &fresh).await.status, 200);

    let refused = app
        .put(
            &format!("/api/admin/users/{id}/role"),
            &fresh,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(refused.status, 403, "customers cannot promote themselves");
    let promoted = app
        .put(
            &format!("/api/admin/users/{id}/role"),
            &admin,
            json!({"role": "driver"}),
        )
        .await;
    assert_eq!(promoted.body["data"]["role"], "driver");
    assert_eq!(
        app.get("/api/me", &fresh).await.status,
        401,
        "the token carried the old role"
    );
    let driver = app
        .login(json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(app.get("/api/admin/orders", &driver).await.status, 200);
    let bad = app
        .put(
            &format!("/api/admin/users/{id}/role"),
            &admin,
            json!({"role": "king"}),
        )
        .await;
    assert_eq!(bad.status, 400);
}
