//! Schemathesis against the live server, with the server's own OpenAPI document: it generates
//! requests for every operation (valid and invalid ones) and checks that no answer is a 500,
//! and that every status, content type, header and body is one the document describes.
//! Once as a customer and once as an admin. README "OpenAPI" says what is left out and why.
//!
//! Needs Python 3 with `venv` and `pip` (Debian: `apt-get install python3-venv python3-pip`).
//! Schemathesis itself is installed from PyPI into `target/schemathesis-venv` on first run, at
//! the pinned version, and reused after that.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::process::Command;

use crate::helpers::{spawn_app_tuned, TestApp};

const VERSION: &str = "4.32.5";

/// Both runs together; each takes well under a minute on two cores.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// The checks README's "OpenAPI" section names, and no others: schemathesis' remaining
/// defaults judge the API's leniency toward seeds' clients, not its conformance.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

/// Operations a run leaves out: each would end the run's own session (or, for the role change,
/// demote the run's own admin), so every request after it would only test a 401. The
/// end-to-end tests cover them (`revocation.rs`, `totp.rs`, `access.rs`).
const SESSION_ENDING: [&str; 3] = ["/logout-all", "/totp/verify/{id}", "/admin/users/{id}/role"];

/// Server-Sent Events streams: an answer that never ends would only run into the request
/// timeout. `sse.rs` reads them with a real client.
const STREAMS: [&str; 3] = [
    "/orders/{id}/events",
    "/track/{token}/events",
    "/notifications/events",
];

/// `target/schemathesis-venv/bin/st`, installed at `VERSION` when missing or different.
async fn schemathesis(root: &Path) -> PathBuf {
    let venv = root.join("target/schemathesis-venv");
    let st = venv.join("bin/st");
    let installed = Command::new(&st).arg("--version").output().await;
    if installed.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(VERSION)) {
        return st;
    }
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .await
        .unwrap_or_else(|e| {
            panic!("the schemathesis test needs Python 3 ({e}): apt-get install python3-venv")
        });
    assert!(
        created.success(),
        "`python3 -m venv` failed: apt-get install python3-venv python3-pip"
    );
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("schemathesis=={VERSION}"))
        .status()
        .await
        .expect("the venv has pip: apt-get install python3-pip");
    assert!(
        pip.success(),
        "installing schemathesis from PyPI failed: the test needs PyPI once"
    );
    st
}

/// One of each resource (and an order on its way, with a position), so generated requests reach
/// past "not found": a run draws path and body ids from these half of the time, and generates
/// its own the other half. Answers the schemathesis configuration that says so.
async fn fixtures(app: &TestApp, admin: &str, customer: (i64, &str)) -> String {
    let (customer_id, customer) = customer;
    let created = |answer: crate::helpers::Answer| {
        assert!(answer.status < 300, "fixture refused: {}", answer.body);
        answer.body["data"].clone()
    };
    let order = app.create_order(customer, "Nasi Goreng, Es Teh").await;
    let link = created(
        app.post(
            &format!("/api/orders/{order}/share-links"),
            Some(customer),
            json!({}),
        )
        .await,
    );
    // On its way, with a driver's position, so order views carry a `location`.
    let shipped = app.create_order(customer, "Sate Ayam").await;
    created(
        app.put(
            &format!("/api/orders/{shipped}/status"),
            admin,
            json!({"status": "shipped"}),
        )
        .await,
    );
    created(
        app.post(
            &format!("/api/orders/{shipped}/location"),
            Some(admin),
            json!({"lat": -6.2088, "lng": 106.8456, "accuracy": 8}),
        )
        .await,
    );
    let warehouse = created(
        app.post(
            "/api/warehouses",
            Some(admin),
            json!({"name": "Gudang Utama"}),
        )
        .await,
    );
    let product = created(
        app.post(
            "/api/products",
            Some(admin),
            json!({"name": "Laptop", "price": 15000000}),
        )
        .await,
    );
    let stock = created(
        app.post(
            "/api/warehouseStocks",
            Some(admin),
            json!({"warehouse_id": warehouse["id"], "product_id": product["id"], "quantity": 1000}),
        )
        .await,
    );
    let item = created(
        app.post(
            "/api/cart/item",
            Some(customer),
            json!({"product_id": product["id"], "quantity": 1}),
        )
        .await,
    );
    let cart = created(app.get("/api/cart", customer).await);
    let webhook = created(
        app.post(
            "/api/admin/webhooks",
            Some(admin),
            json!({"url": "https://hooks.example.com/in", "events": ["notification.created"]}),
        )
        .await,
    );
    let notification = created(app.notify(admin, customer_id, "Pesanan Anda dikirim").await);
    let ids = [
        json!(order),
        json!(shipped),
        json!(customer_id),
        link["id"].clone(),
        warehouse["id"].clone(),
        product["id"].clone(),
        stock["id"].clone(),
        item["cart_item_id"].clone(),
        cart[0]["cart"]["id"].clone(),
        notification["id"].clone(),
        webhook["id"].clone(),
        // The notification's delivery to the webhook (the first there is).
        json!(1),
    ];
    let ids: Vec<String> = ids
        .iter()
        .map(|id| id.as_i64().unwrap().to_string())
        .collect();
    let ids = ids.join(", ");
    let token = link["token"].as_str().unwrap();
    let product_name = product["name"].as_str().unwrap();
    let mut config = format!(
        "[dictionaries.ids]\nvalues = [{ids}]\n\
         [dictionaries.tokens]\nvalues = [\"{token}\"]\n\
         [dictionaries.products]\nvalues = [\"{}\", \"{product_name}\"]\n\
         [dictionaries.statuses]\nvalues = [\"pending\", \"shipped\", \"dikirim\", \"cancelled\"]\n\
         [parameters]\n",
        product["id"]
    );
    for (parameter, dictionary) in [
        ("path.id", "ids"),
        ("path.link_id", "ids"),
        ("path.delivery_id", "ids"),
        ("path.token", "tokens"),
        ("path.key", "products"),
        ("path.status", "statuses"),
        ("body.product_id", "ids"),
        ("body.warehouse_id", "ids"),
        ("body.cart_id", "ids"),
        ("body.user_id", "ids"),
        ("body.status", "statuses"),
    ] {
        config.push_str(&format!(
            "\"{parameter}\" = {{ dictionary = \"{dictionary}\", probability = 0.5 }}\n"
        ));
    }
    config
}

async fn run(st: &Path, config: &Path, schema: &str, token: &str) -> (bool, String) {
    let mut command = Command::new(st);
    command
        .arg("--config-file")
        .arg(config)
        .args(["--no-color", "run", schema, "--checks", CHECKS])
        // One worker: with two, Hypothesis parses sources on both threads at once, which
        // Python 3.11 sometimes fails with "AST constructor recursion depth mismatch" (a runtime
        // error of the tool, reported against a random operation, not a finding).
        .args(["--max-examples", "25", "--workers", "1", "--seed", "1"])
        .args(["--request-timeout", "10", "--generation-database", "none"])
        .args(["-H", &format!("Authorization: Bearer {token}")]);
    for path in SESSION_ENDING.iter().chain(&STREAMS) {
        command.args(["--exclude-path", path]);
    }
    let output = command
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("schemathesis runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), report)
}

#[actix_web::test]
async fn schemathesis_finds_nothing_as_customer_or_admin() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let st = schemathesis(root).await;
    // Its requests come fast and from one address: the limits would answer most of them 429.
    // Webhooks are not sent: endpoints it registers at generated URLs must not make the
    // server look up or call other hosts (`webhooks.rs` tests the sending).
    let app = spawn_app_tuned(|settings| {
        settings.rate_limit.enabled = false;
        settings.webhooks.enabled = false;
    })
    .await;
    let schema = format!("{}/api/openapi.json", app.address);
    let (customer_id, customer) = app.customer("Schemathesis Customer").await;
    let (_, admin) = app.staff("Schemathesis Admin", "admin").await;
    let config = std::env::temp_dir().join(format!("schemathesis-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        fixtures(&app, &admin, (customer_id, &customer)).await,
    )
    .unwrap();

    let both = async {
        let as_customer = run(&st, &config, &schema, &customer).await;
        let as_admin = run(&st, &config, &schema, &admin).await;
        [("customer", as_customer), ("admin", as_admin)]
    };
    let runs = tokio::time::timeout(RUN_LIMIT, both)
        .await
        .expect("both schemathesis runs finish within the limit");
    let _ = std::fs::remove_file(&config);
    for (who, (passed, report)) in runs {
        println!("schemathesis as {who}:\n{report}");
        assert!(passed, "schemathesis as {who} found failures:\n{report}");
    }
}
