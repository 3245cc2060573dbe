//! The pages as HTTP sees them: each answers with its strict Content-Security-Policy, a
//! malformed tracking link gets a friendly HTML 404 (the API's own 404 stays JSON), files are
//! served only from the embedded set, and the static files do not eat the rate limit.

use reqwest::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
};
use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_tuned, TestApp};

async fn fetch(app: &TestApp, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let answer = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    let (status, headers) = (answer.status(), answer.headers().clone());
    (status, headers, answer.text().await.unwrap())
}

#[actix_web::test]
async fn pages_carry_a_strict_policy_and_load_only_their_own_files() {
    let app = spawn_app().await;
    let token = "ab".repeat(32);
    let track = format!("/track/{token}");
    for path in ["/", &track, "/staff", "/driver", "/analytics"] {
        let (status, headers, body) = fetch(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        for rule in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(rule), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(headers[REFERRER_POLICY], "no-referrer");
        assert!(!body.contains("<script>"), "{path} has an inline script");
        // Every file the page names is ours and is served.
        for quoted in body.split('"').skip(1).step_by(2) {
            if quoted.starts_with("http") || quoted.starts_with("//") {
                panic!("{path} names another host: {quoted}");
            }
            if quoted.starts_with("/assets/") {
                assert_eq!(fetch(&app, quoted).await.0, 200, "{quoted}");
            }
        }
    }
    // The vendored libraries are served with their licences.
    for file in [
        "/assets/vendor/leaflet/leaflet.js",
        "/assets/vendor/leaflet/LICENSE",
        "/assets/vendor/chart.js/chart.umd.min.js",
        "/assets/vendor/chart.js/LICENSE.md",
    ] {
        assert_eq!(fetch(&app, file).await.0, 200, "{file}");
    }
    let (_, headers, _) = fetch(&app, "/assets/live.js").await;
    assert!(headers[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));

    // A browser revalidating what it holds gets a bodiless 304; a stale copy, the file.
    let etag = headers[ETAG].clone();
    let again = |tag: reqwest::header::HeaderValue| {
        app.client
            .get(format!("{}/assets/live.js", app.address))
            .header(IF_NONE_MATCH, tag)
            .send()
    };
    let unchanged = again(etag).await.unwrap();
    assert_eq!(unchanged.status(), 304);
    assert!(unchanged.bytes().await.unwrap().is_empty());
    let stale = again("\"0000\"".parse().unwrap()).await.unwrap();
    assert_eq!(stale.status(), 200);
}

#[actix_web::test]
async fn a_malformed_link_gets_a_friendly_page_and_the_api_stays_json() {
    let app = spawn_app().await;
    for path in [
        "/track/not-a-token".to_string(),
        format!("/track/{}", "A".repeat(64)),
        format!("/track/{}", "a".repeat(5000)),
    ] {
        let (status, headers, body) = fetch(&app, &path).await;
        assert_eq!(status, 404, "{path}");
        assert!(headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(body.contains("Page not found"), "{path}: {body}");
        assert!(headers.contains_key(CONTENT_SECURITY_POLICY));
    }
    let api = app
        .request(reqwest::Method::GET, "/api/track/not-a-token", None, None)
        .await;
    assert_eq!(api.status, 404);
    assert_eq!(api.body["success"], false);
}

#[actix_web::test]
async fn nothing_outside_the_embedded_files_is_served() {
    let app = spawn_app().await;
    for path in [
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/assets/..%2f..%2fCargo.toml",
        "/assets/%2e%2e%2f%2e%2e%2fconfig.toml",
        "/assets/nope.js",
        "/assets/app.js%00.png",
        "/app.html",
        "/track.html",
        "/staff.html",
        "/assets/vendor/../../config.toml",
    ] {
        let (status, _, body) = fetch(&app, path).await;
        assert!(
            status == 404 || status == 400 || status == 422,
            "{path}: {status}"
        );
        assert!(
            !body.contains("[package]") && !body.contains("jwt_secret"),
            "{path}"
        );
    }
}

#[actix_web::test]
async fn static_files_do_not_spend_the_rate_limit_but_pages_do() {
    let app = spawn_app_tuned(|s| {
        s.rate_limit.enabled = true;
        s.rate_limit.member_per_minute = 5;
    })
    .await;
    for _ in 0..20 {
        assert_eq!(fetch(&app, "/assets/common.css").await.0, 200);
    }
    let statuses: Vec<u16> = {
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(fetch(&app, "/").await.0.as_u16());
        }
        seen
    };
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
}

#[actix_web::test]
async fn a_tile_server_is_the_one_origin_the_policy_adds_for_images() {
    let plain = spawn_app().await;
    let (_, headers, _) = fetch(&plain, "/staff").await;
    let without = headers[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    let tiled = spawn_app_tuned(|s| {
        s.map.tile_url = "https://tiles.example.com/{z}/{x}/{y}.png".into();
    })
    .await;
    let (_, headers, _) = fetch(&tiled, "/track/{}".replace("{}", &"ab".repeat(32)).as_str()).await;
    let with = headers[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        with.contains("img-src 'self' data: https://tiles.example.com;"),
        "{with}"
    );
    assert_eq!(with.replace(" https://tiles.example.com", ""), without);
    // The pages learn the template from the API, without a login.
    let map = tiled
        .request(reqwest::Method::GET, "/api/map", None, None)
        .await;
    assert_eq!(map.status, 200);
    assert_eq!(
        map.body["data"]["tile_url"],
        "https://tiles.example.com/{z}/{x}/{y}.png"
    );
}
