//! Two-factor login (seed 004): setup, verify, login with and without a code, replay, drift,
//! throttling across sessions, and turning it off.

use serde_json::{json, Value};
use totp_rs::{Builder, Secret};

use crate::helpers::*;

fn code(secret_base32: &str, offset_secs: i64) -> String {
    let secret = Secret::try_from_base32(secret_base32).unwrap();
    let totp = Builder::new().with_secret(secret).build().unwrap();
    let now = chrono::Utc::now().timestamp() + offset_secs;
    totp.generate(now as u64).to_string()
}

async fn login(app: &TestApp, email: &str, totp: Option<String>) -> (u16, Value) {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    let res = app.post("/api/login", None, body).await;
    (res.status, res.body)
}

/// Registers a user, sets up TOTP and verifies it; answers (email, user id, token, secret).
async fn enrolled(app: &TestApp) -> (String, i64, String, String) {
    let email = format!("two-{:x}@example.com", rand::random::<u32>());
    let reg = app
        .post(
            "/api/register",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    let id = reg.body["data"]["id"].as_i64().unwrap();
    let token = app
        .login(json!({"email": email, "password": PASSWORD}))
        .await;
    let setup = app
        .post(&format!("/api/totp/setup/{id}"), Some(&token), json!({}))
        .await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    let secret = setup.body["data"]["secret"].as_str().unwrap().to_string();
    let uri = setup.body["data"]["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/OrderTracker:two-"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")) && uri.contains("issuer=OrderTracker"));
    assert!(setup.body["data"]["qr_png"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,iVBOR"));
    let verify_path = format!("/api/totp/verify/{id}");
    // A token alone cannot turn two-factor on: the password is asked for, and checked.
    let no_password = app
        .post(
            &verify_path,
            Some(&token),
            json!({"code": code(&secret, 0)}),
        )
        .await;
    assert_eq!(no_password.status, 400, "{}", no_password.body);
    assert!(no_password.body["errors"]["password"].is_array());
    let wrong_password = app
        .post(
            &verify_path,
            Some(&token),
            json!({"code": code(&secret, 0), "password": "not-the-password"}),
        )
        .await;
    assert_eq!(wrong_password.status, 422);
    let wrong = app
        .post(
            &verify_path,
            Some(&token),
            json!({"code": "000000", "password": PASSWORD}),
        )
        .await;
    assert_eq!(wrong.status, 422, "a wrong code is not a signed-out caller");
    let verify = app
        .post(
            &verify_path,
            Some(&token),
            json!({"code": code(&secret, 0), "password": PASSWORD}),
        )
        .await;
    assert_eq!(verify.status, 200, "{}", verify.body);
    assert_eq!(verify.body["data"]["enabled"], true);
    // Turning two-factor on ended every earlier session, the caller's included: it goes on
    // with the token the answer hands out.
    assert_eq!(app.get("/api/me", &token).await.status, 401);
    let token = verify.body["data"]["token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/me", &token).await.status, 200);
    (email, id, token, secret)
}

#[actix_web::test]
async fn totp_login_once_per_code_and_one_step_of_drift() {
    let app = spawn_app().await;
    let (email, _, _, secret) = enrolled(&app).await;

    let (status, body) = login(&app, &email, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("totp_required"))
    );
    // The code verified at setup was for this step: it is spent.
    assert_eq!(login(&app, &email, Some(code(&secret, 0))).await.0, 401);
    // The next step's code is within one step of drift.
    let next = code(&secret, 30);
    let (status, body) = login(&app, &email, Some(next.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["user"]["totp_enabled"], true);
    assert_eq!(
        login(&app, &email, Some(next)).await.0,
        401,
        "a code is accepted once"
    );
    assert_eq!(
        login(&app, &email, Some(code(&secret, 90))).await.0,
        401,
        "three steps off"
    );

    // Another server process on the same database refuses the spent code too.
    let other = spawn_app_with(test_settings(&app.database_url)).await;
    assert_eq!(login(&other, &email, Some(code(&secret, 30))).await.0, 401);
}

#[actix_web::test]
async fn wrong_codes_are_throttled_and_totp_can_be_disabled() {
    let app = spawn_app().await;
    let (email, id, token, _) = enrolled(&app).await;
    // Verifying cleared the failure made during enrollment; five more use up the free ones.
    for _ in 0..5 {
        assert_eq!(login(&app, &email, Some("123456".into())).await.0, 401);
    }
    let res = app
        .post(
            "/api/login",
            None,
            json!({"email": email, "password": PASSWORD, "totp": "654321"}),
        )
        .await;
    assert_eq!(res.status, 429);
    assert!(res.headers.get("retry-after").is_some());

    let (_, other) = app.customer("Other").await;
    let forbidden = app
        .post(
            &format!("/api/totp/disable/{id}"),
            Some(&other),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(forbidden.status, 403);
    let off = app
        .post(
            &format!("/api/totp/disable/{id}"),
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(login(&app, &email, None).await.0, 200);
}

#[actix_web::test]
async fn a_bearer_token_alone_cannot_switch_off_or_take_over_two_factor() {
    let app = spawn_app().await;
    let (email, id, token, secret) = enrolled(&app).await;
    let setup = format!("/api/totp/setup/{id}");

    // A stolen token without a code: refused, and login still asks for the owner's code.
    let refused = app.post(&setup, Some(&token), json!({})).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body["errors"]["code"].is_array());
    let wrong = app
        .post(&setup, Some(&token), json!({"code": "000000"}))
        .await;
    assert_eq!(wrong.status, 422);
    let (status, body) = login(&app, &email, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("totp_required"))
    );

    // With the owner's current code a new secret is set up, but it is only pending: two-factor
    // login stays on (the password alone is still not enough).
    let replaced = app
        .post(&setup, Some(&token), json!({"code": code(&secret, 30)}))
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.body["data"]["enabled"], true);
    let (status, body) = login(&app, &email, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("totp_required"))
    );
    assert_eq!(app.get("/api/me", &token).await.status, 200);
}

#[actix_web::test]
async fn a_pending_setup_does_not_change_how_login_works() {
    let app = spawn_app().await;
    let (id, token) = app.customer("Plain").await;
    let email = app.get("/api/me", &token).await.body["data"]["email"]
        .as_str()
        .unwrap()
        .to_string();
    let setup = app
        .post(&format!("/api/totp/setup/{id}"), Some(&token), json!({}))
        .await;
    assert_eq!(setup.status, 200);
    assert_eq!(setup.body["data"]["enabled"], false);
    // Nobody verified it: the password alone still logs in, no code is asked for.
    let (status, body) = login(&app, &email, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["user"]["totp_enabled"], false);
    assert_eq!(app.get("/api/me", &token).await.status, 200);
}

#[actix_web::test]
async fn password_guesses_on_the_two_factor_routes_are_throttled_like_logins() {
    let app = spawn_app_tuned(|settings| {
        settings.auth.login_free_failures = 3;
    })
    .await;
    let (_, id, token, _) = enrolled(&app).await;
    let disable = format!("/api/totp/disable/{id}");
    let mut statuses = Vec::new();
    for i in 0..5 {
        let guess = json!({"password": format!("guess-number-{i}")});
        statuses.push(app.post(&disable, Some(&token), guess).await.status);
    }
    assert_eq!(statuses, [422, 422, 422, 429, 429]);
    // The right password waits too while the wait lasts: guessing gains nothing.
    let right = app
        .post(&disable, Some(&token), json!({"password": PASSWORD}))
        .await;
    assert_eq!(right.status, 429);
}
