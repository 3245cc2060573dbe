//! The PostgreSQL engine: the broker (`PgBroker`, LISTEN/NOTIFY) and the history (`PgHistory`).
//!
//! One dedicated connection per process LISTENs on the events channel. NOTIFY delivers only
//! committed events, in commit order, to every process, so this one path serves a single
//! process and many alike; every process hears every topic, so following and unfollowing cost
//! nothing here. Notifications sent while the connection is down are gone; after each
//! reconnect every socket catches up from its last seq (and check that its session
//! still stands). The same connection hears revoked sessions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, WrapFuture};
use deadpool_postgres::Pool;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls, Notification};

use super::broker::{Broker, History, Subscribers};
use super::viewer::Revocation;
use crate::db::{self, DbError};
use crate::domain::topic::Topic;
use crate::events::{self, Encoded};

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
}

impl PgBroker {
    pub fn new(config: tokio_postgres::Config, pool: Pool) -> Self {
        PgBroker {
            config,
            pool,
            listener: Mutex::default(),
        }
    }
}

impl Broker for PgBroker {
    fn start(&self, to: Box<dyn Subscribers>) {
        let listener = Listener {
            config: self.config.clone(),
            pool: self.pool.clone(),
            to: to.into(),
        }
        .start();
        *self.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(listener);
    }

    // LISTEN hears every topic.
    fn follow(&self, _: Topic) {}

    fn unfollow(&self, _: Topic) {}

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
    pool: Pool,
    /// This process's sockets (the hub).
    to: Arc<dyn Subscribers>,
}

impl Actor for Listener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (config, pool, to) = (self.config.clone(), self.pool.clone(), self.to.clone());
        ctx.spawn(
            listen_forever(config, pool, to)
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

async fn listen_forever(config: tokio_postgres::Config, pool: Pool, to: Arc<dyn Subscribers>) {
    let mut retry = FIRST_RETRY;
    loop {
        match listen_once(&config, &pool, to.as_ref()).await {
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
    to: &dyn Subscribers,
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
            "LISTEN {}; LISTEN {}; LISTEN {}",
            events::CHANNEL,
            events::REVOCATIONS_CHANNEL,
            events::POSITIONS_CHANNEL
        ))
        .await?;
    tracing::info!("listening for events");
    // Anything committed while we were not listening is caught up from the database.
    to.resync_all();
    while let Some(notification) = rx.recv().await {
        if notification.channel() == events::REVOCATIONS_CHANNEL {
            match parse_revocation(notification.payload()) {
                Some(revocation) => to.revoke(revocation),
                None => tracing::warn!(payload = notification.payload(), "unreadable revocation"),
            }
        } else if notification.channel() == events::POSITIONS_CHANNEL {
            if let Some(event) = decode_position(notification.payload()) {
                to.publish(event);
            }
        } else if let Some(event) = decode(pool, notification.payload()).await {
            to.publish(event);
        }
    }
    drop(client);
    driver.abort();
    Ok(())
}

/// `<user id>:<token version>` or `link:<link id>`, as the database's triggers write them.
fn parse_revocation(payload: &str) -> Option<Revocation> {
    let (left, right) = payload.split_once(':')?;
    if left == "link" {
        return Some(Revocation::Link(right.parse().ok()?));
    }
    Some(Revocation::User {
        user_id: left.parse().ok()?,
        token_version: right.parse().ok()?,
    })
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
        return Some(Encoded::stored(topic, header.seq, payload.to_string()));
    }
    // On failure the subscriber sees a gap at the next event and catches up then.
    db::events::load(pool, topic, header.seq)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, %topic, "cannot load referenced event"))
        .ok()
        .flatten()
}

#[derive(Deserialize)]
struct PositionHeader {
    topic: String,
}

/// A position as `dispatch::positions` announced it: an order topic's transient event.
fn decode_position(payload: &str) -> Option<Encoded> {
    let header: PositionHeader = serde_json::from_str(payload)
        .inspect_err(|e| tracing::warn!(error = %e, "unreadable position payload"))
        .ok()?;
    match Topic::parse(&header.topic)? {
        topic @ Topic::Order(_) => Some(Encoded {
            transient: true,
            ..Encoded::stored(topic, 0, payload.to_string())
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_kinds_of_revocation_and_nothing_else() {
        let user = Revocation::User {
            user_id: 7,
            token_version: 3,
        };
        assert_eq!(parse_revocation("7:3"), Some(user));
        assert_eq!(parse_revocation("link:12"), Some(Revocation::Link(12)));
        for junk in ["", "7", "link:", "link:x", "x:1", "7:3:1"] {
            assert_eq!(parse_revocation(junk), None, "{junk}");
        }
    }
}
