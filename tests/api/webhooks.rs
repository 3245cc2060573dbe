//! Webhooks end to end: admins manage endpoints; committed changes reach a real receiver on
//! loopback signed, in commit order, once per event id, after the receiver was down, after the
//! sending server was killed, and from two servers at once; failing endpoints are retried,
//! given up, disabled and reported; targets on private addresses are refused.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    spawn_app_tuned, spawn_app_with, test_settings, TestApp, TEST_JWT_SECRET, TEST_TOTP_KEY,
};
use crate::receiver::{signed_by, Got, Receiver};
use order_tracker::config::Settings;
use order_tracker::domain::webhook::EVENT_TYPES as ALL_EVENTS;

/// Quick retries and a short timeout, loopback receivers allowed.
fn fast(s: &mut Settings) {
    let w = &mut s.webhooks;
    w.allow_private_targets = true;
    w.poll_ms = 50;
    w.timeout_secs = 2;
    w.retry_base_ms = 100;
    w.retry_max_ms = 400;
    s.auth.totp_key = TEST_TOTP_KEY.into();
}

/// Registers an endpoint; answers its id and secret.
async fn endpoint(app: &TestApp, admin: &str, url: &str, events: &[&str]) -> (i64, String) {
    let res = app
        .post(
            "/api/admin/webhooks",
            Some(admin),
            json!({"url": url, "events": events, "description": "test"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    let data = &res.body["data"];
    (
        data["id"].as_i64().unwrap(),
        data["secret"].as_str().unwrap().to_string(),
    )
}

/// An admin's token and a customer's, the two every delivery test needs.
async fn admin_and_customer(app: &TestApp) -> (String, String) {
    let (_, admin) = app.staff("Ada", "admin").await;
    let (_, customer) = app.customer("Cora").await;
    (admin, customer)
}

async fn patch(app: &TestApp, admin: &str, id: i64, body: Value) -> crate::helpers::Answer {
    app.request(
        Method::PATCH,
        &format!("/api/admin/webhooks/{id}"),
        Some(admin),
        Some(body),
    )
    .await
}

fn types(got: &[Got]) -> Vec<String> {
    got.iter()
        .map(|g| g.json["type"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[actix_web::test]
async fn only_admins_manage_endpoints_and_bad_input_is_refused() {
    let app = spawn_app_tuned(|s| s.webhooks.max_endpoints = 2).await;
    let (_, customer) = app.customer("Cora").await;
    let (_, driver) = app.staff("Dina", "driver").await;
    let (_, admin) = app.staff("Ada", "admin").await;
    let body = json!({"url": "https://hooks.example.com/in", "events": ["order.created"]});

    for token in [&customer, &driver] {
        let res = app
            .post("/api/admin/webhooks", Some(token), body.clone())
            .await;
        assert_eq!(res.status, 403, "{}", res.body);
    }
    assert_eq!(
        app.post("/api/admin/webhooks", None, body.clone())
            .await
            .status,
        401
    );
    assert_eq!(app.get("/api/admin/webhooks", &customer).await.status, 403);

    let bad_urls = [
        json!("http://127.0.0.1:9/x"),
        json!("http://169.254.169.254/"),
        json!("http://localhost:8080/"),
        json!("http://[::1]/"),
        json!("ftp://hooks.example.com/"),
        json!(["https://hooks.example.com/"]),
        Value::Null,
    ];
    let bad_events = [json!(["order.exploded"]), json!([]), json!("order.created")];
    let cases = bad_urls
        .into_iter()
        .map(|url| (json!({"url": url, "events": ["order.created"]}), "url"))
        .chain(bad_events.into_iter().map(|events| {
            (
                json!({"url": "https://hooks.example.com/", "events": events}),
                "events",
            )
        }));
    for (bad, field) in cases {
        let res = app
            .post("/api/admin/webhooks", Some(&admin), bad.clone())
            .await;
        assert_eq!(res.status, 400, "{bad}: {}", res.body);
        assert!(res.body["errors"][field].is_array(), "{bad}: {}", res.body);
    }
    let nul = app
        .post(
            "/api/admin/webhooks",
            Some(&admin),
            json!({"url": "https://hooks.example.com/\u{0}", "events": ["order.created"]}),
        )
        .await;
    assert_eq!(nul.status, 400, "{}", nul.body);

    let created = app
        .post("/api/admin/webhooks", Some(&admin), body.clone())
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["data"]["id"].as_i64().unwrap();
    let secret = created.body["data"]["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    // Stored sealed: the secret's text is nowhere in the database.
    let stored = app
        .sql_number(&format!(
            "SELECT count(*) FROM webhook_endpoints WHERE position('{secret}'::bytea in secret) > 0"
        ))
        .await;
    assert_eq!(stored, 0);

    let shown = app.get(&format!("/api/admin/webhooks/{id}"), &admin).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body["data"].get("secret").is_none(), "{}", shown.body);
    assert_eq!(shown.body["data"]["events"], json!(["order.created"]));
    let listed = app.get("/api/admin/webhooks", &admin).await;
    assert!(!listed.body.to_string().contains(secret));

    let changed = patch(
        &app,
        &admin,
        id,
        json!({"enabled": false, "events": ALL_EVENTS}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["data"]["enabled"], false);
    assert_eq!(changed.body["data"]["disabled_reason"], "admin");
    assert_eq!(changed.body["data"]["events"].as_array().unwrap().len(), 7);
    assert!(changed.body["data"].get("secret").is_none());
    let bad_patch = patch(
        &app,
        &admin,
        id,
        json!({"enabled": "yes", "url": "http://10.0.0.1/"}),
    )
    .await;
    assert_eq!(bad_patch.status, 400, "{}", bad_patch.body);
    assert_eq!(
        patch(&app, &admin, 999_999, json!({"enabled": true}))
            .await
            .status,
        404
    );

    // At most max_endpoints.
    assert_eq!(
        app.post("/api/admin/webhooks", Some(&admin), body.clone())
            .await
            .status,
        201
    );
    let third = app
        .post("/api/admin/webhooks", Some(&admin), body.clone())
        .await;
    assert_eq!(third.status, 409, "{}", third.body);

    assert_eq!(
        app.delete(&format!("/api/admin/webhooks/{id}"), &admin)
            .await
            .status,
        200
    );
    assert_eq!(
        app.get(&format!("/api/admin/webhooks/{id}"), &admin)
            .await
            .status,
        404
    );
    assert_eq!(
        app.delete(&format!("/api/admin/webhooks/{id}"), &admin)
            .await
            .status,
        404
    );
    let huge = app
        .get(
            "/api/admin/webhooks/99999999999999999999999/deliveries",
            &admin,
        )
        .await;
    assert_eq!(huge.status, 404, "{}", huge.body);
}

#[actix_web::test]
async fn committed_changes_arrive_signed_in_commit_order_with_stable_ids() {
    let app = spawn_app_tuned(fast).await;
    let receiver = Receiver::start();
    let (_, admin) = app.staff("Ada", "admin").await;
    let (driver_id, _) = app.staff("Dodi", "driver").await;
    let (customer_id, customer) = app.customer("Cora").await;
    let (_, secret) = endpoint(&app, &admin, &receiver.url("/all"), &ALL_EVENTS).await;
    let (_, only_cancel) =
        endpoint(&app, &admin, &receiver.url("/cancel"), &["order.cancelled"]).await;

    let order = app.create_order(&customer, "Nasi goreng").await;
    for status in ["confirmed", "preparing", "ready"] {
        assert_eq!(app.set_status(&admin, order, status).await.status, 200);
    }
    let assigned = app
        .put(
            &format!("/api/orders/{order}/driver"),
            &admin,
            json!({"driver_id": driver_id}),
        )
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    for status in ["shipped", "delivered"] {
        assert_eq!(app.set_status(&admin, order, status).await.status, 200);
    }
    let other = app.create_order(&customer, "Es teh").await;
    assert_eq!(app.set_status(&admin, other, "cancelled").await.status, 200);
    assert_eq!(
        app.notify(&admin, customer_id, "Hello from the shop")
            .await
            .status,
        201
    );

    let got = receiver
        .wait_for(Duration::from_secs(20), |got| {
            got.iter()
                .any(|g| g.json["data"]["message"] == "Hello from the shop")
                && got.iter().any(|g| g.path == "/cancel")
        })
        .await;
    let all: Vec<Got> = got.iter().filter(|g| g.path == "/all").cloned().collect();
    for g in &all {
        assert!(signed_by(g, &secret), "bad signature on {}", g.body);
        assert!(!signed_by(g, &only_cancel));
        assert_eq!(g.id, g.json["id"].as_str().unwrap());
        assert!(g.json["created_at"].is_string());
    }
    let order_events: Vec<&Got> = all
        .iter()
        .filter(|g| g.json["data"]["order_id"] == json!(order.to_string()))
        .collect();
    let kinds: Vec<String> = order_events
        .iter()
        .map(|g| g.json["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "order.created",
            "order.status_changed",
            "order.status_changed",
            "order.status_changed",
            "order.assigned",
            "order.status_changed",
            "order.status_changed",
            "order.delivered",
        ]
    );
    // The data is the stream's event: its seq counts up, the statuses follow the changes.
    let seqs: Vec<i64> = order_events
        .iter()
        .map(|g| g.json["data"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7, 7]);
    assert_eq!(order_events[4].json["data"]["change"], "assigned");
    assert_eq!(order_events[7].json["data"]["status"], "delivered");
    // Commit order across orders and the user stream: the other order after the first, the
    // admin's notification last (the automatic notifications came in between).
    let kinds_all = types(&all);
    let cancelled_at = kinds_all
        .iter()
        .position(|k| k == "order.cancelled")
        .unwrap();
    let sent_at = all
        .iter()
        .position(|g| g.json["data"]["message"] == "Hello from the shop")
        .unwrap();
    assert!(cancelled_at > 7 && sent_at > cancelled_at, "{kinds_all:?}");
    assert!(
        kinds_all
            .iter()
            .filter(|k| *k == "notification.created")
            .count()
            >= 2
    );
    // Every event has its own id.
    let ids: HashSet<&str> = all.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids.len(), all.len());

    let cancel: Vec<&Got> = got.iter().filter(|g| g.path == "/cancel").collect();
    assert_eq!(cancel.len(), 1);
    assert!(signed_by(cancel[0], &only_cancel));
    assert_eq!(cancel[0].json["data"]["order_id"], json!(other.to_string()));
}

#[actix_web::test]
async fn a_receiver_that_was_down_gets_everything_later_in_order_once_per_event() {
    let app = spawn_app_tuned(fast).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut receiver = Receiver::down_on(port);
    let (admin, customer) = admin_and_customer(&app).await;
    let (hook, secret) = endpoint(
        &app,
        &admin,
        &receiver.url("/in"),
        &["order.status_changed"],
    )
    .await;
    // Another endpoint, up all along, is not held back by the one that is down.
    let healthy = Receiver::start();
    endpoint(&app, &admin, &healthy.url("/up"), &["order.status_changed"]).await;
    let order = app.create_order(&customer, "Sate").await;
    for status in ["confirmed", "preparing", "ready", "shipped", "delivered"] {
        assert_eq!(app.set_status(&admin, order, status).await.status, 200);
    }
    healthy
        .wait_for(Duration::from_secs(10), |got| got.len() == 5)
        .await;
    // Refused connections are retried: wait until the log shows a few failed attempts.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = app
            .get(&format!("/api/admin/webhooks/{hook}/deliveries"), &admin)
            .await;
        assert_eq!(log.status, 200, "{}", log.body);
        let first = log.body["data"]
            .as_array()
            .unwrap()
            .last()
            .cloned()
            .unwrap();
        if first["attempts"].as_i64().unwrap() >= 3 {
            assert_eq!(first["state"], "pending");
            assert!(first["log"][0]["status_code"].is_null());
            assert!(
                first["log"][0]["error"].as_str().unwrap().len() > 3,
                "{first}"
            );
            // The later ones wait behind it: not one was tried.
            let rest = &log.body["data"].as_array().unwrap()[..4];
            assert!(rest.iter().all(|d| d["attempts"] == 0), "{}", log.body);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no retries: {}",
            log.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    receiver.up();
    let got = receiver
        .wait_for(Duration::from_secs(15), |got| got.len() >= 5)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = if receiver.got().len() > got.len() {
        receiver.got()
    } else {
        got
    };
    assert_eq!(got.len(), 5, "each event once: {:?}", types(&got));
    let statuses: Vec<&str> = got
        .iter()
        .map(|g| g.json["data"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["confirmed", "preparing", "ready", "shipped", "delivered"]
    );
    assert!(got.iter().all(|g| signed_by(g, &secret)));
    let ids: HashSet<&str> = got.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids.len(), 5);
}

#[actix_web::test]
async fn failing_endpoints_are_retried_given_up_disabled_and_reported() {
    let app = spawn_app_tuned(|s| {
        fast(s);
        s.webhooks.retry_for_secs = 1;
        s.webhooks.disable_after_secs = 2;
    })
    .await;
    let receiver = Receiver::start();
    receiver.answer(500);
    let (admin, customer) = admin_and_customer(&app).await;
    let (hook, _) = endpoint(&app, &admin, &receiver.url("/in"), &["order.created"]).await;
    app.create_order(&customer, "Bakso").await;

    // Retried with growing waits for about retry_for_secs, then given up.
    let failed = wait_for_delivery(&app, &admin, hook, |d| d["state"] == "failed").await;
    let attempts = failed["log"].as_array().unwrap();
    assert!(attempts.len() >= 3, "{failed}");
    assert!(attempts.iter().all(|a| a["status_code"] == 500));
    assert!(attempts[0]["error"].as_str().unwrap().contains("500"));
    assert!(attempts
        .iter()
        .all(|a| a["duration_ms"].as_i64().unwrap() >= 0));
    assert_eq!(failed["attempts"].as_i64().unwrap(), attempts.len() as i64);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"order_tracker_webhook_attempts_total{outcome="given_up"} 1"#)
            && metrics.contains(r#"order_tracker_webhook_attempts_total{outcome="retrying"}"#),
        "{metrics}"
    );

    // Failing for longer than disable_after_secs: the next failure disables it and every admin
    // hears of it.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.create_order(&customer, "Mie").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let shown = app
            .get(&format!("/api/admin/webhooks/{hook}"), &admin)
            .await;
        if shown.body["data"]["enabled"] == false {
            assert_eq!(shown.body["data"]["disabled_reason"], "failing");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never disabled: {}",
            shown.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let notes = app.get("/api/notifications", &admin).await;
    let told = notes.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["data"]["webhook_id"] == hook)
        .cloned()
        .unwrap_or_else(|| panic!("admins not told: {}", notes.body));
    // The target by its origin only: its path and query may hold a secret of the receiver's.
    assert_eq!(told["data"]["origin"], receiver.url(""), "{told}");
    assert!(!told.to_string().contains("/in"), "{told}");

    // The failed delivery queued again by hand, same event id: once while it waits (the
    // endpoint is still off, so it waits); fixed and enabled again, it goes out.
    let failed_id = failed["id"].as_i64().unwrap();
    let redeliver_path = format!("/api/admin/webhooks/{hook}/deliveries/{failed_id}/redeliver");
    let redeliver = || app.post(&redeliver_path, Some(&admin), json!({}));
    let again = redeliver().await;
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(again.body["data"]["event_id"], failed["event_id"]);
    let twice = redeliver().await;
    assert_eq!(twice.status, 409, "{}", twice.body);
    receiver.answer(204);
    assert_eq!(
        patch(&app, &admin, hook, json!({"enabled": true}))
            .await
            .status,
        200
    );
    let id = failed["event_id"].as_str().unwrap().to_string();
    let sent_before = attempts.len();
    receiver
        .wait_for(Duration::from_secs(10), |got| {
            got.iter().filter(|g| g.id == id).count() > sent_before
        })
        .await;
    let queued = app
        .post(
            &format!("/api/admin/webhooks/{hook}/deliveries/999999/redeliver"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(queued.status, 404);
}

/// Polls the endpoint's log until its oldest delivery satisfies `done`.
async fn wait_for_delivery(
    app: &TestApp,
    admin: &str,
    hook: i64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = app
            .get(&format!("/api/admin/webhooks/{hook}/deliveries"), admin)
            .await;
        if let Some(first) = log.body["data"].as_array().and_then(|d| d.last()) {
            if done(first) {
                return first.clone();
            }
        }
        assert!(std::time::Instant::now() < deadline, "{}", log.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many attempts a delivery's log holds. `attempts` counts a claim as it starts, the log an
/// attempt once it has finished, so tests that read the log wait on this.
fn logged(delivery: &Value) -> usize {
    delivery["log"].as_array().map_or(0, Vec::len)
}

#[actix_web::test]
async fn a_rotated_secret_signs_beside_the_old_one_for_the_grace_period() {
    let app = spawn_app_tuned(fast).await;
    let receiver = Receiver::start();
    let (admin, customer) = admin_and_customer(&app).await;
    let (hook, old) = endpoint(&app, &admin, &receiver.url("/in"), &["order.created"]).await;
    let rotated = patch(&app, &admin, hook, json!({"rotate_secret": true})).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new = rotated.body["data"]["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(rotated.body["data"]["previous_secret_until"].is_string());
    // A second rotation during the grace would stop the first secret signing at once.
    let again = patch(
        &app,
        &admin,
        hook,
        json!({"rotate_secret": true, "enabled": false}),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.body);
    let unchanged = app
        .get(&format!("/api/admin/webhooks/{hook}"), &admin)
        .await;
    assert_eq!(
        unchanged.body["data"]["enabled"], true,
        "nothing of it applied"
    );
    app.create_order(&customer, "Soto").await;
    let got = receiver
        .wait_for(Duration::from_secs(10), |g| !g.is_empty())
        .await;
    assert!(signed_by(&got[0], &new) && signed_by(&got[0], &old));
    assert_eq!(got[0].signature.matches("v1=").count(), 2);

    // Grace over: only the new secret signs.
    app.sql(&format!(
        "UPDATE webhook_endpoints SET previous_secret_until = now() - interval '1 second' WHERE id = {hook}"
    ))
    .await;
    app.create_order(&customer, "Rawon").await;
    let got = receiver
        .wait_for(Duration::from_secs(10), |g| g.len() >= 2)
        .await;
    assert!(signed_by(&got[1], &new) && !signed_by(&got[1], &old));
}

#[actix_web::test]
async fn private_targets_are_refused_after_dns_too() {
    // Default settings: private targets refused. An endpoint whose name later resolves to
    // loopback (as after a DNS change) gets nothing sent.
    let app = spawn_app_tuned(|s| {
        fast(s);
        s.webhooks.allow_private_targets = false;
    })
    .await;
    let receiver = Receiver::start();
    let (admin, customer) = admin_and_customer(&app).await;
    let (hook, _) = endpoint(
        &app,
        &admin,
        "https://hooks.example.com/in",
        &["order.created"],
    )
    .await;
    app.sql(&format!(
        "UPDATE webhook_endpoints SET url = 'http://localhost:{}/in' WHERE id = {hook}",
        receiver.port
    ))
    .await;
    app.create_order(&customer, "Gado-gado").await;
    let tried = wait_for_delivery(&app, &admin, hook, |d| logged(d) >= 2).await;
    let error = tried["log"][0]["error"].as_str().unwrap();
    assert!(error.contains("no public address"), "{error}");
    assert!(receiver.got().is_empty());

    // Redirects: to another origin, or one that would drop the body (301, 302, 303), are not
    // followed; a 307 within the origin is, with the body.
    let app = spawn_app_tuned(fast).await;
    let (admin, customer) = admin_and_customer(&app).await;
    for (status, to, followed) in [
        (307, "http://127.0.0.2:9/in", false),
        (301, "/landing", false),
        (303, "/landing", false),
        (307, "/landing", true),
    ] {
        let target = Receiver::start();
        target.redirect(status, to);
        let (hook, _) = endpoint(&app, &admin, &target.url("/in"), &["order.created"]).await;
        app.create_order(&customer, "Pecel").await;
        let tried = wait_for_delivery(&app, &admin, hook, |d| logged(d) >= 1).await;
        let landed: Vec<Got> = target
            .got()
            .into_iter()
            .filter(|g| g.path == "/landing")
            .collect();
        if followed {
            assert_eq!(tried["log"][0]["status_code"], 200, "{tried}");
            assert_eq!(landed.len(), 1);
            assert_eq!(
                landed[0].json["type"], "order.created",
                "the body came along"
            );
        } else {
            assert_eq!(tried["log"][0]["status_code"], status, "{tried}");
            assert!(tried["log"][0]["error"]
                .as_str()
                .unwrap()
                .contains("redirect"));
            assert!(landed.is_empty(), "{status} to {to} was followed");
        }
        assert_eq!(
            app.delete(&format!("/api/admin/webhooks/{hook}"), &admin)
                .await
                .status,
            200
        );
    }
}

#[actix_web::test]
async fn two_servers_never_send_one_event_twice_or_an_endpoint_two_at_once() {
    let first = spawn_app_tuned(|s| {
        fast(s);
        s.webhooks.concurrency = 4;
    })
    .await;
    let mut settings = test_settings(&first.database_url);
    fast(&mut settings);
    settings.webhooks.concurrency = 4;
    let second = spawn_app_with(settings).await;
    let receiver = Receiver::start();
    receiver.delay(Duration::from_millis(15));
    let (_, admin) = first.staff("Ada", "admin").await;
    let (_, customer) = first.customer("Cora").await;
    let paths = ["/a", "/b", "/c"];
    for path in paths {
        endpoint(
            &first,
            &admin,
            &receiver.url(path),
            &["order.created", "order.status_changed"],
        )
        .await;
    }
    let mut orders = Vec::new();
    for i in 0..12 {
        let app = if i % 2 == 0 { &first } else { &second };
        let order = app.create_order(&customer, &format!("Order {i}")).await;
        assert_eq!(app.set_status(&admin, order, "confirmed").await.status, 200);
        orders.push(order);
    }
    let got = receiver
        .wait_for(Duration::from_secs(30), |got| got.len() >= 3 * 24)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = if receiver.got().len() > got.len() {
        receiver.got()
    } else {
        got
    };
    assert_eq!(got.len(), 72, "each event once per endpoint");
    assert_eq!(
        receiver.most_in_flight(),
        1,
        "an endpoint had two deliveries in flight"
    );
    for path in paths {
        let mine: Vec<&Got> = got.iter().filter(|g| g.path == path).collect();
        let ids: HashSet<&str> = mine.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids.len(), 24);
        // Per order, created comes before confirmed.
        for order in &orders {
            let kinds: Vec<&str> = mine
                .iter()
                .filter(|g| g.json["data"]["order_id"] == json!(order.to_string()))
                .map(|g| g.json["type"].as_str().unwrap())
                .collect();
            assert_eq!(kinds, ["order.created", "order.status_changed"]);
        }
    }
}

#[actix_web::test]
async fn a_server_killed_mid_delivery_leaves_it_to_be_sent_after_restart() {
    // The app the test talks to sends nothing itself; the real binary, on the same database,
    // is the sender, and is killed while a delivery is in flight.
    let app = spawn_app_tuned(|s| {
        fast(s);
        s.webhooks.enabled = false;
    })
    .await;
    let receiver = Receiver::start();
    receiver.delay(Duration::from_millis(1500));
    let (admin, customer) = admin_and_customer(&app).await;
    let (_, secret) = endpoint(
        &app,
        &admin,
        &receiver.url("/in"),
        &["order.created", "order.status_changed"],
    )
    .await;
    let order = app.create_order(&customer, "Ayam").await;
    for status in ["confirmed", "preparing"] {
        assert_eq!(app.set_status(&admin, order, status).await.status, 200);
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut sender = Command::new(env!("CARGO_BIN_EXE_order-tracker"))
        .env("DATABASE_URL", &app.database_url)
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("PORT", port.to_string())
        .env("ORDER_TRACKER__AUTH__TOTP_KEY", TEST_TOTP_KEY)
        .env("ORDER_TRACKER__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
        .env("ORDER_TRACKER__WEBHOOKS__POLL_MS", "50")
        .env("ORDER_TRACKER__WEBHOOKS__TIMEOUT_SECS", "1")
        .env("ORDER_TRACKER__LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the server binary");
    receiver
        .wait_for(Duration::from_secs(60), |g| !g.is_empty())
        .await;
    // SAFETY: kill takes plain integers and touches no memory of ours.
    unsafe { libc::kill(sender.id() as i32, libc::SIGKILL) };
    sender.wait().unwrap();
    receiver.delay(Duration::ZERO);
    let in_flight = receiver.got()[0].id.clone();

    // A new server on the same database: once the dead one's lease runs out (timeout 1 s:
    // 12 s), everything is sent, in order.
    let mut settings = test_settings(&app.database_url);
    fast(&mut settings);
    let _restarted = spawn_app_with(settings).await;
    let got = receiver
        .wait_for(Duration::from_secs(40), |g| {
            g.iter()
                .map(|g| g.id.as_str())
                .collect::<HashSet<_>>()
                .len()
                >= 3
        })
        .await;
    let mut firsts: Vec<&Got> = Vec::new();
    for g in &got {
        if !firsts.iter().any(|f| f.id == g.id) {
            firsts.push(g);
        }
    }
    let statuses: Vec<&str> = firsts
        .iter()
        .map(|g| g.json["data"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "confirmed", "preparing"]);
    assert!(got.iter().all(|g| signed_by(g, &secret)));
    // Only the delivery in flight at the kill may have arrived twice.
    for g in &got {
        let times = got.iter().filter(|o| o.id == g.id).count();
        assert!(
            times == 1 || g.id == in_flight,
            "{} arrived {times} times",
            g.id
        );
    }
}
