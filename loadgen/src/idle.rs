//! `idle`: N authenticated, subscribed sockets doing nothing, spread over one or more server
//! processes; reports the servers' memory per socket once they settle, then checks that one
//! status change reaches the subscribers on every process.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::api::{connect, Api, Error, Socket};
use super::report::Report;
use super::sys;

pub struct Args {
    pub sockets: usize,
    /// The server the closing status change is made through (to prove it crosses processes).
    pub via: Option<Api>,
    pub server_pids: Vec<u32>,
    pub settle: Duration,
}

pub async fn run(apis: Vec<Api>, admin: String, args: Args) -> Result<Report, Error> {
    let customer = apis[0].customer("idle").await?;
    let order = apis[0].create_order(&customer).await?;
    let rss_before: u64 = args
        .server_pids
        .iter()
        .filter_map(|p| sys::rss_kib(*p))
        .sum();
    let (stop, stopped) = watch::channel(false);
    let (reached_tx, mut reached_rx) = mpsc::unbounded_channel::<usize>();
    let mut holders = Vec::with_capacity(args.sockets);
    for n in 0..args.sockets {
        let server = n % apis.len();
        let url = format!(
            "{}/ws/orders/{order}",
            apis[server].base.replacen("http", "ws", 1)
        );
        let mut ws = connect(&url, Some(&customer), sys::source_for(n)).await?;
        ws.next().await.ok_or("no snapshot")??;
        holders.push(tokio::spawn(hold(
            ws,
            server,
            stopped.clone(),
            reached_tx.clone(),
        )));
        if n % 1000 == 999 {
            eprintln!("  {} sockets open", n + 1);
        }
    }
    tokio::time::sleep(args.settle).await;
    let rss_after: u64 = args
        .server_pids
        .iter()
        .filter_map(|p| sys::rss_kib(*p))
        .sum();

    let via = args.via.as_ref().unwrap_or(&apis[0]);
    via.update(&admin, order, "confirmed", "idle check").await?;
    let mut reached = vec![0usize; apis.len()];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while reached.iter().sum::<usize>() < args.sockets {
        match tokio::time::timeout_at(deadline, reached_rx.recv()).await {
            Ok(Some(server)) => reached[server] += 1,
            _ => break,
        }
    }
    let _ = stop.send(true);
    for h in holders {
        let _ = h.await;
    }
    let mut report = Report::new("idle", "order-tracker");
    report.add("sockets", args.sockets);
    report.add("server processes", apis.len());
    report.add(
        "server RSS before MiB",
        format!("{:.1}", rss_before as f64 / 1024.0),
    );
    report.add(
        "server RSS after MiB",
        format!("{:.1}", rss_after as f64 / 1024.0),
    );
    if args.sockets > 0 && !args.server_pids.is_empty() {
        report.add(
            "RSS per socket KiB",
            format!(
                "{:.2}",
                rss_after.saturating_sub(rss_before) as f64 / args.sockets as f64
            ),
        );
    }
    report.add("change reached, per process", format!("{reached:?}"));
    report.add(
        "change reached all",
        reached.iter().sum::<usize>() == args.sockets,
    );
    Ok(report)
}

/// Keeps one socket open and read (so the server's pings are answered) until told to stop;
/// reports its server when the first event arrives.
async fn hold(
    mut ws: Socket,
    server: usize,
    mut stop: watch::Receiver<bool>,
    reached: mpsc::UnboundedSender<usize>,
) {
    let mut told = false;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(_))) if !told => {
                    told = true;
                    let _ = reached.send(server);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    let _ = ws.close(None).await;
}
