//! `locations`: N drivers, each delivering one shipped order and sending its position once a
//! second from a socket of their own (the N sends spread evenly over the second), while three
//! subscribers follow every order: its owner on `/ws/orders/{id}`, its owner again on the
//! multiplexed `/ws` (as the customer app does), and an anonymous viewer of a share link on
//! `/ws/track/{token}`. Measures position-to-subscriber latency, from the `at` the driver wrote
//! into the frame to receipt (one machine, one clock), the positions each subscriber missed, the
//! server's CPU per position and, with `--database-url`, how many positions the server wrote to
//! the database a second.
//!
//! The drivers are real driver accounts, registered and then promoted by the admin. The
//! server's defaults allow 64 sockets per user and 100 share-link viewers per address; the
//! generator's viewers all come from one address, so `bench/run.sh` raises the latter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::{stream, SinkExt, StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::api::{connect, frame_where, Api, Error, Socket, REGISTERING_AT_ONCE};
use super::fanout::Cpu;
use super::report::{histogram, Report};
use super::sys;

pub struct Args {
    pub drivers: usize,
    pub duration: Duration,
    /// The server's `dispatch.location_persist_secs`: the writes a second are held to
    /// `drivers / persist_secs`.
    pub persist_secs: f64,
    /// Where to count the positions written (`order_locations` rows of the run's orders).
    pub database_url: Option<String>,
    pub server_pids: Vec<u32>,
    pub db_pid: Option<u32>,
}

/// Orders per customer: each order holds two of its owner's sockets (the server allows 64 a
/// user by default), and each customer costs the server two bcrypt hashes to set up.
const ORDERS_PER_OWNER: usize = 10;
/// Destinations lie around here (Jakarta); drivers start this many degrees away from theirs
/// and close in over ten minutes.
const CENTRE: (f64, f64) = (-6.2, 106.8);
const START_OFF: f64 = 0.02;
const TRIP_SECS: f64 = 600.0;
/// A subscriber's positions in ten seconds.
const TEN_SECONDS: usize = 10;

/// One shipped order and everyone involved in it.
struct Delivery {
    order: i64,
    destination: (f64, f64),
    owner: String,
    share_token: String,
    driver: String,
}

/// What a driver's socket did: positions sent, and refusals the server answered.
#[derive(Default)]
struct Driven {
    sent: u64,
    refused: u64,
    first_refusal: Option<String>,
}

/// What a subscriber heard: each position's latency (microseconds), and those that came again
/// or older than one already heard.
#[derive(Default)]
struct Heard {
    latencies: Vec<u32>,
    stale: u64,
}

/// The two fields a subscriber needs from a frame, read without building the whole document.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    at: Option<&'a str>,
}

/// Positions sent and heard so far, for the progress line.
#[derive(Default)]
struct Progress {
    sent: AtomicU64,
    heard: AtomicU64,
}

pub async fn run(api: Api, admin: String, args: Args) -> Result<Report, Error> {
    let deliveries = set_up(&api, &admin, args.drivers).await?;
    let ws_base = api.base.replacen("http", "ws", 1);
    let (stop, stopped) = watch::channel(false);
    let progress = Arc::new(Progress::default());

    let mut subscribers = Vec::with_capacity(3 * deliveries.len());
    for (i, d) in deliveries.iter().enumerate() {
        for ws in follow(&ws_base, d, 3 * i).await? {
            subscribers.push((
                i,
                tokio::spawn(listen(ws, stopped.clone(), progress.clone())),
            ));
        }
        if i % 100 == 99 {
            eprintln!("  {} orders followed by 3 sockets each", i + 1);
        }
    }
    let mut driver_sockets = Vec::with_capacity(deliveries.len());
    for (i, d) in deliveries.iter().enumerate() {
        let source = sys::source_for(3 * deliveries.len() + i);
        driver_sockets.push(connect(&format!("{ws_base}/ws"), Some(&d.driver), source).await?);
    }
    let db = match &args.database_url {
        Some(url) => Some(Database::connect(url).await?),
        None => None,
    };
    let orders: Vec<i64> = deliveries.iter().map(|d| d.order).collect();
    let written_before = match &db {
        Some(db) => db.trail_rows(&orders).await?,
        None => 0,
    };

    let cpu_before = Cpu::now(&args.server_pids, args.db_pid);
    let started = Instant::now() + Duration::from_millis(500);
    let until = started + args.duration;
    let n = deliveries.len();
    let mut drivers = Vec::with_capacity(n);
    for (i, (ws, d)) in driver_sockets.into_iter().zip(&deliveries).enumerate() {
        // Driver i sends at i/n of every second, so the server sees an even stream.
        let first = started + Duration::from_secs_f64(i as f64 / n as f64);
        let route = (d.order, d.destination);
        let (stopped, progress) = (stopped.clone(), progress.clone());
        drivers.push(tokio::spawn(drive(
            ws, route, first, until, stopped, progress,
        )));
    }
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(5).min(until - Instant::now())).await;
        eprintln!(
            "  {:>4.0}s  positions sent {}  heard {}",
            started.elapsed().as_secs_f64(),
            progress.sent.load(Ordering::Relaxed),
            progress.heard.load(Ordering::Relaxed)
        );
    }
    let elapsed = args.duration.as_secs_f64();
    // A position waits at most a second for its turn; then everything sent has arrived.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = Cpu::now(&args.server_pids, args.db_pid).since(&cpu_before);
    let rss = sys::total_rss_kib(&args.server_pids);
    let written = match &db {
        Some(db) => Some(db.trail_rows(&orders).await? - written_before),
        None => None,
    };
    let _ = stop.send(true);

    let mut accepted = vec![0u64; n];
    let (mut sent, mut refused, mut refusal) = (0u64, 0u64, None);
    for (i, driver) in drivers.into_iter().enumerate() {
        let driven = driver.await?;
        accepted[i] = driven.sent - driven.refused.min(driven.sent);
        sent += driven.sent;
        refused += driven.refused;
        refusal = refusal.or(driven.first_refusal);
    }
    let (mut latency, mut early, mut late) = (histogram(), histogram(), histogram());
    let (mut heard, mut lost, mut stale) = (0u64, 0u64, 0u64);
    for (i, subscriber) in subscribers {
        let h = subscriber.await?;
        for us in &h.latencies {
            latency.record(u64::from(*us)).ok();
        }
        // A subscriber hears one position a second: its first and last ten are the run's first
        // and last ten seconds, which show whether latency grows as deliveries go on.
        let ten = h.latencies.len().min(TEN_SECONDS);
        for us in &h.latencies[..ten] {
            early.record(u64::from(*us)).ok();
        }
        for us in &h.latencies[h.latencies.len() - ten..] {
            late.record(u64::from(*us)).ok();
        }
        let fresh = h.latencies.len() as u64 - h.stale;
        heard += h.latencies.len() as u64;
        lost += accepted[i].saturating_sub(fresh);
        stale += h.stale;
    }
    if let Some(message) = &refusal {
        eprintln!("  a refused position: {message}");
    }
    let delivered = finish(&api, &admin, &orders).await;

    let taken = sent - refused;
    let mut report = Report::new("locations", "order-tracker");
    report.add("drivers (accounts, one socket and one order each)", n);
    report.add(
        "subscribers (owner /ws/orders, owner /ws, share-link viewer)",
        3 * n,
    );
    report.add("positions sent", sent);
    report.add("positions refused", refused);
    report.add("positions sent /s", format!("{:.0}", sent as f64 / elapsed));
    report.add("subscriber deliveries", heard);
    report.add(
        "deliveries per subscriber /s",
        format!("{:.2}", heard as f64 / (3 * n) as f64 / elapsed),
    );
    report.latencies("position-to-subscriber", &latency);
    report.latencies("position-to-subscriber, first 10 s,", &early);
    report.latencies("position-to-subscriber, last 10 s,", &late);
    report.add("positions lost (summed over subscribers)", lost);
    report.add("positions repeated or older than one heard", stale);
    if taken > 0 {
        report.add(
            "server CPU ms per position",
            format!("{:.3}", cpu.server * 1000.0 / taken as f64),
        );
        if let Some(db) = cpu.db {
            report.add(
                "database CPU ms per position",
                format!("{:.3}", db * 1000.0 / taken as f64),
            );
        }
    }
    if let Some(rows) = written {
        report.add("positions written (order_locations rows)", rows);
        report.add(
            "positions written /s (each: 1 UPDATE orders + 1 INSERT order_locations)",
            format!("{:.1}", rows as f64 / elapsed),
        );
        report.add(
            "bound: drivers / location_persist_secs",
            format!("{:.1}", n as f64 / args.persist_secs),
        );
    }
    cpu.add_to(&mut report, rss);
    report.add("orders delivered after the run", delivered);
    Ok(report)
}

/// Makes `n` shipped orders, each of a customer (ten orders a customer), with a destination, a
/// share link and a driver of its own.
async fn set_up(api: &Api, admin: &str, n: usize) -> Result<Vec<Delivery>, Error> {
    let owners: Vec<String> = stream::iter(0..n.div_ceil(ORDERS_PER_OWNER))
        .map(|_| api.customer("loc"))
        .buffered(REGISTERING_AT_ONCE)
        .try_collect()
        .await?;
    eprintln!("  {} customers registered", owners.len());
    stream::iter(0..n)
        .map(|i| {
            let owner = owners[i / ORDERS_PER_OWNER].clone();
            async move {
                let d = delivery(api, admin, owner, i).await?;
                if i % 100 == 99 {
                    eprintln!("  {} drivers registered and on their way", i + 1);
                }
                Ok::<_, Error>(d)
            }
        })
        .buffered(REGISTERING_AT_ONCE)
        .try_collect()
        .await
}

async fn delivery(api: &Api, admin: &str, owner: String, i: usize) -> Result<Delivery, Error> {
    // Destinations on a grid about a kilometre apart.
    let destination = (
        CENTRE.0 + (i % 32) as f64 * 0.01,
        CENTRE.1 + (i / 32) as f64 * 0.01,
    );
    let order = api
        .create_order_to(&owner, destination.0, destination.1)
        .await?;
    let share_token = api.share_link(&owner, order).await?;
    let (driver_id, driver) = api.driver(admin, "drv").await?;
    api.assign(admin, order, driver_id).await?;
    match api.update(admin, order, "shipped", "on the way").await? {
        200 => Ok(Delivery {
            order,
            destination,
            owner,
            share_token,
            driver,
        }),
        status => Err(format!("shipping order {order} failed ({status})").into()),
    }
}

/// The order's three subscribers, each past its snapshot. Sockets are numbered from `n` for
/// their source addresses.
async fn follow(ws_base: &str, d: &Delivery, n: usize) -> Result<[Socket; 3], Error> {
    let order = d.order;
    let topic = format!("order:{order}");
    let snapshot = |f: &serde_json::Value| f["type"] == "order.snapshot" && f["topic"] == topic;

    let url = format!("{ws_base}/ws/orders/{order}");
    let mut direct = connect(&url, Some(&d.owner), sys::source_for(n)).await?;
    frame_where(&mut direct, snapshot).await?;

    let url = format!("{ws_base}/ws");
    let mut app = connect(&url, Some(&d.owner), sys::source_for(n + 1)).await?;
    let subscribe = json!({"type": "subscribe", "topic": topic}).to_string();
    app.send(Message::Text(subscribe.into())).await?;
    frame_where(&mut app, snapshot).await?;

    let url = format!("{ws_base}/ws/track/{}", d.share_token);
    let mut viewer = connect(&url, None, sys::source_for(n + 2)).await?;
    frame_where(&mut viewer, |f| f["type"] == "order.snapshot").await?;
    Ok([direct, app, viewer])
}

/// One driver: a position of `order` at `first` and every second after, until `until`; reads
/// the server's answers (refusals) until told to stop.
async fn drive(
    mut ws: Socket,
    (order, to): (i64, (f64, f64)),
    first: Instant,
    until: Instant,
    mut stop: watch::Receiver<bool>,
    progress: Arc<Progress>,
) -> Driven {
    let mut driven = Driven::default();
    let mut ticker = tokio::time::interval_at(first, Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sending = true;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            at = ticker.tick(), if sending => {
                if at >= until {
                    sending = false;
                    continue;
                }
                let left = START_OFF * (1.0 - driven.sent as f64 / TRIP_SECS).max(0.0);
                let frame = json!({
                    "type": "location", "order_id": order,
                    "lat": to.0 + left, "lng": to.1 + left,
                    "accuracy": 10.0, "heading": 225.0, "speed": 8.3,
                    "at": Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
                });
                if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                    break;
                }
                driven.sent += 1;
                progress.sent.fetch_add(1, Ordering::Relaxed);
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if matches!(serde_json::from_str(&text), Ok(Probe { kind: "error", .. })) {
                        driven.refused += 1;
                        driven.first_refusal.get_or_insert_with(|| text.to_string());
                    }
                }
                Some(Ok(Message::Ping(p))) => { let _ = ws.send(Message::Pong(p)).await; }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    let _ = ws.close(None).await;
    driven
}

/// One subscriber: the latency of every position it hears, until told to stop.
async fn listen(mut ws: Socket, mut stop: watch::Receiver<bool>, progress: Arc<Progress>) -> Heard {
    let mut heard = Heard::default();
    let mut newest: Option<DateTime<Utc>> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let now = Utc::now();
                    let Ok(Probe { kind: "order.location", at: Some(at) }) = serde_json::from_str(&text) else { continue };
                    let Ok(at) = DateTime::parse_from_rfc3339(at) else { continue };
                    let at = at.with_timezone(&Utc);
                    let us = (now - at).num_microseconds().unwrap_or(i64::MAX).max(0);
                    heard.latencies.push(u32::try_from(us).unwrap_or(u32::MAX));
                    if newest.is_some_and(|n| at <= n) {
                        heard.stale += 1;
                    }
                    newest = newest.max(Some(at));
                    progress.heard.fetch_add(1, Ordering::Relaxed);
                }
                Some(Ok(Message::Ping(p))) => { let _ = ws.send(Message::Pong(p)).await; }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    let _ = ws.close(None).await;
    heard
}

/// Delivers the run's orders, so that the next run's board and positions start clean; answers
/// how many were.
async fn finish(api: &Api, admin: &str, orders: &[i64]) -> usize {
    stream::iter(orders)
        .map(|order| api.update(admin, *order, "delivered", "delivered"))
        .buffer_unordered(8)
        .filter(|answer| std::future::ready(matches!(answer, Ok(200))))
        .count()
        .await
}

/// The server's database, read only to count the positions it wrote.
struct Database(tokio_postgres::Client);

impl Database {
    async fn connect(url: &str) -> Result<Self, Error> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        Ok(Database(client))
    }

    /// Trail rows of `orders`. Each was written by one statement that also updated its order's
    /// `location`, so this counts both writes.
    async fn trail_rows(&self, orders: &[i64]) -> Result<u64, Error> {
        let row = self
            .0
            .query_one(
                "SELECT count(*) FROM order_locations WHERE order_id = ANY($1)",
                &[&orders],
            )
            .await?;
        Ok(u64::try_from(row.get::<_, i64>(0))?)
    }
}
