//! Checkout throughput: C concurrent clients buying one unit each of one hot product in one
//! warehouse, through the batching warehouse actor and, side by side in the same run, through
//! the same SQL with each request in its own transaction (`commerce.batch_checkouts = false`).
//!
//! `cargo bench --bench checkout` (add `-- 10` for 10 seconds per cell instead of 5). The servers
//! run in this process on the embedded PostgreSQL, each on a fresh database.

#[path = "../tests/api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hdrhistogram::Histogram;
use serde_json::json;

use helpers::{fresh_database, spawn_app_with, test_settings, TestApp};

const CONCURRENCY: [usize; 3] = [1, 16, 64];
const STOCK: i64 = 10_000_000;

struct Cell {
    mode: &'static str,
    clients: usize,
    orders: u64,
    refused: u64,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    oversold: bool,
}

async fn setup(app: &TestApp, clients: usize) -> (i64, i64, String, Vec<String>) {
    let (_, admin) = app.staff("Admin", "admin").await;
    let product = app
        .post(
            "/api/products",
            Some(&admin),
            json!({"name": "Hot item", "price": 10000}),
        )
        .await;
    let product = product.body["data"]["id"].as_i64().unwrap();
    let warehouse = app
        .post(
            "/api/warehouses",
            Some(&admin),
            json!({"name": "Hot warehouse"}),
        )
        .await;
    let warehouse = warehouse.body["data"]["id"].as_i64().unwrap();
    let stock = json!({"warehouse_id": warehouse, "product_id": product, "quantity": STOCK});
    assert_eq!(
        app.post("/api/warehouseStocks", Some(&admin), stock)
            .await
            .status,
        201
    );
    let buyers =
        join_all((0..clients).map(|i| async move { app.customer(&format!("b{i}")).await.1 })).await;
    (product, warehouse, admin, buyers)
}

async fn run_cell(mode: &'static str, batched: bool, clients: usize, seconds: u64) -> Cell {
    let mut settings = test_settings(&fresh_database().await);
    settings.commerce.batch_checkouts = batched;
    settings.database.pool_size = 16;
    settings.rate_limit.enabled = false;
    let app = spawn_app_with(settings).await;
    let (product, warehouse, admin, buyers) = setup(&app, clients).await;
    let body =
        json!({"items": [{"product_id": product, "quantity": 1}], "warehouse_id": warehouse});
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers = buyers.iter().map(|token| {
        let (app, body) = (&app, body.clone());
        async move {
            let mut latencies = Histogram::<u64>::new(3).unwrap();
            let (mut ok, mut refused) = (0u64, 0u64);
            while Instant::now() < deadline {
                let t = Instant::now();
                let status = app
                    .post("/api/orders", Some(token), body.clone())
                    .await
                    .status;
                latencies.record(t.elapsed().as_micros() as u64).unwrap();
                match status {
                    201 => ok += 1,
                    _ => refused += 1,
                }
            }
            (latencies, ok, refused)
        }
    });
    let results = join_all(workers).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut all = Histogram::<u64>::new(3).unwrap();
    let (mut orders, mut refused) = (0, 0);
    for (h, ok, no) in results {
        all.add(h).unwrap();
        orders += ok;
        refused += no;
    }
    let left = app
        .get(&format!("/api/warehouseStocks/{warehouse}"), &admin)
        .await
        .body["data"]["stocks"][0]["quantity"]
        .as_i64()
        .unwrap();
    app.stopper.as_ref().unwrap().stop().await;
    Cell {
        mode,
        clients,
        orders,
        refused,
        per_sec: orders as f64 / elapsed,
        p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
        oversold: left != STOCK - orders as i64,
    }
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let cells = actix_web::rt::System::new().block_on(async move {
        let mut cells = Vec::new();
        for clients in CONCURRENCY {
            cells.push(run_cell("actor, batched", true, clients, seconds).await);
            cells.push(run_cell("no actor, one tx each", false, clients, seconds).await);
        }
        cells
    });
    println!("\n| path | C | orders | orders/s | p50 ms | p99 ms | refused | oversold |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for c in &cells {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |",
            c.mode,
            c.clients,
            c.orders,
            c.per_sec,
            c.p50_ms,
            c.p99_ms,
            c.refused,
            if c.oversold { "YES" } else { "no" }
        );
    }
    for pair in cells.chunks(2) {
        println!(
            "C = {}: batched / unbatched = {:.2}x",
            pair[0].clients,
            pair[0].per_sec / pair[1].per_sec
        );
    }
}
