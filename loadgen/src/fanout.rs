//! `fanout`: S subscribers over K streams; a publisher drives R events a second. Measures
//! publish-to-receipt latency at every subscriber, deliveries per second, and loss,
//! duplication and reordering through each event's `seq`. The target is order-tracker (streams
//! are orders, events are status updates through the REST API) or nchan (streams are channels,
//! events are HTTP POSTs), with the same S, K, R and message size.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

use super::accounting::{SeqTracker, Tally};
use super::api::{connect, Api, Error};
use super::probe;
use super::report::{histogram, Report};
use super::sys;

pub struct Args {
    pub subscribers: usize,
    pub rate: u32,
    pub duration: Duration,
    pub server_pids: Vec<u32>,
    /// PostgreSQL's postmaster, whose CPU (with its backends') is the database's share.
    pub db_pid: Option<u32>,
}

/// Where events go in and come out.
pub enum Target {
    OrderTracker {
        /// The server processes: each stream's subscribers are spread over them, and its
        /// publishes go through one of them (`stream % processes`).
        apis: Vec<Api>,
        admin: String,
        orders: Vec<i64>,
        /// Each order's owner, who subscribes to it: one per order, as in the status scenario.
        owners: Vec<String>,
    },
    Nchan {
        base: String,
        channels: Vec<String>,
        http: reqwest::Client,
        /// Each channel's last seq. nchan keeps the order its POSTs arrive in, and the seq is
        /// ours, so one channel's POSTs must not overlap: the lock is held from taking the seq
        /// until nchan has answered. (order-tracker numbers events itself, at commit.)
        seqs: Vec<tokio::sync::Mutex<i64>>,
    },
}

/// When each event was sent, by its number (its tag is `t{number}`), so receivers can compute
/// latency. Written once per event, read by every subscriber: no lock on the receiving path.
type Sent = Arc<Vec<OnceLock<Instant>>>;

/// What the subscribers tell the progress line while the run goes on.
#[derive(Default)]
struct Progress {
    received: AtomicU64,
    /// The slowest delivery since the progress line last printed: shows when a stall happened.
    worst_us: AtomicU64,
}

impl Target {
    pub async fn order_tracker(
        apis: Vec<Api>,
        admin: String,
        streams: usize,
    ) -> Result<Self, Error> {
        let (orders, owners) = apis[0]
            .owned_orders(&admin, "fan", streams)
            .await?
            .into_iter()
            .unzip();
        Ok(Target::OrderTracker {
            apis,
            admin,
            owners,
            orders,
        })
    }

    pub fn nchan(base: &str, streams: usize) -> Self {
        let run = format!("{:08x}", rand::random::<u32>());
        Target::Nchan {
            base: base.trim_end_matches('/').to_string(),
            channels: (0..streams).map(|k| format!("bench-{run}-{k}")).collect(),
            http: reqwest::Client::new(),
            seqs: (0..streams).map(|_| tokio::sync::Mutex::new(0)).collect(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Target::OrderTracker { .. } => "order-tracker",
            Target::Nchan { .. } => "nchan",
        }
    }

    fn streams(&self) -> usize {
        match self {
            Target::OrderTracker { orders, .. } => orders.len(),
            Target::Nchan { channels, .. } => channels.len(),
        }
    }

    /// Opens a subscriber of stream `k`; answers the socket and the first seq it should see.
    async fn subscribe(&self, k: usize, n: usize) -> Result<(super::api::Socket, i64), Error> {
        match self {
            Target::OrderTracker {
                apis,
                owners,
                orders,
                ..
            } => {
                // The j-th subscriber of every stream on process j: each stream is heard on
                // every process.
                let api = &apis[(n / orders.len()) % apis.len()];
                let url = format!(
                    "{}/ws/orders/{}",
                    api.base.replacen("http", "ws", 1),
                    orders[k]
                );
                let mut ws = connect(&url, Some(&owners[k]), sys::source_for(n)).await?;
                let snapshot = next_json(&mut ws).await.ok_or("no snapshot")?;
                Ok((ws, snapshot["seq"].as_i64().unwrap_or(0) + 1))
            }
            Target::Nchan { base, channels, .. } => {
                let url = format!("{}/sub/{}", base.replacen("http", "ws", 1), channels[k]);
                Ok((connect(&url, None, sys::source_for(n)).await?, 1))
            }
        }
    }

    /// Publishes one event tagged `tag` on stream `k`; answers the HTTP status.
    async fn publish(&self, k: usize, tag: &str) -> Result<u16, Error> {
        match self {
            Target::OrderTracker {
                apis,
                admin,
                orders,
                ..
            } => {
                let api = &apis[k % apis.len()];
                api.update(admin, orders[k], "preparing", tag).await
            }
            Target::Nchan {
                base,
                channels,
                http,
                seqs,
            } => {
                let mut last = seqs[k].lock().await;
                let seq = *last + 1;
                // The same shape and size as an order event.
                let body = json!({"type": "order.status", "topic": format!("order:{k}"), "order_id": k.to_string(),
                                  "seq": seq, "status": "preparing", "status_display": "Preparing", "notes": tag,
                                  "updated_by": "Load Admin", "updated_at": chrono::Utc::now()});
                let status = http
                    .post(format!("{base}/pub/{}", channels[k]))
                    .body(body.to_string())
                    .send()
                    .await?
                    .status();
                if status.is_success() {
                    *last = seq;
                }
                Ok(status.as_u16())
            }
        }
    }

    async fn last_seq(&self, k: usize) -> Result<i64, Error> {
        match self {
            Target::OrderTracker {
                apis,
                owners,
                orders,
                ..
            } => apis[0].order_seq(&owners[k], orders[k]).await,
            Target::Nchan { seqs, .. } => Ok(*seqs[k].lock().await),
        }
    }
}

pub(crate) async fn next_json(ws: &mut super::api::Socket) -> Option<Value> {
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).ok();
        }
    }
    None
}

/// How long a publish may go unanswered before it counts as failed, so that a server that stops
/// answering ends the run instead of holding it open.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes event `n` on stream `k`: `Err` says how it failed (the HTTP status, a timeout, or
/// no answer at all), for the report.
async fn publish(target: &Target, k: usize, n: usize) -> Result<(), String> {
    match tokio::time::timeout(PUBLISH_TIMEOUT, target.publish(k, &format!("t{n}"))).await {
        Ok(Ok(status)) if (200..300).contains(&status) => Ok(()),
        Ok(Ok(status)) => Err(format!("HTTP {status}")),
        Ok(Err(_)) => Err("no answer".into()),
        Err(_) => Err(format!("timeout ({} s)", PUBLISH_TIMEOUT.as_secs())),
    }
}

pub async fn run(target: Target, args: Args) -> Result<Report, Error> {
    let target = Arc::new(target);
    let rate = args.rate.max(1);
    // Every event of the schedule is sent (see `send_on_schedule`): one slot for each.
    let offered = (args.duration.as_secs_f64() * f64::from(rate)).round() as usize;
    let sent: Sent = Arc::new((0..offered).map(|_| OnceLock::new()).collect());
    let progress = Arc::new(Progress::default());

    let mut readers = Vec::with_capacity(args.subscribers);
    let mut records = Vec::with_capacity(args.subscribers);
    for n in 0..args.subscribers {
        let k = n % target.streams();
        let (ws, first) = target.subscribe(k, n).await?;
        let (done, recorded) = oneshot::channel();
        let record = Record {
            k,
            tracker: SeqTracker::starting_at(first),
            latency: Vec::new(),
            done: Some(done),
        };
        readers.push(tokio::spawn(read(
            ws,
            sent.clone(),
            progress.clone(),
            record,
        )));
        records.push(recorded);
        if n % 1000 == 999 {
            eprintln!("  {} subscribers connected", n + 1);
        }
    }
    let pids = args.server_pids.clone();
    let cpu_before = Cpu::now(&pids, args.db_pid);

    let started = Instant::now();
    let Sending {
        pending,
        lag,
        behind,
    } = {
        let (target, sent, progress) = (target.clone(), sent.clone(), progress.clone());
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            send_on_schedule(&target, rate, &sent, &progress, &runtime, started)
        })
        .await?
    };
    let attempted = pending.len();
    let mut answered_ok = 0u64;
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    for p in pending {
        match p.await? {
            Ok(()) => answered_ok += 1,
            Err(kind) => *failures.entry(kind).or_default() += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = Cpu::now(&pids, args.db_pid).since(&cpu_before);
    let rss = sys::total_rss_kib(&pids);
    // Dropping a subscriber's task closes its socket and hands over what it recorded.
    readers.iter().for_each(tokio::task::JoinHandle::abort);

    let mut lasts = Vec::with_capacity(target.streams());
    for k in 0..target.streams() {
        lasts.push(target.last_seq(k).await?);
    }
    let mut latency = histogram();
    let mut tally = Tally::default();
    for recorded in records {
        let (k, tracker, latencies) = recorded.await?;
        for us in latencies {
            latency.record(us.into()).ok();
        }
        tally += tracker.finish(lasts[k]);
    }
    let mut report = Report::new("fanout", target.name());
    report.add("subscribers", args.subscribers);
    report.add("streams", target.streams());
    report.add("target rate /s", args.rate);
    report.add("publishes offered", offered);
    report.add("publishes sent", attempted);
    report.add("publishes behind schedule", behind);
    report.latencies("publish lag", &lag);
    // Only events the target accepted: what CPU per update divides by.
    report.add("events published", answered_ok);
    report.add("publish failures", failures.values().sum::<u64>());
    report.add("publish failures by kind", failure_kinds(&failures));
    report.count_and_rate("deliveries", tally.delivered, elapsed);
    report.latencies("publish-to-receipt", &latency);
    tally.add_faults_to(&mut report, "");
    cpu.add_to(&mut report, rss);
    let per_delivery = |secs: f64| format!("{:.2}", secs * 1e6 / tally.delivered.max(1) as f64);
    if rss.is_some() {
        report.add("server CPU µs/delivery", per_delivery(cpu.server));
    }
    report.add("generator CPU µs/delivery", per_delivery(cpu.generator));
    Ok(report)
}

/// What the publisher did: each publish's task, how late each went out (microseconds), and how
/// many went out more than one interval late.
struct Sending {
    pending: Vec<tokio::task::JoinHandle<Result<(), String>>>,
    lag: hdrhistogram::Histogram<u64>,
    behind: u64,
}

/// Sends every event of the schedule, event n at n / rate seconds after `started`, each as a
/// task of `runtime` so that a slow answer holds up none after it.
///
/// Each time is fixed from the start, so one publish sent late delays none after it; one the
/// generator could not send on time goes out as soon as it can, is counted, and its lateness is
/// reported (ticks skipped when late had quietly lowered the rate offered: 5,918 of 7,500 at
/// "500/s"). It runs on a thread of its own and sleeps on the system's timer: the runtime's
/// timer rounds up to the next millisecond and fires only when a worker, busy with 10,000
/// readers, gets round to it.
fn send_on_schedule(
    target: &Arc<Target>,
    rate: u32,
    sent: &Sent,
    progress: &Progress,
    runtime: &tokio::runtime::Handle,
    started: Instant,
) -> Sending {
    let tick = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut lag = histogram();
    let mut behind = 0u64;
    // Since the progress line last printed: publishes sent late, and the latest of them.
    let (mut behind_lately, mut worst_lately) = (0u64, Duration::ZERO);
    let mut pending = Vec::with_capacity(sent.len());
    for (n, sent_at) in sent.iter().enumerate() {
        let due = started + Duration::from_secs_f64(n as f64 / f64::from(rate));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        let late = now.saturating_duration_since(due);
        lag.record(late.as_micros() as u64).ok();
        if late > tick {
            behind += 1;
            behind_lately += 1;
            worst_lately = worst_lately.max(late);
        }
        let _ = sent_at.set(now);
        let target = target.clone();
        let k = n % target.streams();
        pending.push(runtime.spawn(async move { publish(&target, k, n).await }));
        if (n + 1) % rate as usize == 0 {
            let note = match behind_lately {
                0 => String::new(),
                n => format!(
                    "  BEHIND SCHEDULE: {n} sent late, by up to {:.1} ms",
                    worst_lately.as_secs_f64() * 1000.0
                ),
            };
            (behind_lately, worst_lately) = (0, Duration::ZERO);
            eprintln!(
                "  {:>4.0}s  published {}  deliveries {}  slowest {:.1} ms{note}",
                started.elapsed().as_secs_f64(),
                n + 1,
                progress.received.load(Ordering::Relaxed),
                progress.worst_us.swap(0, Ordering::Relaxed) as f64 / 1000.0
            );
        }
    }
    Sending {
        pending,
        lag,
        behind,
    }
}

/// `HTTP 503: 12, timeout (10 s): 1`, or `none`.
fn failure_kinds(failures: &BTreeMap<String, u64>) -> String {
    if failures.is_empty() {
        return "none".into();
    }
    let kinds: Vec<String> = failures.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    kinds.join(", ")
}

/// CPU time used so far by each party to a run, in seconds; the difference of two is a run's.
pub(crate) struct Cpu {
    pub server: f64,
    pub db: Option<f64>,
    pub generator: f64,
}

impl Cpu {
    pub fn now(server_pids: &[u32], db_pid: Option<u32>) -> Self {
        Cpu {
            server: server_pids.iter().filter_map(|p| sys::cpu_secs(*p)).sum(),
            db: db_pid.and_then(sys::tree_cpu_secs),
            generator: sys::cpu_secs(std::process::id()).unwrap_or(0.0),
        }
    }

    /// The run's CPU (this one being a difference) and the servers' memory (`None` when no
    /// server was watched), as report rows.
    pub fn add_to(&self, report: &mut Report, server_rss_kib: Option<u64>) {
        if let Some(rss) = server_rss_kib {
            report.add("server RSS MiB", format!("{:.1}", rss as f64 / 1024.0));
            report.add("server CPU s", format!("{:.2}", self.server));
        }
        if let Some(db) = self.db {
            report.add("database CPU s", format!("{db:.2}"));
        }
        report.add("generator CPU s", format!("{:.2}", self.generator));
    }

    pub fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            server: self.server - before.server,
            db: self.db.zip(before.db).map(|(after, before)| after - before),
            generator: self.generator - before.generator,
        }
    }
}

/// What one subscriber records: the stream it is on, every seq, and every latency
/// (microseconds). Handed to `done` when the subscriber's task ends, however it ends: the run
/// stops its subscribers by aborting their tasks, which drops this.
///
/// Latencies are kept as a plain list and merged into one histogram at the end: a histogram per
/// subscriber grows its bucket array on first use, and 10,000 of them doing so at the first event
/// stalled the generator for about half a second, which it then counted as delivery latency.
struct Record {
    k: usize,
    tracker: SeqTracker,
    latency: Vec<u32>,
    done: Option<oneshot::Sender<Recorded>>,
}

/// A subscriber's stream, seqs and latencies, once it has stopped.
type Recorded = (usize, SeqTracker, Vec<u32>);

impl Drop for Record {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let tracker = std::mem::take(&mut self.tracker);
            let _ = done.send((self.k, tracker, std::mem::take(&mut self.latency)));
        }
    }
}

/// One subscriber: records every event's seq and latency until its task is aborted or the
/// socket ends.
///
/// The socket is the only thing it waits on. Waiting on a stop signal beside it cost a poll of
/// that signal at every wake-up, about 4% of the generator's CPU; aborting the task instead
/// costs nothing until it happens.
async fn read(mut ws: super::api::Socket, sent: Sent, progress: Arc<Progress>, mut record: Record) {
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Text(text)) => {
                let now = Instant::now();
                let [seq, notes] = probe::fields(text.as_bytes(), [b"seq", b"notes"]);
                let Some(seq) = probe::integer(seq) else {
                    continue;
                };
                record.tracker.record(seq);
                progress.received.fetch_add(1, Ordering::Relaxed);
                let tag = probe::string(notes).and_then(|t| t.strip_prefix(b"t"));
                let at =
                    probe::integer(tag).and_then(|n| sent.get(usize::try_from(n).ok()?)?.get());
                if let Some(at) = at {
                    let us = u32::try_from(now.duration_since(*at).as_micros()).unwrap_or(u32::MAX);
                    record.latency.push(us);
                    // Most frames are not the slowest yet: read before writing the shared line.
                    if u64::from(us) > progress.worst_us.load(Ordering::Relaxed) {
                        progress.worst_us.fetch_max(us.into(), Ordering::Relaxed);
                    }
                }
            }
            Ok(Message::Ping(p)) => {
                let _ = ws.send(Message::Pong(p)).await;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    /// A stand-in for nchan's publisher endpoint that answers each POST after a pause with
    /// `status` (e.g. `202 Accepted`) and records, in arrival order, each body's seq and how
    /// many POSTs were open at once.
    async fn slow_publisher(
        status: &'static str,
    ) -> (String, Arc<std::sync::Mutex<Vec<(i64, usize)>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let open = Arc::new(AtomicU64::new(0));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (seen, open) = (record.clone(), open.clone());
                tokio::spawn(async move {
                    let mut conn = BufReader::new(socket);
                    loop {
                        let mut length = 0;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(v) =
                                line.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                length = v.trim().parse().unwrap();
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; length];
                        conn.read_exact(&mut body).await.unwrap();
                        let seq = serde_json::from_slice::<Value>(&body).unwrap()["seq"]
                            .as_i64()
                            .unwrap();
                        let at_once = open.fetch_add(1, Ordering::SeqCst) as usize + 1;
                        seen.lock().unwrap().push((seq, at_once));
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        open.fetch_sub(1, Ordering::SeqCst);
                        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                        conn.get_mut().write_all(answer.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        (base, seen)
    }

    #[tokio::test]
    async fn one_channels_publishes_reach_nchan_one_at_a_time_in_seq_order() {
        let (base, seen) = slow_publisher("202 Accepted").await;
        let target = Arc::new(Target::nchan(&base, 1));
        // As the publisher does when a channel's POST is slower than its turn comes round.
        let publishes: Vec<_> = (0..6)
            .map(|n| {
                let target = target.clone();
                tokio::spawn(async move { publish(&target, 0, n).await })
            })
            .collect();
        for p in publishes {
            assert_eq!(p.await.unwrap(), Ok(()));
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, (1..=6).map(|seq| (seq, 1)).collect::<Vec<_>>());
        assert_eq!(target.last_seq(0).await.unwrap(), 6);
    }

    #[tokio::test]
    async fn a_refused_publish_is_a_failure_with_its_status_and_takes_no_seq() {
        let (base, seen) = slow_publisher("500 Internal Server Error").await;
        let target = Target::nchan(&base, 1);
        assert_eq!(publish(&target, 0, 0).await, Err("HTTP 500".to_string()));
        assert_eq!(publish(&target, 0, 1).await, Err("HTTP 500".to_string()));
        assert_eq!(
            *seen.lock().unwrap(),
            [(1, 1), (1, 1)],
            "the seq was not used up"
        );
        assert_eq!(target.last_seq(0).await.unwrap(), 0);
        let kinds = BTreeMap::from([("HTTP 500".to_string(), 2), ("timeout (10 s)".into(), 1)]);
        assert_eq!(failure_kinds(&kinds), "HTTP 500: 2, timeout (10 s): 1");
        assert_eq!(failure_kinds(&BTreeMap::new()), "none");
    }
}
