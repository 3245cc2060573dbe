//! One actor per WebSocket connection (one user session).
//!
//! It owns the connection's subscriptions and, per topic, the last seq it sent, so the client
//! gets every event once and in order: stored events first (a snapshot, or everything after
//! `since`), live ones after, duplicates dropped and gaps filled from the database. Frames to
//! the client leave in the order the actor produced them (`outbound`); a client too slow to take
//! them is closed with 1013.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, StreamHandler,
    WrapFuture,
};
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use serde::Deserialize;
use serde_json::json;

use super::outbound::{Frame, Outbound, Refused};
use super::registry::{Connect, Disconnect, Subscribe, Unsubscribe};
use crate::access::visible_order;
use crate::db::{self, DbError};
use crate::domain::topic::Topic;
use crate::events::Encoded;
use crate::http::error::ApiError;
use crate::http::extract::AuthUser;
use crate::http::ws::SUBPROTOCOL;
use crate::state::AppState;

/// Stored events read per catch-up query; a longer backlog takes several.
const CATCH_UP_BATCH: i64 = 500;
/// Close code for an expired token: the client should log in again and reconnect.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;

pub type SocketId = u64;
static NEXT_SOCKET_ID: AtomicU64 = AtomicU64::new(1);

/// One topic's delivery state.
struct Subscription {
    /// The seq of the last event sent to the client (-1 before the snapshot).
    last_seq: i64,
    /// A query for stored events is running; live events wait in `pending` meanwhile.
    catching_up: bool,
    pending: BTreeMap<i64, Encoded>,
    /// `pending` overflowed during a catch-up: read the database again afterwards.
    overflowed: bool,
}

pub struct SocketActor {
    id: SocketId,
    user: AuthUser,
    state: web::Data<AppState>,
    /// Frames to the client, in order; a client that lets too many wait is closed (1013).
    outbound: Outbound,
    subscriptions: HashMap<Topic, Subscription>,
    /// Subscriptions authorized at the handshake, opened once the actor runs.
    initial: Vec<(Topic, Option<i64>)>,
    /// Any frame from the client proves it alive; silence for two heartbeats closes the socket.
    last_heard: Instant,
    /// Start of the current minute and the client frames in it (`ws.messages_per_minute`).
    inbound_window: (Instant, u32),
    closing: bool,
}

impl SocketActor {
    /// Upgrades the request and starts the actor with its first subscriptions (authorized).
    pub fn open(
        state: web::Data<AppState>,
        user: AuthUser,
        initial: Vec<(Topic, Option<i64>)>,
        req: &HttpRequest,
        body: web::Payload,
    ) -> Result<HttpResponse, ApiError> {
        let (response, session, stream) =
            actix_ws::handle_with_protocols(req, body, &[SUBPROTOCOL])
                .map_err(|e| ApiError::BadRequest(format!("WebSocket handshake failed: {e}")))?;
        let max = state.settings.ws.max_frame_bytes;
        let stream = stream
            .max_frame_size(max)
            .aggregate_continuations()
            .max_continuation_size(max);
        let outbound = Outbound::new(session, state.settings.ws.outbound_queue);
        SocketActor::create(|ctx| {
            ctx.add_stream(stream);
            SocketActor {
                id: NEXT_SOCKET_ID.fetch_add(1, Ordering::Relaxed),
                user,
                state,
                outbound,
                subscriptions: HashMap::new(),
                initial,
                last_heard: Instant::now(),
                inbound_window: (Instant::now(), 0),
                closing: false,
            }
        });
        Ok(response)
    }

    /// Sends a frame after those already waiting; too many waiting means a client too slow.
    fn push(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        match self.outbound.send(frame) {
            Ok(()) => {}
            Err(Refused::Full) => self.close(
                CloseCode::Again,
                "client too slow; reconnect with since",
                ctx,
            ),
            Err(Refused::Closed) => ctx.stop(),
        }
    }

    fn send_json(&mut self, value: serde_json::Value, ctx: &mut Context<Self>) {
        self.push(Frame::Text(value.to_string().into()), ctx);
    }

    fn send_error(&mut self, message: &str, ctx: &mut Context<Self>) {
        self.send_json(json!({"type": "error", "message": message}), ctx);
    }

    fn send_event(&mut self, event: Encoded, ctx: &mut Context<Self>) {
        self.state.metrics.events_delivered.inc();
        self.push(Frame::Text(event.json), ctx);
    }

    /// Sends a close frame after the frames already waiting (a client too slow for them gets
    /// it instead of them), then stops.
    fn close(&mut self, code: CloseCode, description: &str, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.closing = true;
        let reason = CloseReason {
            code,
            description: Some(description.to_string()),
        };
        self.outbound.close(reason, code == CloseCode::Again);
        ctx.stop();
    }

    /// Registers with the registry, then reads the snapshot (no `since`) or the stored events
    /// after `since`. Live events arriving meanwhile wait, so nothing slips between the two.
    fn subscribe(&mut self, topic: Topic, since: Option<i64>, ctx: &mut Context<Self>) {
        self.subscriptions.insert(
            topic,
            Subscription {
                last_seq: since.unwrap_or(-1),
                catching_up: true,
                pending: BTreeMap::new(),
                overflowed: false,
            },
        );
        let registry = self.state.registry.clone();
        let pool = self.state.pool.clone();
        let message = Subscribe {
            socket: self.id,
            topic,
            addr: ctx.address(),
        };
        let fetch = async move {
            registry.send(message).await?;
            Ok(match since {
                Some(after) => db::events::after(&pool, topic, after, CATCH_UP_BATCH).await?,
                None => db::events::snapshot(&pool, topic)
                    .await?
                    .into_iter()
                    .collect(),
            })
        };
        self.run_fetch(topic, fetch, ctx);
    }

    fn catch_up(&mut self, topic: Topic, ctx: &mut Context<Self>) {
        let Some(sub) = self.subscriptions.get_mut(&topic) else {
            return;
        };
        sub.catching_up = true;
        let after = sub.last_seq.max(0);
        let pool = self.state.pool.clone();
        let fetch =
            async move { Ok(db::events::after(&pool, topic, after, CATCH_UP_BATCH).await?) };
        self.run_fetch(topic, fetch, ctx);
    }

    fn run_fetch(
        &mut self,
        topic: Topic,
        fetch: impl std::future::Future<Output = Result<Vec<Encoded>, FetchError>> + 'static,
        ctx: &mut Context<Self>,
    ) {
        ctx.spawn(
            fetch
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(events) => act.on_fetched(topic, events, ctx),
                    Err(e) => {
                        tracing::warn!(error = %e, %topic, "catch-up failed");
                        act.send_error("could not read stored events; reconnect with since", ctx);
                        act.close(CloseCode::Error, "catch-up failed", ctx);
                    }
                }),
        );
    }

    fn on_fetched(&mut self, topic: Topic, events: Vec<Encoded>, ctx: &mut Context<Self>) {
        let full = events.len() as i64 >= CATCH_UP_BATCH;
        for event in events {
            self.deliver_in_order(topic, event, ctx);
        }
        let Some(sub) = self.subscriptions.get_mut(&topic) else {
            return;
        };
        if full || std::mem::take(&mut sub.overflowed) {
            return self.catch_up(topic, ctx);
        }
        sub.catching_up = false;
        let pending = std::mem::take(&mut sub.pending);
        for (_, event) in pending {
            self.on_live(topic, event, ctx);
        }
    }

    /// Sends `event` if it is newer than the last one sent; older ones are duplicates.
    fn deliver_in_order(&mut self, topic: Topic, event: Encoded, ctx: &mut Context<Self>) {
        let Some(sub) = self.subscriptions.get_mut(&topic) else {
            return;
        };
        if event.seq > sub.last_seq {
            sub.last_seq = event.seq;
            self.send_event(event, ctx);
        }
    }

    fn on_live(&mut self, topic: Topic, event: Encoded, ctx: &mut Context<Self>) {
        let queue_limit = self.state.settings.ws.outbound_queue;
        let Some(sub) = self.subscriptions.get_mut(&topic) else {
            return;
        };
        if sub.catching_up {
            if sub.pending.len() < queue_limit {
                sub.pending.insert(event.seq, event);
            } else {
                sub.overflowed = true;
            }
            return;
        }
        if event.seq <= sub.last_seq {
            return;
        }
        if event.seq == sub.last_seq + 1 {
            return self.deliver_in_order(topic, event, ctx);
        }
        // A gap: something was missed (a listener reconnect); read it from the database.
        sub.pending.insert(event.seq, event);
        self.catch_up(topic, ctx);
    }

    /// Counts a client frame; true once the socket sent more than its minute allows.
    fn flooding(&mut self) -> bool {
        let (start, count) = &mut self.inbound_window;
        if start.elapsed() >= crate::http::rate_limit::WINDOW {
            *start = Instant::now();
            *count = 0;
        }
        *count += 1;
        *count > self.state.settings.ws.messages_per_minute
    }

    fn handle_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        let frame: ClientFrame = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(_) => return self.send_error(
                "unknown message; expected {\"type\":\"subscribe\"|\"unsubscribe\"|\"ping\", ...}",
                ctx,
            ),
        };
        match frame {
            ClientFrame::Ping => self.send_json(json!({"type": "pong"}), ctx),
            ClientFrame::Unsubscribe { topic } => match Topic::parse(&topic) {
                Some(topic) if self.subscriptions.remove(&topic).is_some() => {
                    self.state.registry.do_send(Unsubscribe {
                        socket: self.id,
                        topic,
                    });
                    self.send_json(json!({"type": "unsubscribed", "topic": topic}), ctx);
                }
                _ => self.send_error("not subscribed to that topic", ctx),
            },
            ClientFrame::Subscribe { topic, since } => {
                let Some(topic) = Topic::parse(&topic) else {
                    return self.send_error("topic must be order:{id} or user:{id}", ctx);
                };
                if since.is_some_and(|s| s < 0) {
                    return self.send_error("since must be at least 0", ctx);
                }
                let (state, user) = (self.state.clone(), self.user.clone());
                // Every subscription is authorized on its own, not only the connection.
                let check = async move { authorize(&state, &user, topic).await };
                ctx.spawn(
                    check
                        .into_actor(self)
                        .map(move |result, act, ctx| match result {
                            Ok(()) => {
                                act.send_json(json!({"type": "subscribed", "topic": topic}), ctx);
                                act.subscribe(topic, since, ctx);
                            }
                            Err(e) => act.send_json(
                                json!({"type": "error", "topic": topic, "message": e.to_string()}),
                                ctx,
                            ),
                        }),
                );
            }
        }
    }
}

/// Whether `user` may follow `topic`: their own orders (staff: any order), their own user topic.
pub async fn authorize(state: &AppState, user: &AuthUser, topic: Topic) -> Result<(), ApiError> {
    match topic {
        Topic::Order(id) => visible_order(&state.pool, user, id).await.map(|_| ()),
        Topic::User(id) if id == user.id() => Ok(()),
        Topic::User(_) => Err(ApiError::NotFound("Topic")),
    }
}

/// Why stored events could not be read for a subscriber.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("registry unavailable: {0}")]
    Registry(#[from] actix::MailboxError),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ClientFrame {
    Subscribe { topic: String, since: Option<i64> },
    Unsubscribe { topic: String },
    Ping,
}

impl Actor for SocketActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.state.metrics.open_sockets.inc();
        self.state.registry.do_send(Connect {
            socket: self.id,
            addr: ctx.address(),
        });
        let heartbeat = Duration::from_secs(self.state.settings.ws.heartbeat_secs);
        ctx.run_interval(heartbeat, move |act, ctx| {
            if act.last_heard.elapsed() > heartbeat * 2 {
                act.close(CloseCode::Policy, "no heartbeat", ctx);
            } else {
                act.push(Frame::Ping, ctx);
            }
        });
        let left = self.user.token_exp - chrono::Utc::now().timestamp();
        ctx.run_later(Duration::from_secs(left.max(0) as u64), |act, ctx| {
            act.close(CloseCode::Other(CLOSE_TOKEN_EXPIRED), "token expired", ctx);
        });
        for (topic, since) in std::mem::take(&mut self.initial) {
            self.subscribe(topic, since, ctx);
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.state.metrics.open_sockets.dec();
        self.state.registry.do_send(Disconnect { socket: self.id });
    }
}

impl StreamHandler<Result<AggregatedMessage, ProtocolError>> for SocketActor {
    fn handle(&mut self, msg: Result<AggregatedMessage, ProtocolError>, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        if self.flooding() {
            return self.close(CloseCode::Policy, "too many messages", ctx);
        }
        match msg {
            Ok(AggregatedMessage::Text(text)) => self.handle_text(&text, ctx),
            Ok(AggregatedMessage::Ping(bytes)) => self.push(Frame::Pong(bytes), ctx),
            Ok(AggregatedMessage::Pong(_)) => {}
            Ok(AggregatedMessage::Binary(_)) => {
                self.send_error("binary frames are not supported", ctx)
            }
            Ok(AggregatedMessage::Close(_)) => self.close(CloseCode::Normal, "bye", ctx),
            Err(ProtocolError::Overflow) => self.close(CloseCode::Size, "frame too large", ctx),
            Err(e) => {
                tracing::debug!(error = %e, "websocket protocol error");
                self.close(CloseCode::Protocol, "protocol error", ctx);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// A committed event for one of this socket's topics, from the registry.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Encoded);

impl Handler<Deliver> for SocketActor {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, ctx: &mut Context<Self>) {
        self.on_live(event.topic, event, ctx);
    }
}

/// Events may have been missed (the listener reconnected): read them from the database.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync;

impl Handler<Resync> for SocketActor {
    type Result = ();

    fn handle(&mut self, _: Resync, ctx: &mut Context<Self>) {
        let idle: Vec<Topic> = self
            .subscriptions
            .iter()
            .filter(|(_, s)| !s.catching_up)
            .map(|(t, _)| *t)
            .collect();
        for topic in idle {
            self.catch_up(topic, ctx);
        }
    }
}

/// The server is shutting down.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ServerClosing;

impl Handler<ServerClosing> for SocketActor {
    type Result = ();

    fn handle(&mut self, _: ServerClosing, ctx: &mut Context<Self>) {
        self.close(CloseCode::Away, "server shutting down", ctx);
    }
}
