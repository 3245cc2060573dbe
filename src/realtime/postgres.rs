//! The listener: one dedicated PostgreSQL connection per node, LISTENing on the events channel.
//!
//! NOTIFY delivers only committed events, in commit order, to every node, so this one path
//! serves a single process and many processes alike. Notifications sent while the connection is
//! down are gone; after each reconnect the registries have every socket catch up from its last seq
//! (and check that its session still stands). The same connection hears revoked sessions.

use std::time::Duration;

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, WrapFuture};
use deadpool_postgres::Pool;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls, Notification};

use super::registries::Registries;
use crate::db;
use crate::domain::topic::Topic;
use crate::events::{self, Encoded};

const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// Notifications read from the connection but not yet published, at most.
const NOTIFICATION_BACKLOG: usize = 4096;

pub struct PgListener {
    /// Where to open the LISTEN connection (the pool's connections are not kept long enough).
    config: tokio_postgres::Config,
    /// To load events whose NOTIFY carried only a reference.
    pool: Pool,
    registries: Registries,
}

impl PgListener {
    pub fn new(config: tokio_postgres::Config, pool: Pool, registries: Registries) -> Self {
        PgListener {
            config,
            pool,
            registries,
        }
    }
}

impl Actor for PgListener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (config, pool, registries) = (
            self.config.clone(),
            self.pool.clone(),
            self.registries.clone(),
        );
        ctx.spawn(
            listen_forever(config, pool, registries)
                .into_actor(self)
                .map(|_, _, ctx| ctx.stop()),
        );
    }
}

/// Stops listening, before the database goes away at shutdown (dropping the loop quietly).
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct StopListening;

impl actix::Handler<StopListening> for PgListener {
    type Result = ();

    fn handle(&mut self, _: StopListening, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

async fn listen_forever(config: tokio_postgres::Config, pool: Pool, registries: Registries) {
    let mut retry = FIRST_RETRY;
    loop {
        match listen_once(&config, &pool, &registries).await {
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
    pool: &Pool,
    registries: &Registries,
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
    client
        .batch_execute(&format!(
            "LISTEN {}; LISTEN {}",
            events::CHANNEL,
            events::REVOCATIONS_CHANNEL
        ))
        .await?;
    tracing::info!("listening for events");
    // Anything committed while we were not listening is caught up from the database.
    registries.resync_all();
    while let Some(notification) = rx.recv().await {
        if notification.channel() == events::REVOCATIONS_CHANNEL {
            match parse_revocation(notification.payload()) {
                Some((user_id, version)) => registries.revoke(user_id, version),
                None => tracing::warn!(payload = notification.payload(), "unreadable revocation"),
            }
        } else if let Some(event) = decode(pool, notification.payload()).await {
            registries.publish(event);
        }
    }
    drop(client);
    driver.abort();
    Ok(())
}

/// `<user id>:<token version>`, as the database's trigger writes it.
fn parse_revocation(payload: &str) -> Option<(i64, i32)> {
    let (user, version) = payload.split_once(':')?;
    Some((user.parse().ok()?, version.parse().ok()?))
}

#[derive(Deserialize)]
struct Header {
    topic: String,
    seq: i64,
    #[serde(default, rename = "ref")]
    by_reference: bool,
}

/// The event a payload carries, loading it when the payload is only a reference.
async fn decode(pool: &Pool, payload: &str) -> Option<Encoded> {
    let header: Header = serde_json::from_str(payload)
        .inspect_err(|e| tracing::warn!(error = %e, "unreadable event payload"))
        .ok()?;
    let topic = Topic::parse(&header.topic)?;
    if !header.by_reference {
        return Some(Encoded {
            topic,
            seq: header.seq,
            json: payload.to_string().into(),
        });
    }
    // On failure the subscriber sees a gap at the next event and catches up then.
    db::events::load(pool, topic, header.seq)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, %topic, "cannot load referenced event"))
        .ok()
        .flatten()
}
