//! `board`: S staff sockets following the staff board (`board` on `/ws`) while the admin
//! changes orders R times a second, spread evenly over O orders (each with an owner of its
//! own). Measures change-to-board latency, from just before a change's request was sent to a
//! socket reading its `board.order` event (matched by the order and the version the change's
//! answer names), and checks that every socket's board `seq`s arrive once, in order, with no
//! gap, and that every order's `version` only grows.
//!
//! Every socket is the admin's, and the admin makes R requests a second: the server's defaults
//! (64 sockets a user, 120 requests a minute for an admin) would refuse both, so
//! `bench/run.sh` raises the one and turns the other off. The first socket takes the board's
//! snapshot; the others subscribe from its seq (`since`), as a page that reconnects does, so
//! that setting up does not make the server build S snapshots of every unfinished order that
//! earlier runs left.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::accounting::{SeqTracker, Tally};
use super::api::{connect, frame_where, Api, Error, Socket};
use super::fanout::Cpu;
use super::report::{histogram, Report};
use super::sys;

pub struct Args {
    pub sockets: usize,
    pub orders: usize,
    pub rate: u32,
    pub duration: Duration,
    pub server_pids: Vec<u32>,
    pub db_pid: Option<u32>,
}

/// The fields a board socket needs from a frame, read without building the whole document.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    seq: Option<i64>,
    order: Option<Card>,
}

#[derive(Deserialize)]
struct Card {
    id: i64,
    version: i64,
}

/// What one socket saw: its seqs, each change it heard (order, version, when), and how often an
/// order's version failed to grow.
struct Seen {
    tracker: SeqTracker,
    heard: Vec<(i64, i64, Instant)>,
    versions_not_growing: u64,
}

pub async fn run(api: Api, admin: String, args: Args) -> Result<Report, Error> {
    let orders: Vec<i64> = api
        .owned_orders(&admin, "board", args.orders.max(1))
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let url = format!("{}/ws", api.base.replacen("http", "ws", 1));
    let (stop, stopped) = watch::channel(false);
    let received = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::with_capacity(args.sockets);
    let mut first = None;
    for n in 0..args.sockets {
        let (ws, seq) = subscribe(&url, &admin, first, n).await?;
        first.get_or_insert(seq);
        readers.push(tokio::spawn(read(
            ws,
            seq + 1,
            stopped.clone(),
            received.clone(),
        )));
    }

    let cpu_before = Cpu::now(&args.server_pids, args.db_pid);
    let started = Instant::now();
    let mut ticker =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1))));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut pending = Vec::new();
    let mut published = 0usize;
    while started.elapsed() < args.duration {
        ticker.tick().await;
        let order = orders[published % orders.len()];
        let (api, admin) = (api.clone(), admin.clone());
        let notes = format!("b{published}");
        pending.push(tokio::spawn(async move {
            let sent = Instant::now();
            let version = api.update_seq(&admin, order, "preparing", &notes).await;
            version.ok().flatten().map(|v| ((order, v), sent))
        }));
        published += 1;
        if published % args.rate.max(1) as usize == 0 {
            eprintln!(
                "  {:>4.0}s  changes {published}  board deliveries {}",
                started.elapsed().as_secs_f64(),
                received.load(Ordering::Relaxed)
            );
        }
    }
    let mut sent = HashMap::with_capacity(pending.len());
    let mut failed = 0u64;
    for p in pending {
        match p.await? {
            Some((key, at)) => {
                sent.insert(key, at);
            }
            None => failed += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = Cpu::now(&args.server_pids, args.db_pid).since(&cpu_before);
    let rss = sys::total_rss_kib(&args.server_pids);
    let _ = stop.send(true);

    // A socket opened now is told the board's last seq: every socket should have reached it.
    let (_, last) = subscribe(&url, &admin, None, args.sockets).await?;
    let mut latency = histogram();
    let mut tally = Tally::default();
    let (mut unmatched, mut not_growing) = (0u64, 0u64);
    for reader in readers {
        let seen = reader.await?;
        for (order, version, at) in seen.heard {
            match sent.get(&(order, version)) {
                Some(sent_at) => {
                    latency
                        .record(at.saturating_duration_since(*sent_at).as_micros() as u64)
                        .ok();
                }
                None => unmatched += 1,
            }
        }
        tally += seen.tracker.finish(last);
        not_growing += seen.versions_not_growing;
    }

    let mut report = Report::new("board", "order-tracker");
    report.add("staff sockets on the board", args.sockets);
    report.add("orders changed", orders.len());
    report.add("changes sent", published);
    report.add("change failures", failed);
    report.add("target rate /s", args.rate);
    report.count_and_rate("board deliveries", tally.delivered, elapsed);
    report.latencies("change-to-board", &latency);
    report.add("board events not of this run's changes", unmatched);
    tally.add_faults_to(&mut report, "");
    report.add("order versions not growing", not_growing);
    cpu.add_to(&mut report, rss);
    Ok(report)
}

/// Opens a staff socket on the board: from `since` if given, else from a snapshot. Answers the
/// socket and the seq it starts after. Socket `n` picks its source address.
async fn subscribe(
    url: &str,
    admin: &str,
    since: Option<i64>,
    n: usize,
) -> Result<(Socket, i64), Error> {
    let mut ws = connect(url, Some(admin), sys::source_for(n)).await?;
    let mut frame = json!({"type": "subscribe", "topic": "board"});
    if let Some(seq) = since {
        frame["since"] = seq.into();
    }
    ws.send(Message::Text(frame.to_string().into())).await?;
    let seq = match since {
        Some(seq) => {
            frame_where(&mut ws, |f| {
                f["type"] == "subscribed" && f["topic"] == "board"
            })
            .await?;
            seq
        }
        None => frame_where(&mut ws, |f| f["type"] == "board.snapshot").await?["seq"]
            .as_i64()
            .ok_or("no seq in the board's snapshot")?,
    };
    Ok((ws, seq))
}

/// One board socket: every board seq, and every change with the time it came, until told to
/// stop.
async fn read(
    mut ws: Socket,
    first: i64,
    mut stop: watch::Receiver<bool>,
    received: Arc<AtomicU64>,
) -> Seen {
    let mut seen = Seen {
        tracker: SeqTracker::starting_at(first),
        heard: Vec::new(),
        versions_not_growing: 0,
    };
    let mut versions: HashMap<i64, i64> = HashMap::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let now = Instant::now();
                    let Ok(probe) = serde_json::from_str::<Probe>(&text) else { continue };
                    let (Some(seq), "board.order" | "board.hidden") = (probe.seq, probe.kind) else { continue };
                    seen.tracker.record(seq);
                    received.fetch_add(1, Ordering::Relaxed);
                    if let Some(card) = probe.order {
                        let newest = versions.entry(card.id).or_insert(i64::MIN);
                        if *newest >= card.version {
                            seen.versions_not_growing += 1;
                        }
                        *newest = (*newest).max(card.version);
                        seen.heard.push((card.id, card.version, now));
                    }
                }
                Some(Ok(Message::Ping(p))) => { let _ = ws.send(Message::Pong(p)).await; }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    let _ = ws.close(None).await;
    seen
}
