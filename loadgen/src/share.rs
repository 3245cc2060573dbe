//! `share`: V anonymous viewers of one share link (`/ws/track/{token}`) plus the owners of O
//! orders on their own sockets, while staff change the shared order R times a second. Measures
//! change-to-receipt latency at every viewer, and loss, duplication and reordering through each
//! event's `seq`; then weighs the tracking page a viewer's first visit downloads.
//!
//! The viewers' events carry no notes (the public view leaves them out), so changes are sent one
//! at a time, each after the last was answered: the n-th change of the run is then the one with
//! seq `first + n`, and its send time is found by its seq.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::accounting::{SeqTracker, Tally};
use super::api::{connect, Api, Error, Socket};
use super::fanout::{next_json, Cpu};
use super::report::{histogram, Report};
use super::sys;

pub struct Args {
    pub viewers: usize,
    pub owners: usize,
    pub rate: u32,
    pub duration: Duration,
    pub server_pids: Vec<u32>,
    pub db_pid: Option<u32>,
}

/// The one field a reader needs, read without building the whole document: the generator
/// shares the machine with the server, and every cycle it spends is one the server lacks.
#[derive(serde::Deserialize)]
struct SeqOnly {
    seq: Option<i64>,
}

/// When each change of the run was sent, by its number.
type Sent = Arc<Vec<OnceLock<Instant>>>;

pub async fn run(api: Api, admin: String, args: Args) -> Result<Report, Error> {
    let owned = api
        .owned_orders(&admin, "share", args.owners.max(1))
        .await?;
    let (shared, owner) = owned[0].clone();
    let token = api.share_link(&owner, shared).await?;
    let ws_base = api.base.replacen("http", "ws", 1);

    let most = (args.duration.as_secs_f64() * f64::from(args.rate.max(1))).ceil() as usize + 1;
    let sent: Sent = Arc::new((0..most).map(|_| OnceLock::new()).collect());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut viewers = Vec::with_capacity(args.viewers);
    let mut first = None;
    for n in 0..args.viewers {
        let url = format!("{ws_base}/ws/track/{token}");
        let mut ws = connect(&url, None, sys::source_for(n)).await?;
        let snapshot = next_json(&mut ws).await.ok_or("no snapshot")?;
        let seq = snapshot["seq"].as_i64().ok_or("no seq in the snapshot")?;
        first.get_or_insert(seq);
        viewers.push(tokio::spawn(read(ws, seq + 1, true, stopped.clone())));
        if n % 1000 == 999 {
            eprintln!("  {} viewers connected", n + 1);
        }
    }
    // The owners follow their own orders, as the customer app does, beside the viewers.
    let mut owner_sockets = Vec::with_capacity(owned.len());
    for (i, (order, owner)) in owned.iter().enumerate() {
        let url = format!("{ws_base}/ws/orders/{order}");
        let source = sys::source_for(args.viewers + i);
        let mut ws = connect(&url, Some(owner), source).await?;
        let snapshot = next_json(&mut ws).await.ok_or("no snapshot")?;
        let seq = snapshot["seq"].as_i64().ok_or("no seq in the snapshot")?;
        owner_sockets.push(tokio::spawn(read(ws, seq + 1, false, stopped.clone())));
    }
    let base = match first {
        Some(seq) => seq,
        None => api.order_seq(&owner, shared).await?,
    };

    let cpu_before = Cpu::now(&args.server_pids, args.db_pid);
    let started = Instant::now();
    let mut ticker =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1))));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut published, mut failed) = (0usize, 0u64);
    while started.elapsed() < args.duration && published < sent.len() {
        ticker.tick().await;
        let _ = sent[published].set(Instant::now());
        match api
            .update(&admin, shared, "preparing", &format!("t{published}"))
            .await
        {
            Ok(200) => published += 1,
            _ => {
                failed += 1;
                break;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = Cpu::now(&args.server_pids, args.db_pid).since(&cpu_before);
    let rss = sys::total_rss_kib(&args.server_pids);
    let _ = stop.send(true);

    let last = api.order_seq(&owner, shared).await?;
    let mut latency = histogram();
    let mut tally = Tally::default();
    for viewer in viewers {
        let (tracker, received) = viewer.await?;
        for (seq, at) in received {
            let number = usize::try_from(seq - base - 1).ok();
            if let Some(sent_at) = number.and_then(|n| sent.get(n)).and_then(OnceLock::get) {
                latency
                    .record(at.duration_since(*sent_at).as_micros() as u64)
                    .ok();
            }
        }
        tally += tracker.finish(last);
    }
    let mut owners_tally = Tally::default();
    for (socket, (order, owner)) in owner_sockets.into_iter().zip(&owned) {
        let (tracker, _) = socket.await?;
        owners_tally += tracker.finish(api.order_seq(owner, *order).await?);
    }

    let weight = api.page_weight(&format!("/track/{token}")).await?;
    let total: usize = weight.iter().map(|(_, bytes)| bytes).sum();

    let mut report = Report::new("share", "order-tracker");
    report.add("viewers of one link", args.viewers);
    report.add("owners on their own orders", owned.len());
    report.add("changes of the shared order", published);
    report.add("change failures", failed);
    report.add("target rate /s", args.rate);
    report.count_and_rate("viewer deliveries", tally.delivered, elapsed);
    report.latencies("change-to-viewer", &latency);
    tally.add_faults_to(&mut report, "viewers: ");
    report.add("owner deliveries", owners_tally.delivered);
    owners_tally.add_faults_to(&mut report, "owners: ");
    cpu.add_to(&mut report, rss);
    report.add("tracking page, first load, files", weight.len());
    report.add("tracking page, first load, bytes", total);
    Ok(report)
}

/// One socket: every seq it receives, with the time it came when `timed` (the viewers), until
/// told to stop.
async fn read(
    mut ws: Socket,
    first: i64,
    timed: bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> (SeqTracker, Vec<(i64, Instant)>) {
    let mut tracker = SeqTracker::starting_at(first);
    let mut received = Vec::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let now = Instant::now();
                    let Ok(SeqOnly { seq: Some(seq) }) = serde_json::from_str(&text) else { continue };
                    tracker.record(seq);
                    if timed {
                        received.push((seq, now));
                    }
                }
                Some(Ok(Message::Ping(p))) => { let _ = ws.send(Message::Pong(p)).await; }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    let _ = ws.close(None).await;
    (tracker, received)
}
