//! Share links: made by an order's owner or staff, listed without tokens, revoked at once; the
//! public view they open holds no private field; unknown, malformed, revoked and expired tokens
//! all get the same 404; the per-order limit holds under a race.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_tuned, TestApp};

pub(crate) async fn share(
    app: &TestApp,
    token: &str,
    order: i64,
    body: Option<Value>,
) -> crate::helpers::Answer {
    app.request(
        Method::POST,
        &format!("/api/orders/{order}/share-links"),
        Some(token),
        body,
    )
    .await
}

/// Revokes link `id` of `order`, as the holder of `token`.
pub(crate) async fn unshare(
    app: &TestApp,
    token: &str,
    order: i64,
    id: i64,
) -> crate::helpers::Answer {
    app.delete(&format!("/api/orders/{order}/share-links/{id}"), token)
        .await
}

/// The public view, with no credentials at all.
async fn track(app: &TestApp, path: &str) -> crate::helpers::Answer {
    app.request(Method::GET, path, None, None).await
}

#[actix_web::test]
async fn an_owner_shares_an_order_and_anyone_with_the_link_sees_its_progress_only() {
    let app = spawn_app().await;
    let (_, owner) = app.customer("Sharer").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let order = app.create_order(&owner, "Nasi Goreng").await;
    let made = share(&app, &owner, order, None).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let token = made.body["data"]["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 64);
    // Without `share.public_url` the link is the tracking page's path.
    let url = made.body["data"]["url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("/track/{token}"));

    let noted = app
        .put(
            &format!("/api/orders/{order}/status"),
            &admin,
            json!({"status": "confirmed", "notes": "Rider picks up at 12:30"}),
        )
        .await;
    assert_eq!(noted.status, 200);
    let seen = track(&app, &format!("/api{url}")).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(seen.headers["referrer-policy"], "no-referrer");
    let view = &seen.body["data"];
    assert_eq!(view["status"], "confirmed");
    assert_eq!(view["seq"], 2);
    assert_eq!(view["timeline"].as_array().unwrap().len(), 2);
    // A step's notes are written for the customer and show; who wrote them does not.
    let step = &view["timeline"][1];
    assert_eq!(step["notes"], "Rider picks up at 12:30");
    assert!(
        step.get("updated_by").is_none(),
        "updated_by leaked: {step}"
    );
    assert!(!seen.body.to_string().contains("Admin"), "{}", seen.body);
    for private in [
        "customer_name",
        "customer_phone",
        "delivery_location",
        "user_id",
        "items",
        "total_amount",
        "final_amount",
        "email",
        "updated_by",
    ] {
        assert!(view.get(private).is_none(), "{private} leaked: {view}");
    }
    let english = view["status_display"].clone();
    let indonesian = track(&app, &format!("/api/track/{token}?lang=id")).await;
    assert_ne!(indonesian.body["data"]["status_display"], english);

    // The link is not a login: the order's own routes still want one.
    let private = app
        .request(Method::GET, &format!("/api/orders/{order}"), None, None)
        .await;
    assert_eq!(private.status, 401);
}

#[actix_web::test]
async fn a_revoked_link_answers_exactly_what_a_link_that_never_existed_does() {
    let app = spawn_app().await;
    let (_, owner) = app.customer("Revoker").await;
    let order = app.create_order(&owner, "Soto").await;
    let made = share(&app, &owner, order, None).await;
    let (id, token) = (
        made.body["data"]["id"].as_i64().unwrap(),
        made.body["data"]["token"].as_str().unwrap().to_string(),
    );
    let listed = app
        .get(&format!("/api/orders/{order}/share-links"), &owner)
        .await;
    assert_eq!(listed.body["data"][0]["id"], id);
    assert_eq!(listed.body["data"][0]["active"], true);
    assert!(
        !listed.body.to_string().contains(&token),
        "a list shows no token"
    );

    let gone = unshare(&app, &owner, order, id).await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    let revoked = track(&app, &format!("/api/track/{token}")).await;
    let never = track(&app, &format!("/api/track/{}", "0".repeat(64))).await;
    let malformed = track(&app, "/api/track/not-a-token").await;
    let too_long = track(&app, &format!("/api/track/{}", "a".repeat(5000))).await;
    for answer in [&revoked, &never, &malformed, &too_long] {
        assert_eq!(answer.status, 404);
        assert_eq!(answer.body, revoked.body);
    }
    let listed = app
        .get(&format!("/api/orders/{order}/share-links"), &owner)
        .await;
    assert_eq!(listed.body["data"], json!([]));
    // Nothing of it is kept, so making and revoking links cannot pile up rows.
    let rows = format!("SELECT count(*) FROM share_links WHERE order_id = {order}");
    assert_eq!(app.sql_number(&rows).await, 0);
    // Revoking again, or a link of another order, is a 404.
    let again = unshare(&app, &owner, order, id).await;
    assert_eq!(again.status, 404);
}

#[actix_web::test]
async fn only_the_owner_and_staff_manage_an_orders_links() {
    let app = spawn_app().await;
    let (_, owner) = app.customer("Owner").await;
    let (_, stranger) = app.customer("Stranger").await;
    let (_, driver) = app.staff("Driver", "driver").await;
    let order = app.create_order(&owner, "Bakso").await;
    let made = share(&app, &owner, order, None).await;
    let id = made.body["data"]["id"].as_i64().unwrap();

    assert_eq!(share(&app, &stranger, order, None).await.status, 404);
    let listed = app
        .get(&format!("/api/orders/{order}/share-links"), &stranger)
        .await;
    assert_eq!(listed.status, 404);
    let revoked = unshare(&app, &stranger, order, id).await;
    assert_eq!(revoked.status, 404);
    assert_eq!(share(&app, &driver, order, None).await.status, 201);
    let anonymous = app
        .request(
            Method::POST,
            &format!("/api/orders/{order}/share-links"),
            None,
            None,
        )
        .await;
    assert_eq!(anonymous.status, 401);
    // A token revoked by logging out everywhere manages nothing either.
    let out = app.post("/api/logout-all", Some(&owner), json!({})).await;
    assert_eq!(out.status, 200);
    assert_eq!(share(&app, &owner, order, None).await.status, 401);
    assert_eq!(unshare(&app, &owner, order, id).await.status, 401);
}

#[actix_web::test]
async fn links_end_at_their_own_time_and_some_days_after_the_order_is_final() {
    let app = spawn_app().await;
    let (_, owner) = app.customer("Ender").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let order = app.create_order(&owner, "Sate").await;

    let past = share(
        &app,
        &owner,
        order,
        Some(json!({"expires_at": "2020-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(past.status, 422);
    let bad = share(&app, &owner, order, Some(json!({"expires_in": 5}))).await;
    assert_eq!(bad.status, 400);
    for absurd in ["+10000-01-01T00:00:00Z", "tomorrow", "2031-13-01T00:00:00Z"] {
        let refused = share(&app, &owner, order, Some(json!({"expires_at": absurd}))).await;
        assert_eq!(refused.status, 422, "{absurd}: {}", refused.body);
    }
    let as_text = app
        .client
        .post(format!("{}/api/orders/{order}/share-links", app.address))
        .bearer_auth(&owner)
        .header("content-type", "text/plain")
        .body("{\"expires_at\":\"2999-01-01T00:00:00Z\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(as_text.status(), 415);

    let soon = share(
        &app,
        &owner,
        order,
        Some(json!({"expires_at": "2999-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(soon.status, 201, "{}", soon.body);
    let soon = soon.body["data"]["token"].as_str().unwrap().to_string();
    let plain = share(&app, &owner, order, None).await;
    let plain = plain.body["data"]["token"].as_str().unwrap().to_string();

    app.sql(&format!(
        "UPDATE share_links SET expires_at = now() - interval '1 second'
         WHERE order_id = {order} AND expires_at IS NOT NULL"
    ))
    .await;
    assert_eq!(track(&app, &format!("/api/track/{soon}")).await.status, 404);
    assert_eq!(
        track(&app, &format!("/api/track/{plain}")).await.status,
        200
    );

    // Cancelled is final: the link still shows it for `share.ttl_days` (7), then ends.
    assert_eq!(app.set_status(&admin, order, "cancelled").await.status, 200);
    let cancelled = track(&app, &format!("/api/track/{plain}")).await;
    assert_eq!(cancelled.body["data"]["status"], "cancelled");
    app.sql(&format!(
        "UPDATE order_status_history SET created_at = created_at - interval '8 days'
         WHERE order_id = {order} AND status = 'cancelled'"
    ))
    .await;
    assert_eq!(
        track(&app, &format!("/api/track/{plain}")).await.status,
        404
    );
}

#[actix_web::test]
async fn racing_requests_cannot_pass_the_per_order_limit() {
    let app = spawn_app_tuned(|settings| settings.share.max_links_per_order = 3).await;
    let (_, owner) = app.customer("Racer").await;
    let order = app.create_order(&owner, "Es Teh").await;
    let answers =
        futures_util::future::join_all((0..12).map(|_| share(&app, &owner, order, None))).await;
    let made = answers.iter().filter(|a| a.status == 201).count();
    let refused = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!((made, refused), (3, 9));
    // A revoked link frees its place.
    let listed = app
        .get(&format!("/api/orders/{order}/share-links"), &owner)
        .await;
    let id = listed.body["data"][0]["id"].as_i64().unwrap();
    unshare(&app, &owner, order, id).await;
    assert_eq!(share(&app, &owner, order, None).await.status, 201);
}

#[actix_web::test]
async fn guessing_tokens_is_rate_limited_per_client_address() {
    let app = spawn_app_tuned(|settings| {
        settings.rate_limit.enabled = true;
        settings.rate_limit.member_per_minute = 5;
    })
    .await;
    let mut statuses = Vec::new();
    for guess in 0..7 {
        let path = format!("/api/track/{guess:064x}");
        statuses.push(track(&app, &path).await.status);
    }
    assert_eq!(statuses, [404, 404, 404, 404, 404, 429, 429]);
}

#[actix_web::test]
async fn the_url_comes_from_settings_never_from_what_a_client_sends() {
    let app = spawn_app_tuned(|settings| {
        settings.share.public_url = "https://track.example.com/".into();
    })
    .await;
    let (_, owner) = app.customer("Steerer").await;
    let order = app.create_order(&owner, "Mie").await;
    let answer = app
        .client
        .post(format!("{}/api/orders/{order}/share-links", app.address))
        .bearer_auth(&owner)
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "javascript:alert(1)//")
        .header("Forwarded", "host=evil.example;proto=https")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let body: Value = answer.json().await.unwrap();
    let token = body["data"]["token"].as_str().unwrap();
    assert_eq!(
        body["data"]["url"],
        format!("https://track.example.com/track/{token}")
    );
}

#[actix_web::test]
async fn deleting_an_order_ends_its_links_and_an_ended_order_gets_no_new_one() {
    let app = spawn_app().await;
    let (_, owner) = app.customer("Deleter").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let order = app.create_order(&owner, "Gado-gado").await;
    let made = share(&app, &owner, order, None).await;
    let token = made.body["data"]["token"].as_str().unwrap().to_string();
    let deleted = app.delete(&format!("/api/orders/{order}"), &owner).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(
        track(&app, &format!("/api/track/{token}")).await.status,
        404
    );
    let revoked: u64 = app
        .sql(&format!(
            "UPDATE share_links SET created_at = created_at
             WHERE order_id = {order} AND revoked_at IS NOT NULL"
        ))
        .await;
    assert_eq!(revoked, 1, "the link was revoked with the order");

    // Staff still see the deleted order, but its tracking ended with it.
    let again = share(&app, &admin, order, None).await;
    assert_eq!(again.status, 409, "{}", again.body);

    let other = app.create_order(&owner, "Rendang").await;
    assert_eq!(app.set_status(&admin, other, "delivered").await.status, 200);
    assert_eq!(share(&app, &owner, other, None).await.status, 201);
    app.sql(&format!(
        "UPDATE order_status_history SET created_at = created_at - interval '8 days'
         WHERE order_id = {other} AND status = 'delivered'"
    ))
    .await;
    let late = share(&app, &owner, other, None).await;
    assert_eq!(late.status, 409, "{}", late.body);
}
