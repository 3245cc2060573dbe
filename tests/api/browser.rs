//! The pages in a real browser: `tests/browser/run.mjs` drives headless Chromium through
//! Playwright against a server started here, and fails on any broken journey, console error or
//! request to another host. Screenshots land in `target/screenshots/`.
//!
//! Needs Node.js and Debian's `chromium` (or `CHROMIUM=/path/to/chrome`). The driver's npm
//! packages are installed on first run (`npm ci` in `tests/browser`); a missing browser or Node
//! fails the test with what to install, never a silent skip.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::helpers::spawn_app_tuned;

/// The whole run: eleven journeys, with waits of up to ten seconds each when something is wrong.
const RUN_LIMIT: Duration = Duration::from_secs(480);

fn chromium() -> PathBuf {
    let candidates = [
        std::env::var("CHROMIUM").unwrap_or_default(),
        "/usr/bin/chromium".into(),
    ];
    candidates
        .iter()
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "the browser tests need headless Chromium: install Debian's `chromium` \
                 (apt-get install chromium) or set CHROMIUM to a Chrome binary"
            )
        })
}

/// `tests/browser/node_modules`, installed from the lock file when missing.
async fn driver(dir: &Path) {
    if dir.join("node_modules/playwright-core").exists() {
        return;
    }
    let installed = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .await
        .unwrap_or_else(|e| panic!("the browser tests need Node.js and npm ({e}): install nodejs"));
    assert!(
        installed.success(),
        "`npm ci` in {} failed: the browser tests need the npm registry once",
        dir.display()
    );
}

#[actix_web::test]
async fn the_pages_work_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let browser = chromium();
    let scripts = root.join("tests/browser");
    driver(&scripts).await;

    // Journey 8 delivers with the code the customer sees, and shows a wrong one refused.
    let app = spawn_app_tuned(|settings| settings.dispatch.require_delivery_code = true).await;
    let (admin_id, admin) = app.staff("Admin", "admin").await;
    let (driver_id, driver_token) = app.staff("Budi Santoso", "driver").await;
    let run = Command::new("node")
        .arg(scripts.join("run.mjs"))
        .current_dir(&scripts)
        .env("BASE_URL", &app.address)
        .env("ADMIN_TOKEN", admin)
        .env("ADMIN_ID", admin_id.to_string())
        .env("DRIVER_TOKEN", driver_token)
        .env("DRIVER_ID", driver_id.to_string())
        .env("CHROMIUM", browser)
        .env("SCREENSHOTS", root.join("target/screenshots"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RUN_LIMIT, run)
        .await
        .expect("the journeys finish within the limit")
        .expect("node runs: the browser tests need Node.js (install nodejs)");
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "a browser journey failed:\n{report}"
    );
}
