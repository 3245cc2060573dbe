//! The embedded default, through the real binary: no DATABASE_URL starts a private PostgreSQL
//! and serves; SIGTERM stops both; a restart keeps the data, even after a crash that left a
//! stale `postmaster.pid` behind.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real binary in `workdir` on its embedded default, as a newcomer would run it.
fn binary(workdir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_order-tracker"));
    cmd.current_dir(workdir)
        .env_remove("DATABASE_URL")
        .env_remove("JWT_SECRET")
        .env("ORDER_TRACKER__AUTH__BCRYPT_COST", "10")
        .env("ORDER_TRACKER__LOG__LEVEL", "warn");
    cmd
}

fn start(workdir: &Path, port: u16) -> Child {
    binary(workdir)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the server binary")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Ok(res) = client.get(format!("{base}/readyz")).send().await {
            if res.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("server did not become ready");
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill takes plain integers and touches no memory of ours.
    unsafe { libc::kill(pid, sig) };
}

async fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not exit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = client.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Registers `username`, logs in and places an order; answers the token and the order id.
async fn customer_with_order(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    items: &str,
) -> (String, i64) {
    let credentials = json!({"username": username, "password": "password123"});
    let (status, _) = post(
        client,
        format!("{base}/api/register"),
        None,
        credentials.clone(),
    )
    .await;
    assert_eq!(status, 201);
    let (_, login) = post(client, format!("{base}/api/login"), None, credentials).await;
    let token = login["data"]["token"].as_str().unwrap().to_string();
    let (status, order) = post(
        client,
        format!("{base}/api/orders"),
        Some(&token),
        json!({"items": items}),
    )
    .await;
    assert_eq!(status, 201);
    (token, order["data"]["id"].as_i64().unwrap())
}

#[actix_web::test]
async fn embedded_default_serves_stops_and_keeps_data() {
    let workdir = std::env::temp_dir().join(format!(
        "order-tracker-embedded-{:x}",
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&workdir).unwrap();
    let pgdata = workdir.join("data/postgres");
    let client = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    let mut server = start(&workdir, port);
    wait_ready(&client, &base).await;
    assert!(
        pgdata.join("PG_VERSION").exists(),
        "cluster lives in data/postgres"
    );
    let (token, _) = customer_with_order(&client, &base, "keeper", "Kept").await;

    signal(server.id() as i32, libc::SIGTERM);
    assert!(wait_exit(&mut server).await.success(), "graceful exit");
    assert!(
        !pgdata.join("postmaster.pid").exists(),
        "the private PostgreSQL stopped"
    );

    // Second start: same data, same generated secret, so the old token still works.
    let mut server = start(&workdir, port);
    wait_ready(&client, &base).await;
    let orders: Value = client
        .get(format!("{base}/api/orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(orders["data"][0]["items"], "Kept");

    // A crash of both processes leaves a stale postmaster.pid; the next start must not mind.
    let postmaster: i32 = std::fs::read_to_string(pgdata.join("postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    signal(server.id() as i32, libc::SIGKILL);
    wait_exit(&mut server).await;
    signal(postmaster, libc::SIGKILL);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(pgdata.join("postmaster.pid").exists());

    let mut server = start(&workdir, port);
    wait_ready(&client, &base).await;
    let (status, _) = post(
        &client,
        format!("{base}/api/login"),
        None,
        json!({"username": "keeper", "password": "password123"}),
    )
    .await;
    assert_eq!(status, 200);
    signal(server.id() as i32, libc::SIGTERM);
    assert!(wait_exit(&mut server).await.success());
    let _ = std::fs::remove_dir_all(&workdir);
}

/// Two real server processes on one database (the second finds the first's private PostgreSQL
/// running and shares it): a change made through one reaches a subscriber of the other.
#[actix_web::test]
async fn two_server_processes_deliver_each_others_events() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let workdir =
        std::env::temp_dir().join(format!("order-tracker-pair-{:x}", rand::random::<u32>()));
    std::fs::create_dir_all(&workdir).unwrap();
    let created = binary(&workdir)
        .args([
            "user",
            "create",
            "--email",
            "boss@example.com",
            "--password",
            "password123",
            "--role",
            "admin",
        ])
        .status()
        .unwrap();
    assert!(created.success(), "`user create` makes the first admin");

    let client = reqwest::Client::new();
    let (port_a, port_b) = (free_port(), free_port());
    let (a, b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let mut first = start(&workdir, port_a);
    wait_ready(&client, &a).await;
    let mut second = start(&workdir, port_b);
    wait_ready(&client, &b).await;

    let (token, id) = customer_with_order(&client, &a, "walker", "Kopi").await;

    let mut request = format!("ws://127.0.0.1:{port_b}/ws/orders/{id}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut ws = crate::helpers::ws_connect(request).await.unwrap();
    assert_eq!(
        crate::helpers::next_json(&mut ws).await["type"],
        "order.snapshot"
    );

    let (_, boss) = post(
        &client,
        format!("{a}/api/login"),
        None,
        json!({"email": "boss@example.com", "password": "password123"}),
    )
    .await;
    let boss = boss["data"]["token"].as_str().unwrap().to_string();
    let res = client
        .put(format!("{a}/api/orders/{id}/status"))
        .bearer_auth(&boss)
        .json(&json!({"status": "Dikirim"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let event = crate::helpers::next_json(&mut ws).await;
    assert_eq!(
        (event["status"].as_str(), event["seq"].as_i64()),
        (Some("shipped"), Some(2))
    );
    drop(ws);

    // The process that started the database stops it, so it goes last.
    signal(second.id() as i32, libc::SIGTERM);
    assert!(wait_exit(&mut second).await.success());
    signal(first.id() as i32, libc::SIGTERM);
    assert!(wait_exit(&mut first).await.success());
    let _ = std::fs::remove_dir_all(&workdir);
}

#[actix_web::test]
async fn a_leftover_cluster_is_adopted_and_stopped() {
    let workdir =
        std::env::temp_dir().join(format!("order-tracker-orphan-{:x}", rand::random::<u32>()));
    std::fs::create_dir_all(&workdir).unwrap();
    let client = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut crashed = start(&workdir, port);
    wait_ready(&client, &base).await;
    signal(crashed.id() as i32, libc::SIGKILL);
    wait_exit(&mut crashed).await;
    let pid_file = workdir.join("data/postgres/postmaster.pid");
    assert!(pid_file.exists(), "the crash left the cluster running");

    let mut next = start(&workdir, port);
    wait_ready(&client, &base).await;
    signal(next.id() as i32, libc::SIGTERM);
    assert!(wait_exit(&mut next).await.success());
    assert!(
        !pid_file.exists(),
        "the adopted cluster was stopped at exit"
    );
    let _ = std::fs::remove_dir_all(&workdir);
}

#[actix_web::test]
async fn a_taken_port_is_reported_once_with_what_to_do() {
    let workdir =
        std::env::temp_dir().join(format!("order-tracker-port-{:x}", rand::random::<u32>()));
    std::fs::create_dir_all(&workdir).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = binary(&workdir)
        .env("PORT", port.to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = format!("cannot listen on 127.0.0.1:{port}");
    assert_eq!(stderr.matches(&said).count(), 1, "{stderr}");
    assert!(stderr.contains("PORT="), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !workdir.join("data/postgres").exists(),
        "nothing was started before the port was had"
    );
    let _ = std::fs::remove_dir_all(&workdir);
}

/// Runs `order-tracker <args>` in `dir` with `stdin` piped in; answers (success, stdout, stderr).
fn command_line(dir: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;

    let mut child = binary(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[actix_web::test]
async fn user_commands_find_the_servers_database_from_any_folder() {
    let root = std::env::temp_dir().join(format!("order-tracker-cli-{:x}", rand::random::<u32>()));
    let (home, elsewhere) = (root.join("server"), root.join("elsewhere"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(home.join("config.toml"), "").unwrap();
    let config = home.join("config.toml").display().to_string();

    // The password comes from standard input, never from the command line.
    let (ok, out, err) = command_line(
        &elsewhere,
        &[
            "user",
            "create",
            "--config",
            &config,
            "--email",
            "boss@example.com",
            "--role",
            "admin",
        ],
        "a long password\n",
    );
    assert!(ok, "{err}");
    let data = home.join("data/postgres").display().to_string();
    assert!(out.contains(&data), "says which database: {out}");
    assert!(
        !elsewhere.join("data").exists(),
        "no second database elsewhere"
    );

    let (ok, out, err) = command_line(&home, &["user", "list"], "");
    assert!(ok, "{err}");
    assert!(
        out.contains("boss@example.com") && out.contains("admin"),
        "{out}"
    );
    let (ok, out, err) = command_line(&home, &["user", "set-role", "1", "driver"], "");
    assert!(ok && out.contains("driver"), "{out}{err}");
    let (ok, _, err) = command_line(&home, &["user", "reset-password", "1"], "short\n");
    assert!(
        !ok && err.contains("password"),
        "a weak password is refused: {err}"
    );
    let (ok, out, err) = command_line(
        &home,
        &["user", "reset-password", "1"],
        "another long password\n",
    );
    assert!(ok && out.contains("reset"), "{out}{err}");
    let _ = std::fs::remove_dir_all(&root);
}

#[actix_web::test]
async fn logs_off_a_terminal_are_plain_and_quiet() {
    let workdir =
        std::env::temp_dir().join(format!("order-tracker-logs-{:x}", rand::random::<u32>()));
    std::fs::create_dir_all(&workdir).unwrap();
    // The second run finds the migration table there: PostgreSQL would say so in a NOTICE.
    for _ in 0..2 {
        let out = binary(&workdir)
            .env("ORDER_TRACKER__LOG__LEVEL", "info")
            .arg("migrate")
            .output()
            .unwrap();
        assert!(out.status.success());
        let all = [out.stdout, out.stderr].concat();
        let text = String::from_utf8_lossy(&all);
        assert!(
            text.contains("migrations applied to the embedded PostgreSQL at"),
            "{text}"
        );
        assert!(
            !text.contains('\u{1b}'),
            "no colour codes in a pipe: {text}"
        );
        assert!(
            !text.contains("NOTICE") && !text.contains("already exists"),
            "{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&workdir);
}
