//! The PostgreSQL engine: the broker (`PgBroker`, LISTEN/NOTIFY) and the history (`PgHistory`).
//!
//! One dedicated connection per process LISTENs on the events channel. NOTIFY delivers only
//! committed events, in commit order, to every process, so this one path serves a single
//! process and many alike; every process hears every topic, so following and unfollowing cost
//! nothing here. Notifications sent while the connection is down are gone; after each
//! reconnect every socket catches up from its last seq (and check that its session
//! still stands). The same connection hears revoked sessions and drivers' positions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, WrapFuture};
use deadpool_postgres::Pool;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls, Notification};

use super::announcement::{Channel, Inbound};
use super::broker::{Broker, History, Subscribers};
use crate::db::{self, DbError};
use crate::domain::topic::Topic;
use crate::events::Encoded;

const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// Notifications read from the connection but not yet published, at most.
const NOTIFICATION_BACKLOG: usize = 4096;

pub struct PgBroker {
    /// Where to open the LISTEN connection (the pool's connections are not kept long enough).
    config: tokio_postgres::Config,
    /// To load events whose NOTIFY carried only a reference.
    pool: Pool,
    /// The listening actor once started, so shutdown can stop it.
    listener: Mutex<Option<Addr<Listener>>>,
    /// `broker_events_received` of `/metrics`.
    received: Counter,
    /// The connection is LISTENing now, for `/readyz`.
    listening: Arc<AtomicBool>,
}

impl PgBroker {
    pub fn new(config: tokio_postgres::Config, pool: Pool, received: Counter) -> Self {
        PgBroker {
            config,
            pool,
            listener: Mutex::default(),
            received,
            listening: Arc::default(),
        }
    }
}

impl Broker for PgBroker {
    fn start(&self, to: Box<dyn Subscribers>) {
        let listener = Listener {
            config: self.config.clone(),
            inbound: Arc::new(Inbound {
                pool: self.pool.clone(),
                to,
                received: self.received.clone(),
            }),
            listening: self.listening.clone(),
        }
        .start();
        *self.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(listener);
    }

    // LISTEN hears every topic.
    fn follow(&self, _: Topic) {}

    fn unfollow(&self, _: Topic) {}

    fn connected(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    fn stop(&self) -> BoxFuture<'static, ()> {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        async move {
            if let Some(listener) = listener {
                let _ = listener.send(StopListening).await;
            }
        }
        .boxed()
    }
}

/// Stored events, read from the tables that hold each topic's history (`db::events`).
pub struct PgHistory(pub Pool);

impl History for PgHistory {
    fn after(
        &self,
        topic: Topic,
        after: i64,
        limit: i64,
    ) -> BoxFuture<'static, Result<Vec<Encoded>, DbError>> {
        let pool = self.0.clone();
        async move { db::events::after(&pool, topic, after, limit).await }.boxed()
    }

    fn snapshot(&self, topic: Topic) -> BoxFuture<'static, Result<Option<Encoded>, DbError>> {
        let pool = self.0.clone();
        async move { db::events::snapshot(&pool, topic).await }.boxed()
    }
}

/// The actor that owns the LISTEN loop, so stopping it drops the loop quietly.
struct Listener {
    config: tokio_postgres::Config,
    inbound: Arc<Inbound>,
    listening: Arc<AtomicBool>,
}

impl Actor for Listener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (config, inbound) = (self.config.clone(), self.inbound.clone());
        let listening = self.listening.clone();
        ctx.spawn(
            listen_forever(config, inbound, listening)
                .into_actor(self)
                .map(|_, _, ctx| ctx.stop()),
        );
    }
}

/// Stops listening, before the database goes away at shutdown.
#[derive(actix::Message)]
#[rtype(result = "()")]
struct StopListening;

impl actix::Handler<StopListening> for Listener {
    type Result = ();

    fn handle(&mut self, _: StopListening, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

async fn listen_forever(
    config: tokio_postgres::Config,
    inbound: Arc<Inbound>,
    listening: Arc<AtomicBool>,
) {
    let mut retry = FIRST_RETRY;
    loop {
        let listened = listen_once(&config, &inbound, &listening).await;
        listening.store(false, Ordering::Relaxed);
        match listened {
            Ok(()) => {
                tracing::warn!("event listener connection closed; reconnecting");
                retry = FIRST_RETRY;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_ms = retry.as_millis() as u64, "event listener cannot connect");
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// Listens until the connection drops. Errors only when it cannot get as far as listening.
async fn listen_once(
    config: &tokio_postgres::Config,
    inbound: &Inbound,
    listening: &AtomicBool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    // Bounded: when publishing falls behind, the driver stops reading the connection and the
    // notifications wait in PostgreSQL's own queue instead of growing our memory.
    let (tx, mut rx) = mpsc::channel::<Notification>(NOTIFICATION_BACKLOG);
    // The connection must be polled for queries to complete and notifications to arrive.
    let driver = actix::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n).await.is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "event listener connection failed");
                    break;
                }
            }
        }
    });
    let listen: Vec<String> = Channel::ALL
        .iter()
        .map(|c| format!("LISTEN {};", c.name()))
        .collect();
    client.batch_execute(&listen.concat()).await?;
    tracing::info!("listening for events");
    listening.store(true, Ordering::Relaxed);
    // Anything committed while we were not listening is caught up from the database.
    inbound.to.resync_all();
    while let Some(notification) = rx.recv().await {
        if let Some(channel) = Channel::named(notification.channel()) {
            inbound.hand_over(channel, notification.payload()).await;
        }
    }
    drop(client);
    driver.abort();
    Ok(())
}
