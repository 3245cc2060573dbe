//! One actor per WebSocket connection (one user session).
//!
//! It opens the connection's subscriptions and sees that the client gets every event once and
//! in order: stored events first (a snapshot, or everything after `since`), live ones after,
//! duplicates dropped and gaps filled from the database. Live events in order go out from the
//! thread's registry through the delivery state it shares with this actor (`delivery`); the
//! actor gets the rest. Frames leave in the order they were produced (`outbound`); a client too
//! slow to take them is closed with 1013.

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

use super::delivery::{Delivery, Offer, SharedDelivery, Subscription};
use super::outbound::{Frame, Outbound, Refused};
use super::socket_slots::SocketSlot;
use super::subscribers::{Link, SharedSubscribers};
use crate::access::visible_order;
use crate::db::{self, users, DbError};
use crate::domain::topic::Topic;
use crate::events::Encoded;
use crate::http::error::ApiError;
use crate::http::extract::AuthUser;
use crate::http::ws::SUBPROTOCOL;
use crate::state::AppState;

/// What actix-ws says when a message's fragments add up past `ws.max_frame_bytes`.
const CONTINUATION_TOO_LARGE: &str = "Exceeded maximum continuation size";
/// Stored events read per catch-up query; a longer backlog takes several.
const CATCH_UP_BATCH: i64 = 500;
/// Close code for an expired token: the client should log in again and reconnect.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// Close code for a revoked session (log out everywhere, a role or password change, two-factor
/// switched on, the user deleted): the client should log in again and reconnect.
pub const CLOSE_REVOKED: u16 = 4002;

pub type SocketId = u64;
static NEXT_SOCKET_ID: AtomicU64 = AtomicU64::new(1);

pub struct SocketActor {
    id: SocketId,
    user: AuthUser,
    state: web::Data<AppState>,
    /// Frames to the client and the last seq sent per topic, shared with the registry.
    delivery: SharedDelivery,
    /// The subscriber table of this socket's thread, which its registry routes events by.
    subscribers: SharedSubscribers,
    /// Subscriptions authorized at the handshake, opened once the actor runs.
    initial: Vec<(Topic, Option<i64>)>,
    /// Any frame from the client proves it alive; silence for two heartbeats closes the socket.
    last_heard: Instant,
    /// Start of the current minute and the client frames in it (`ws.messages_per_minute`).
    inbound_window: (Instant, u32),
    /// This socket's place in its user's count of open sockets, given back when it stops.
    _slot: SocketSlot,
}

impl SocketActor {
    /// Upgrades the request and starts the actor with its first subscriptions (authorized).
    pub fn open(
        state: web::Data<AppState>,
        user: AuthUser,
        slot: SocketSlot,
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
        let delivery = Delivery::new(outbound, state.metrics.events_delivered.clone());
        let subscribers = state.registries.local();
        SocketActor::create(|ctx| {
            ctx.add_stream(stream);
            SocketActor {
                id: NEXT_SOCKET_ID.fetch_add(1, Ordering::Relaxed),
                user,
                state,
                delivery,
                subscribers,
                initial,
                last_heard: Instant::now(),
                inbound_window: (Instant::now(), 0),
                _slot: slot,
            }
        });
        Ok(response)
    }

    /// Sends a frame after those already waiting; too many waiting means a client too slow.
    fn push(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        let sent = self.delivery.borrow_mut().send(frame);
        if let Err(refused) = sent {
            self.refused(refused, ctx);
        }
    }

    /// The client did not take a frame.
    fn refused(&mut self, refused: Refused, ctx: &mut Context<Self>) {
        match refused {
            Refused::Full => self.close(
                CloseCode::Again,
                "client too slow; reconnect with since",
                ctx,
            ),
            Refused::Closed => ctx.stop(),
        }
    }

    fn send_json(&mut self, value: serde_json::Value, ctx: &mut Context<Self>) {
        self.push(Frame::Text(value.to_string().into()), ctx);
    }

    fn send_error(&mut self, message: &str, ctx: &mut Context<Self>) {
        self.send_json(json!({"type": "error", "message": message}), ctx);
    }

    /// Sends a close frame after the frames already waiting (a client too slow for them gets
    /// it instead of them), then stops.
    fn close(&mut self, code: CloseCode, description: &str, ctx: &mut Context<Self>) {
        let reason = CloseReason {
            code,
            description: Some(description.to_string()),
        };
        let first = self
            .delivery
            .borrow_mut()
            .close(reason, code == CloseCode::Again);
        if first {
            ctx.stop();
        }
    }

    /// Joins the thread's subscriber table, then reads the snapshot (no `since`) or the stored
    /// events after `since`. Live events arriving meanwhile wait, so nothing slips between the
    /// two.
    fn subscribe(&mut self, topic: Topic, since: Option<i64>, ctx: &mut Context<Self>) {
        self.delivery
            .borrow_mut()
            .subscriptions
            .insert(topic, Subscription::starting(since));
        self.subscribers.borrow_mut().subscribe(self.id, topic);
        let pool = self.state.pool.clone();
        let fetch = async move {
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

    /// Stops following `topic`; false if it was not followed.
    fn unsubscribe(&mut self, topic: Topic) -> bool {
        let followed = self
            .delivery
            .borrow_mut()
            .subscriptions
            .remove(&topic)
            .is_some();
        if followed {
            self.subscribers.borrow_mut().unsubscribe(self.id, topic);
        }
        followed
    }

    fn catch_up(&mut self, topic: Topic, ctx: &mut Context<Self>) {
        let after = {
            let mut delivery = self.delivery.borrow_mut();
            let Some(sub) = delivery.subscriptions.get_mut(&topic) else {
                return;
            };
            sub.catching_up = true;
            sub.last_seq.max(0)
        };
        let pool = self.state.pool.clone();
        let fetch = async move { db::events::after(&pool, topic, after, CATCH_UP_BATCH).await };
        self.run_fetch(topic, fetch, ctx);
    }

    fn run_fetch(
        &mut self,
        topic: Topic,
        fetch: impl std::future::Future<Output = Result<Vec<Encoded>, DbError>> + 'static,
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
        for event in &events {
            let sent = self.delivery.borrow_mut().send_stored(event);
            if let Err(refused) = sent {
                return self.refused(refused, ctx);
            }
        }
        let pending = {
            let mut delivery = self.delivery.borrow_mut();
            let Some(sub) = delivery.subscriptions.get_mut(&topic) else {
                return;
            };
            if !full && !std::mem::take(&mut sub.overflowed) {
                sub.catching_up = false;
                Some(std::mem::take(&mut sub.pending))
            } else {
                None
            }
        };
        match pending {
            Some(pending) => pending
                .into_values()
                .for_each(|event| self.on_live(event, ctx)),
            None => self.catch_up(topic, ctx),
        }
    }

    /// A live event: out at once if it is the next of its topic (as the registry would have
    /// sent it), held while a catch-up runs, or the start of a catch-up if events are missing.
    fn on_live(&mut self, event: Encoded, ctx: &mut Context<Self>) {
        let offer = self.delivery.borrow_mut().offer(&event);
        match offer {
            Offer::Sent | Offer::Dropped => {}
            Offer::Refused(refused) => self.refused(refused, ctx),
            Offer::ForActor => {
                let topic = event.topic;
                let limit = self.state.settings.ws.outbound_queue;
                let gap = self.delivery.borrow_mut().hold(event, limit);
                if gap {
                    self.catch_up(topic, ctx);
                }
            }
        }
    }

    /// The session behind this socket was revoked: the client must log in again.
    fn revoked(&mut self, ctx: &mut Context<Self>) {
        self.close(CloseCode::Other(CLOSE_REVOKED), "session revoked", ctx);
    }

    /// Closes the socket if its session was revoked while no announcement could reach it, else
    /// goes on with `then`. (A database that cannot answer is no proof of revocation: the
    /// socket goes on, and its subscriptions meet the same database.)
    fn recheck_session(
        &mut self,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, &mut Context<Self>) + 'static,
    ) {
        let (state, user) = (self.state.clone(), self.user.clone());
        let check = async move { current(&state, &user).await };
        ctx.spawn(check.into_actor(self).map(|result, act, ctx| match result {
            Ok(None) => act.revoked(ctx),
            _ => then(act, ctx),
        }));
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
                Some(topic) if self.unsubscribe(topic) => {
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
                // Every subscription is authorized on its own, not only the connection, and
                // for the user as they are now: a revoked session or a changed role counts.
                let check = async move {
                    match current(&state, &user).await? {
                        Some(now) => authorize(&state, &now, topic).await.map(|()| true),
                        None => Ok(false),
                    }
                };
                ctx.spawn(
                    check
                        .into_actor(self)
                        .map(move |result, act, ctx| match result {
                            Ok(true) => {
                                act.send_json(json!({"type": "subscribed", "topic": topic}), ctx);
                                act.subscribe(topic, since, ctx);
                            }
                            Ok(false) => act.revoked(ctx),
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

/// The socket's user as the database has them now, or `None` if the session was revoked since
/// the handshake (token version bumped, user deleted).
async fn current(state: &AppState, user: &AuthUser) -> Result<Option<AuthUser>, ApiError> {
    let now = users::find_by_id(&state.pool, user.id()).await?;
    Ok(now
        .filter(|now| now.token_version == user.user.token_version)
        .map(|now| AuthUser {
            user: now,
            ..user.clone()
        }))
}

/// Whether `user` may follow `topic`: their own orders (staff: any order), their own user topic.
pub async fn authorize(state: &AppState, user: &AuthUser, topic: Topic) -> Result<(), ApiError> {
    match topic {
        Topic::Order(id) => visible_order(&state.pool, user, id).await.map(|_| ()),
        Topic::User(id) if id == user.id() => Ok(()),
        Topic::User(_) => Err(ApiError::NotFound("Topic")),
    }
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
        let link = Link {
            addr: ctx.address(),
            delivery: self.delivery.clone(),
            user_id: self.user.id(),
        };
        self.subscribers.borrow_mut().connect(self.id, link);
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
        // Revocations announced from now on reach this socket through the table it just joined;
        // one committed between the handshake and now is caught by asking the database before
        // the first subscription opens, so a revoked session never hears an event.
        let initial = std::mem::take(&mut self.initial);
        self.recheck_session(ctx, move |act, ctx| {
            for (topic, since) in initial {
                act.subscribe(topic, since, ctx);
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.subscribers.borrow_mut().disconnect(self.id);
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
            // actix-ws reports a fragmented message over its limit only as this I/O error.
            Err(ProtocolError::Io(e)) if e.to_string().contains(CONTINUATION_TOO_LARGE) => {
                self.close(CloseCode::Size, "message too large", ctx)
            }
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
        self.on_live(event, ctx);
    }
}

/// The registry's frame was refused: the client is too slow, or gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Undeliverable(pub Refused);

impl Handler<Undeliverable> for SocketActor {
    type Result = ();

    fn handle(&mut self, Undeliverable(refused): Undeliverable, ctx: &mut Context<Self>) {
        self.refused(refused, ctx);
    }
}

/// Events may have been missed (the listener reconnected): read them from the database.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync;

impl Handler<Resync> for SocketActor {
    type Result = ();

    fn handle(&mut self, _: Resync, ctx: &mut Context<Self>) {
        // A revocation announced while the listener was away was missed too.
        self.recheck_session(ctx, |_, _| {});
        let idle: Vec<Topic> = self
            .delivery
            .borrow()
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

/// The user's sessions were revoked; `token_version` is the user's version now (0: the user is
/// gone). A socket opened with an older token closes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Revoke {
    pub token_version: i32,
}

impl Handler<Revoke> for SocketActor {
    type Result = ();

    fn handle(&mut self, revoke: Revoke, ctx: &mut Context<Self>) {
        if revoke.token_version != self.user.user.token_version {
            self.revoked(ctx);
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
