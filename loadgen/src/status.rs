//! `status`: C staff clients updating distinct orders as fast as they can: the transactional
//! write path (order row, history row, notification, NOTIFY). Updates per second and latency.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::api::{Api, Error};
use super::report::{histogram, Report};

pub async fn run(
    api: Api,
    admin: String,
    clients: usize,
    duration: Duration,
) -> Result<Report, Error> {
    let orders: Vec<i64> = api
        .owned_orders(&admin, "status", clients)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers = orders.iter().map(|order| {
        let (api, admin) = (api.clone(), admin.clone());
        let order = *order;
        async move {
            let mut h = histogram();
            let (mut ok, mut failed, mut n) = (0u64, 0u64, 0u64);
            while Instant::now() < deadline {
                let t = Instant::now();
                match api
                    .update(&admin, order, "preparing", &format!("u{n}"))
                    .await
                {
                    Ok(200) => ok += 1,
                    _ => failed += 1,
                }
                h.record(t.elapsed().as_micros() as u64).ok();
                n += 1;
            }
            (h, ok, failed)
        }
    });
    let results = join_all(workers).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut latency = histogram();
    let (mut ok, mut failed) = (0, 0);
    for (h, o, f) in results {
        latency.add(&h).ok();
        ok += o;
        failed += f;
    }
    let mut report = Report::new("status", "order-tracker");
    report.add("clients", clients);
    report.add("updates", ok);
    report.add("failed", failed);
    report.add("updates /s", format!("{:.0}", ok as f64 / elapsed));
    report.latencies("update", &latency);
    Ok(report)
}
