//! The NATS engine: committed events travel between server processes on a NATS server, one
//! subject per topic (`subjects`), while PostgreSQL stays the record and the source of `seq`.
//!
//! - Publishing: announcements are outbox rows written by the committing transaction, and the
//!   relay (`relay`) publishes them after commit, in commit order per topic, and deletes them
//!   once published. A process that dies before publishing leaves its rows for the next relay;
//!   a row published twice is dropped by subscribers, which take each seq once.
//! - Subscribing: a process subscribes to a topic's subjects while any of its sockets follow
//!   the topic, and unsubscribes when the last one leaves, so it receives nothing it would
//!   drop. Once a new subscription is known to be in place (a round trip through the server
//!   after it), the topic's sockets read the history again: an event committed while the
//!   subscription was on its way is found there.
//! - NATS down: sockets keep what they have; the outbox keeps what commits meanwhile. When the
//!   connection is back (the client subscribes again by itself), every socket catches up from
//!   the history, and the relay publishes what waited.

pub mod relay;
pub mod seal;
pub mod subjects;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, ConnectOptions, Event};
use deadpool_postgres::Pool;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use self::relay::Relay;
use self::seal::Seal;
use self::subjects::Subjects;
use super::announcement::{Channel, Inbound};
use super::broker::{Broker, Subscribers};
use crate::config::BrokerSettings;
use crate::domain::topic::Topic;

/// The longest wait between two tries to reach a NATS server that is down.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// The largest payload the relay publishes: an announcement fits a NOTIFY
/// (`events::MAX_NOTIFY_BYTES`, larger events travel by reference), with a seq spliced in.
const MAX_MESSAGE_BYTES: usize = 8192;
/// After messages were dropped, how long to let the burst of drops end before catching up.
const SLOW_CONSUMER_PAUSE: Duration = Duration::from_millis(500);
/// How long a round trip through the server may take before a new subscription is taken as
/// not confirmed (the reconnect's catch-up then covers it).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

pub struct NatsBroker {
    client: Client,
    subjects: Subjects,
    /// This process's own echo subject, answered by itself: a request to it returns after the
    /// server has handled everything this process sent before it.
    echo: String,
    /// To load events announced by reference.
    pool: Pool,
    /// The relay's own connection is opened from this.
    pg_config: tokio_postgres::Config,
    settings: BrokerSettings,
    /// Signs what the relay publishes; what arrives without it is dropped.
    seal: Seal,
    /// `broker_events_received` of `/metrics`.
    received: Counter,
    /// Connection events (reconnected, messages dropped), until `start` takes them.
    events: Mutex<Option<mpsc::UnboundedReceiver<Event>>>,
    /// The subscriptions of followed topics, once started.
    follows: Mutex<Option<Follows>>,
    /// Every order's positions are subscribed to here (the board is followed), so an order's
    /// own position subscription would only repeat them: it hands nothing over meanwhile.
    all_positions: Arc<AtomicBool>,
    /// Stops the relay, the echo responder and the event loop.
    stop: watch::Sender<bool>,
}

/// What `start` sets up: where announcements go and the subscriptions made for them.
struct Follows {
    /// Reads each new subscription into the hub.
    reader: Reader,
    /// Per subject: how many followed topics on how many threads need it, and the task that
    /// reads it.
    subscriptions: HashMap<String, (usize, JoinHandle<()>)>,
}

impl NatsBroker {
    /// Starts connecting (in the background: a NATS server that is down now is tried again
    /// until it is up) and returns at once.
    pub async fn connect(
        settings: &BrokerSettings,
        server_secret: &[u8],
        pg_config: tokio_postgres::Config,
        pool: Pool,
        received: Counter,
    ) -> Result<Self, async_nats::ConnectError> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let client = ConnectOptions::new()
            .name("order-tracker")
            .retry_on_initial_connect()
            .reconnect_delay_callback(|attempts| {
                let delay = Duration::from_millis(50 << attempts.min(8) as u32);
                delay.min(MAX_RECONNECT_DELAY)
            })
            .event_callback(move |event| {
                let _ = events_tx.send(event);
                async {}
            })
            .connect(settings.nats_url.as_str())
            .await?;
        let subjects = Subjects::new(&settings.subject_prefix);
        let echo = subjects.echo(&async_nats::Client::new_inbox(&client).replace('.', "_"));
        Ok(NatsBroker {
            client,
            subjects,
            echo,
            pool,
            pg_config,
            settings: settings.clone(),
            seal: Seal::new(server_secret),
            received,
            events: Mutex::new(Some(events_rx)),
            follows: Mutex::default(),
            all_positions: Arc::default(),
            stop: watch::channel(false).0,
        })
    }

    fn follows(&self) -> MutexGuard<'_, Option<Follows>> {
        // Nothing panics while holding it, but a poisoned map is still a good map.
        self.follows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Broker for NatsBroker {
    fn start(&self, to: Box<dyn Subscribers>) {
        let inbound = Arc::new(Inbound {
            pool: self.pool.clone(),
            to,
            received: self.received.clone(),
        });
        let reader = Reader {
            client: self.client.clone(),
            inbound,
            seal: self.seal.clone(),
            echo: self.echo.clone(),
        };
        *self.follows() = Some(Follows {
            reader: reader.clone(),
            subscriptions: HashMap::new(),
        });
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner()).take();
        let stop = self.stop.subscribe();
        tokio::spawn(stopping(stop.clone(), reader.clone().answer_echoes()));
        let revocations = self.subjects.revocations();
        tokio::spawn(stopping(
            stop.clone(),
            reader
                .clone()
                .read(revocations, Channel::Revocations, None, None),
        ));
        if let Some(events) = events {
            tokio::spawn(stopping(stop.clone(), reader.on_connection_events(events)));
        }
        let relay = Relay::new(
            self.pg_config.clone(),
            self.client.clone(),
            self.subjects.clone(),
            self.seal.clone(),
            &self.settings,
        );
        tokio::spawn(stopping(stop, relay.run()));
    }

    fn follow(&self, topic: Topic) {
        let mut follows = self.follows();
        let Some(follows) = follows.as_mut() else {
            return;
        };
        let all_positions = self.subjects.all_positions();
        for (subject, channel) in self.subjects.followed(topic) {
            if subject == all_positions {
                self.all_positions.store(true, Ordering::Relaxed);
            }
            let (count, _) = follows
                .subscriptions
                .entry(subject.clone())
                .or_insert_with(|| {
                    // Positions are never stored: nothing to read again.
                    let resync = (channel == Channel::Events).then(|| topic.source());
                    let covered = (channel == Channel::Positions && subject != all_positions)
                        .then(|| self.all_positions.clone());
                    let task = follows
                        .reader
                        .clone()
                        .read(subject, channel, resync, covered);
                    (0, tokio::spawn(task))
                });
            *count += 1;
        }
    }

    fn unfollow(&self, topic: Topic) {
        let mut follows = self.follows();
        let Some(follows) = follows.as_mut() else {
            return;
        };
        for (subject, _) in self.subjects.followed(topic) {
            if let Some((count, task)) = follows.subscriptions.get_mut(&subject) {
                *count -= 1;
                if *count == 0 {
                    // Dropping the subscriber unsubscribes.
                    task.abort();
                    follows.subscriptions.remove(&subject);
                    if subject == self.subjects.all_positions() {
                        self.all_positions.store(false, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    fn stop(&self) -> BoxFuture<'static, ()> {
        self.stop.send_replace(true);
        if let Some(follows) = self.follows().as_mut() {
            for (_, (_, task)) in follows.subscriptions.drain() {
                task.abort();
            }
        }
        let client = self.client.clone();
        async move {
            // What the relay handed the client goes out before the process ends.
            let _ = tokio::time::timeout(CONFIRM_TIMEOUT, client.flush()).await;
        }
        .boxed()
    }
}

/// Runs `work` until the broker stops.
async fn stopping(mut stop: watch::Receiver<bool>, work: impl std::future::Future<Output = ()>) {
    tokio::select! {
        _ = stop.wait_for(|stopped| *stopped) => {}
        _ = work => {}
    }
}

/// Reads subjects into the hub, and knows when the server has caught up with us.
#[derive(Clone)]
struct Reader {
    client: Client,
    inbound: Arc<Inbound>,
    seal: Seal,
    /// This process's echo subject (`NatsBroker::echo`).
    echo: String,
}

impl Reader {
    /// Reads one subject's messages for as long as the task runs (while a topic is followed
    /// here; revocations always). With `resync`, once the subscription is in place, the
    /// topic's sockets read the history again. With `covered`, nothing is handed over while
    /// it is set: another subscription of this process carries the same messages.
    async fn read(
        self,
        subject: String,
        channel: Channel,
        resync: Option<Topic>,
        covered: Option<Arc<AtomicBool>>,
    ) {
        let mut messages = match self.client.subscribe(subject.clone()).await {
            Ok(messages) => messages,
            Err(e) => {
                // Only a client that was closed refuses; the process is stopping.
                tracing::warn!(error = %e, subject, "cannot subscribe");
                return;
            }
        };
        if let Some(source) = resync {
            if self.confirm().await {
                self.inbound.to.resync(source);
            }
        }
        while let Some(message) = messages.next().await {
            if covered.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                continue;
            }
            if message.payload.len() > MAX_MESSAGE_BYTES {
                // Never ours: no use reading it through.
                tracing::warn!(
                    subject,
                    bytes = message.payload.len(),
                    "oversized message dropped"
                );
                continue;
            }
            if !self
                .seal
                .verifies(&message.subject, message.headers.as_ref(), &message.payload)
            {
                tracing::warn!(subject, "unsealed message dropped");
                continue;
            }
            match std::str::from_utf8(&message.payload) {
                Ok(payload) => self.inbound.hand_over(channel, payload).await,
                Err(_) => tracing::warn!(subject, "announcement is not UTF-8"),
            }
        }
    }

    /// Whether everything this process sent before now has reached the server: a request to
    /// our own echo subject, answered by `answer_echoes`.
    async fn confirm(&self) -> bool {
        let request = self.client.request(self.echo.clone(), bytes::Bytes::new());
        matches!(
            tokio::time::timeout(CONFIRM_TIMEOUT, request).await,
            Ok(Ok(_))
        )
    }

    async fn answer_echoes(self) {
        let Ok(mut requests) = self.client.subscribe(self.echo.clone()).await else {
            return;
        };
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let _ = self.client.publish(reply, bytes::Bytes::new()).await;
            }
        }
    }

    /// After every (re)connection, once the client's subscriptions are in place again, every
    /// socket catches up from the history: what was published while we were away is lost to
    /// us. So too when the client had to drop messages it could not hand over in time.
    async fn on_connection_events(self, mut events: mpsc::UnboundedReceiver<Event>) {
        while let Some(event) = events.recv().await {
            match event {
                Event::Connected => {
                    tracing::info!("connected to NATS");
                    if self.confirm().await {
                        self.inbound.to.resync_all();
                    }
                }
                Event::SlowConsumer(_) => {
                    tracing::warn!("NATS messages were dropped; every socket catches up");
                    // The client tells of each message it drops: one catch-up after the burst
                    // covers them all, where one per message would read the database for every
                    // socket thousands of times (and a flood on our subjects would make it so).
                    tokio::time::sleep(SLOW_CONSUMER_PAUSE).await;
                    let mut reconnected = false;
                    while let Ok(event) = events.try_recv() {
                        reconnected |= matches!(event, Event::Connected);
                    }
                    if !reconnected || self.confirm().await {
                        self.inbound.to.resync_all();
                    }
                }
                Event::Disconnected => tracing::warn!("NATS connection lost; reconnecting"),
                _ => {}
            }
        }
    }
}
