//! Admin statistics and analytics on a large database: 100,000 orders, 500,000 history rows
//! and 30,000 feedbacks, generated in SQL, then each endpoint timed over HTTP.
//!
//! `cargo bench --bench analytics` prints the median and worst of 7 calls per endpoint and range.

#[path = "../tests/api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::time::Instant;

use helpers::{fresh_database, spawn_app_with, test_settings};

const ORDERS: i64 = 100_000;
const CALLS: usize = 7;

fn main() {
    actix_web::rt::System::new().block_on(async {
        let app = spawn_app_with(test_settings(&fresh_database().await)).await;
        let (customer, _) = app.customer("Bench Customer").await;
        let (staff, admin) = app.staff("Bench Admin", "admin").await;
        let started = Instant::now();
        for statement in [
            format!(
                "INSERT INTO orders (order_number, user_id, items, status, version, created_at, updated_at)
                 SELECT 'BENCH-' || g, {customer}, 'Nasi Goreng',
                        (ARRAY['delivered','delivered','delivered','cancelled','preparing'])[1 + g % 5], 5, t, t
                 FROM generate_series(1, {ORDERS}) g,
                      LATERAL (SELECT timestamptz '2025-01-01' + g * interval '5 minutes' AS t) ts"
            ),
            format!(
                "INSERT INTO order_status_history (order_id, seq, from_status, status, updated_by, created_at)
                 SELECT o.id, s, (ARRAY[NULL,'pending','confirmed','preparing','ready'])[s],
                        (ARRAY['pending','confirmed','preparing','ready','delivered'])[s],
                        CASE WHEN s = 1 THEN o.user_id ELSE {staff} END,
                        o.created_at + (s - 1) * interval '7 minutes'
                 FROM orders o, generate_series(1, 5) s WHERE o.order_number LIKE 'BENCH-%'"
            ),
            format!(
                "INSERT INTO order_feedback (order_id, user_id, rating, overall_rating, is_positive, created_at)
                 SELECT id, {customer}, 1 + id % 5, 1 + id % 5, 1 + id % 5 >= 4, created_at + interval '1 hour'
                 FROM orders WHERE order_number LIKE 'BENCH-%' AND id % 10 < 3"
            ),
            "ANALYZE".to_string(),
        ] {
            app.sql(&statement).await;
        }
        println!("generated {ORDERS} orders, {} history rows in {:.1} s", ORDERS * 5, started.elapsed().as_secs_f64());

        println!("\n| endpoint | range | median ms | max ms |");
        println!("|---|---|---:|---:|");
        for endpoint in ["tracking-stats", "tracking-analytics"] {
            for (label, query) in [("all time", ""), ("one week", "?start_date=2025-03-01&end_date=2025-03-07")] {
                let mut times = Vec::with_capacity(CALLS);
                for _ in 0..CALLS {
                    let t = Instant::now();
                    let res = app.get(&format!("/api/v1/admin/orders/{endpoint}{query}"), &admin).await;
                    assert_eq!(res.status, 200, "{}", res.body);
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                times.sort_by(f64::total_cmp);
                println!("| {endpoint} | {label} | {:.1} | {:.1} |", times[CALLS / 2], times[CALLS - 1]);
            }
        }
    });
}
