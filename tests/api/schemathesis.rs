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

use tokio::process::Command;

use crate::helpers::spawn_app_tuned;

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
const EXCLUDED: [&str; 3] = ["/logout-all", "/totp/verify/{id}", "/admin/users/{id}/role"];

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

async fn run(st: &Path, schema: &str, token: &str) -> (bool, String) {
    let mut command = Command::new(st);
    command
        .args(["--no-color", "run", schema, "--checks", CHECKS])
        .args(["--max-examples", "25", "--workers", "2", "--seed", "1"])
        .args(["--request-timeout", "10", "--generation-database", "none"])
        .args(["-H", &format!("Authorization: Bearer {token}")]);
    for path in EXCLUDED {
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
    let app = spawn_app_tuned(|settings| settings.rate_limit.enabled = false).await;
    let schema = format!("{}/api/openapi.json", app.address);
    let (_, customer) = app.customer("Schemathesis Customer").await;
    let (_, admin) = app.staff("Schemathesis Admin", "admin").await;

    let both = async {
        let as_customer = run(&st, &schema, &customer).await;
        let as_admin = run(&st, &schema, &admin).await;
        [("customer", as_customer), ("admin", as_admin)]
    };
    let runs = tokio::time::timeout(RUN_LIMIT, both)
        .await
        .expect("both schemathesis runs finish within the limit");
    for (who, (passed, report)) in runs {
        println!("schemathesis as {who}:\n{report}");
        assert!(passed, "schemathesis as {who} found failures:\n{report}");
    }
}
