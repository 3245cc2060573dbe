//! `loadgen`: the load generator for order-tracker and its baselines.
//!
//! ```text
//! cargo run --release --bin loadgen -- --admin admin@example.com --password '...' fanout --subscribers 10000 --streams 100 --rate 100
//! cargo run --release --bin loadgen -- --admin ... idle --sockets 10000 --server-pid 1234
//! cargo run --release --bin loadgen -- --admin ... status --clients 16
//! cargo run --release --bin loadgen -- --admin ... share --viewers 10000 --owners 100 --rate 10
//! cargo run --release --bin loadgen -- --admin ... locations --drivers 1000 --database-url 'host=data/postgres user=postgres dbname=order_tracker'
//! cargo run --release --bin loadgen -- --admin ... board --sockets 200 --orders 200 --rate 200
//! cargo run --release --bin loadgen -- pgbench-script > status.sql
//! cargo run --release --bin loadgen -- fanout --nchan http://127.0.0.1:8081 --subscribers 10000 --streams 100 --rate 100
//! ```
//! Prints a Markdown table and, with `--json FILE`, writes the same as JSON.

mod accounting;
mod api;
mod board;
mod fanout;
mod idle;
mod locations;
mod pgbench;
mod probe;
mod report;
mod share;
mod status;
mod sys;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "loadgen", about = "Load generator for order-tracker")]
struct Cli {
    /// The server(s); several for `idle` and `fanout` across processes.
    #[arg(long, default_value = "http://127.0.0.1:8080", global = true)]
    url: Vec<String>,
    /// An admin's email or username (create one with `order-tracker user create --role admin`).
    #[arg(long, global = true)]
    admin: Option<String>,
    #[arg(long, global = true, default_value = "")]
    password: String,
    /// Server process ids, to read their memory and CPU time from /proc.
    #[arg(long = "server-pid", global = true)]
    server_pids: Vec<u32>,
    /// The database's main process (PostgreSQL's postmaster), to read the CPU time of it and its
    /// backends from /proc.
    #[arg(long = "db-pid", global = true)]
    db_pid: Option<u32>,
    /// Also write the results here as JSON.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Subscribers over streams, a publisher at a fixed rate.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        #[arg(long, default_value_t = 10)]
        streams: usize,
        #[arg(long, default_value_t = 100)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Measure nchan at this address instead of order-tracker.
        #[arg(long)]
        nchan: Option<String>,
    },
    /// Idle subscribed sockets; memory per socket.
    Idle {
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
        #[arg(long, default_value_t = 5)]
        settle_seconds: u64,
        /// Make the closing status change through this server instead of the first `--url`.
        #[arg(long)]
        via: Option<String>,
    },
    /// Staff clients updating distinct orders as fast as they can.
    Status {
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Anonymous viewers of one share link and owners of their own orders, while the shared
    /// order changes at a fixed rate; then the tracking page's first-load weight.
    Share {
        #[arg(long, default_value_t = 10000)]
        viewers: usize,
        #[arg(long, default_value_t = 100)]
        owners: usize,
        #[arg(long, default_value_t = 10)]
        rate: u32,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Drivers each sending their order's position once a second, three subscribers per order.
    Locations {
        #[arg(long, default_value_t = 1000)]
        drivers: usize,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// The server's `dispatch.location_persist_secs`, for the bound on database writes.
        #[arg(long, default_value_t = 5.0)]
        persist_secs: f64,
        /// The server's database (e.g. `host=data/postgres user=postgres dbname=order_tracker`),
        /// to count the positions written; without it they are not reported.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Staff sockets on the board while orders change at a fixed rate.
    Board {
        #[arg(long, default_value_t = 200)]
        sockets: usize,
        #[arg(long, default_value_t = 200)]
        orders: usize,
        #[arg(long, default_value_t = 200)]
        rate: u32,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Print the pgbench script of the `status` baseline: the server's own statement.
    PgbenchScript,
}

#[tokio::main]
async fn main() -> Result<(), api::Error> {
    let cli = Cli::parse();
    let limit = sys::raise_fd_limit();
    eprintln!("open-file limit: {limit}");
    let apis: Vec<api::Api> = cli.url.iter().map(|u| api::Api::new(u)).collect();
    let admin_token = || async {
        let admin = cli
            .admin
            .as_deref()
            .ok_or("--admin is required for this scenario")?;
        apis[0].login(admin, &cli.password).await
    };
    let report = match cli.scenario {
        Scenario::Fanout {
            subscribers,
            streams,
            rate,
            seconds,
            nchan,
        } => {
            let target = match nchan {
                Some(base) => fanout::Target::nchan(&base, streams),
                None => {
                    fanout::Target::order_tracker(apis.clone(), admin_token().await?, streams)
                        .await?
                }
            };
            let args = fanout::Args {
                subscribers,
                rate,
                duration: Duration::from_secs(seconds),
                server_pids: cli.server_pids.clone(),
                db_pid: cli.db_pid,
            };
            fanout::run(target, args).await?
        }
        Scenario::Idle {
            sockets,
            settle_seconds,
            via,
        } => {
            let args = idle::Args {
                sockets,
                via: via.as_deref().map(api::Api::new),
                server_pids: cli.server_pids.clone(),
                settle: Duration::from_secs(settle_seconds),
            };
            idle::run(apis.clone(), admin_token().await?, args).await?
        }
        Scenario::Status { clients, seconds } => {
            status::run(
                apis[0].clone(),
                admin_token().await?,
                clients,
                Duration::from_secs(seconds),
            )
            .await?
        }
        Scenario::Share {
            viewers,
            owners,
            rate,
            seconds,
        } => {
            let args = share::Args {
                viewers,
                owners,
                rate,
                duration: Duration::from_secs(seconds),
                server_pids: cli.server_pids.clone(),
                db_pid: cli.db_pid,
            };
            share::run(apis[0].clone(), admin_token().await?, args).await?
        }
        Scenario::Locations {
            drivers,
            seconds,
            persist_secs,
            database_url,
        } => {
            let args = locations::Args {
                drivers,
                duration: Duration::from_secs(seconds),
                persist_secs,
                database_url,
                server_pids: cli.server_pids.clone(),
                db_pid: cli.db_pid,
            };
            locations::run(apis[0].clone(), admin_token().await?, args).await?
        }
        Scenario::Board {
            sockets,
            orders,
            rate,
            seconds,
        } => {
            let args = board::Args {
                sockets,
                orders,
                rate,
                duration: Duration::from_secs(seconds),
                server_pids: cli.server_pids.clone(),
                db_pid: cli.db_pid,
            };
            board::run(apis[0].clone(), admin_token().await?, args).await?
        }
        Scenario::PgbenchScript => {
            print!("{}", pgbench::script());
            return Ok(());
        }
    };
    println!("{}", report.markdown());
    if let Some(path) = cli.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
