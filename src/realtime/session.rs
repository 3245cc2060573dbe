//! One actor per WebSocket connection: a user's session, or a share link viewer's.
//!
//! It opens the connection's subscriptions and sees that the client gets every event once and
//! in order: stored events first (a snapshot, or everything after `since`), live ones after,
//! duplicates dropped and gaps filled from the history. Live events in order go out from the
//! thread's hub through the delivery state it shares with this actor (`delivery`); the actor
//! gets the rest. Frames leave in the order they were produced (`outbound`); a client too slow
//! to take them is closed with 1013. What it may follow, and whether its user's session still
//! stands, it asks `Services::authorize`; the frames it speaks are in `protocol`.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message,
    StreamHandler, WrapFuture,
};
use actix_ws::{AggregatedMessage, MessageStream, ProtocolError};

use super::delivery::{Delivery, Offer, SharedDelivery, Subscription};
use super::hub::table::{Link, Member, SessionId};
use super::hub::ThreadHub;
use super::outbound::{Frame, Outbound, Refused, Transport};
use super::protocol::{self, reply, ClientFrame, Close};
use super::services::Services;
use super::slots::SocketSlot;
use super::viewer::{Revocation, Viewer};
use crate::auth::caller::AccessError;
use crate::db::DbError;
use crate::dispatch::positions::PositionError;
use crate::domain::position::PositionRequest;
use crate::domain::topic::Topic;
use crate::events::Encoded;

/// What actix-ws says when a message's fragments add up past `ws.max_frame_bytes`.
const CONTINUATION_TOO_LARGE: &str = "Exceeded maximum continuation size";
/// Stored events read per catch-up query; a longer backlog takes several.
const CATCH_UP_BATCH: i64 = 500;
static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

pub struct Session {
    id: SessionId,
    /// Whom the socket serves, as they were when it opened.
    viewer: Viewer,
    /// History, access rules, settings and counter, as the server gave them.
    services: Arc<Services>,
    /// Frames to the client and the last seq sent per topic, shared with the thread's hub.
    delivery: SharedDelivery,
    /// This thread's part of the hub, which routes events by the topics joined there.
    hub: ThreadHub,
    /// Subscriptions authorized at the handshake, opened once the actor runs.
    initial: Vec<(Topic, Option<i64>)>,
    /// The topic followed for each topic the client named, where they differ (a driver who
    /// sees only their own orders names `board` and follows their own board).
    followed_as: HashMap<Topic, Topic>,
    /// Topics named by a `subscribe` whose check is still running, so a repeat of it is
    /// refused like a repeat of one already followed.
    authorizing: HashSet<Topic>,
    /// Any frame from the client proves it alive; silence for two heartbeats closes the socket.
    /// `None` on an event stream, where the client never speaks (a gone client is found when a
    /// heartbeat cannot be written).
    last_heard: Option<Instant>,
    /// Start of the current minute and the client frames in it (`ws.messages_per_minute`).
    inbound_window: (Instant, u32),
    /// This socket's place in its holder's count of open sockets, given back when it stops;
    /// `None` where the connection holds it (an event stream's body: a client that stopped
    /// reading keeps its connection, and so its place, after the session gave up on it).
    _slot: Option<SocketSlot>,
}

/// Where a session runs and what it starts with.
pub struct Opening {
    pub services: Arc<Services>,
    pub hub: ThreadHub,
    pub viewer: Viewer,
    /// The viewer's place in the count of open sockets, held while the session runs (`None`:
    /// held by the connection instead).
    pub slot: Option<SocketSlot>,
    /// Subscriptions authorized at the handshake, opened once the session runs.
    pub initial: Vec<(Topic, Option<i64>)>,
}

impl Session {
    /// Starts the session on a connection the handshake has upgraded.
    pub fn open(opening: Opening, session: actix_ws::Session, stream: MessageStream) {
        let max = opening.services.settings.max_frame_bytes;
        let stream = stream
            .max_frame_size(max)
            .aggregate_continuations()
            .max_continuation_size(max);
        Session::start(opening, Transport::WebSocket(session), Some(stream));
    }

    /// Starts the session of a Server-Sent Events answer: the same delivery, one way.
    pub fn open_event_stream(opening: Opening, sender: tokio::sync::mpsc::Sender<bytes::Bytes>) {
        Session::start(opening, Transport::EventStream(sender), None);
    }

    fn start(
        opening: Opening,
        transport: Transport,
        stream: Option<actix_ws::AggregatedMessageStream>,
    ) {
        let Opening {
            services,
            hub,
            viewer,
            slot,
            initial,
        } = opening;
        let outbound = Outbound::new(transport, services.settings.outbound_queue);
        let delivery = Delivery::new(outbound, services.delivered.clone());
        let last_heard = stream.is_some().then(Instant::now);
        Session::create(|ctx| {
            if let Some(stream) = stream {
                ctx.add_stream(stream);
            }
            Session {
                id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed),
                viewer,
                services,
                delivery,
                hub,
                initial,
                followed_as: HashMap::new(),
                authorizing: HashSet::new(),
                last_heard,
                inbound_window: (Instant::now(), 0),
                _slot: slot,
            }
        });
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
            Refused::Full => self.close(Close::TooSlow, ctx),
            Refused::Closed => ctx.stop(),
        }
    }

    fn send_error(&mut self, message: &str, ctx: &mut Context<Self>) {
        self.push(Frame::Text(reply::error(message)), ctx);
    }

    /// Sends a close frame after the frames already waiting (a client too slow for them gets
    /// it instead of them), then stops.
    fn close(&mut self, close: Close, ctx: &mut Context<Self>) {
        let first = self
            .delivery
            .borrow_mut()
            .close(close.reason(), close == Close::TooSlow);
        if first {
            ctx.stop();
        }
    }

    /// Joins the thread's hub, then reads the snapshot (no `since`) or the stored
    /// events after `since`. Live events arriving meanwhile wait, so nothing slips between the
    /// two.
    fn subscribe(&mut self, topic: Topic, since: Option<i64>, ctx: &mut Context<Self>) {
        self.delivery
            .borrow_mut()
            .subscriptions
            .insert(topic, Subscription::starting(since));
        self.hub.0.borrow_mut().subscribe(self.id, topic);
        let history = self.services.history.clone();
        let fetch = async move {
            Ok(match since {
                Some(after) => history.after(topic, after, CATCH_UP_BATCH).await?,
                None => history.snapshot(topic).await?.into_iter().collect(),
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
            self.hub.0.borrow_mut().unsubscribe(self.id, topic);
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
        let fetch = self.services.history.after(topic, after, CATCH_UP_BATCH);
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
                        act.send_error(protocol::CATCH_UP_FAILED, ctx);
                        act.close(Close::CatchUpFailed, ctx);
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
            let again = full | std::mem::take(&mut sub.overflowed) | std::mem::take(&mut sub.stale);
            if !again {
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

    /// A live event: out at once if it is the next of its topic (as the hub would have
    /// sent it), held while a catch-up runs, or the start of a catch-up if events are missing.
    fn on_live(&mut self, event: Encoded, ctx: &mut Context<Self>) {
        let offer = self.delivery.borrow_mut().offer(&event);
        match offer {
            Offer::Sent | Offer::Dropped => {}
            Offer::Refused(refused) => self.refused(refused, ctx),
            Offer::ForActor => {
                let topic = event.topic;
                let limit = self.services.settings.outbound_queue;
                let gap = self.delivery.borrow_mut().hold(event, limit);
                if gap {
                    self.catch_up(topic, ctx);
                }
            }
        }
    }

    /// Closes the socket if its session was revoked while no announcement could reach it, else
    /// goes on with `then`. (A database that cannot answer is no proof of revocation: the
    /// socket goes on, and its subscriptions meet the same database.)
    fn recheck_session(
        &mut self,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, &mut Context<Self>) + 'static,
    ) {
        let check = self.services.authorize.current(&self.viewer);
        ctx.spawn(check.into_actor(self).map(|result, act, ctx| match result {
            Ok(None) => act.close(act.shut_out(), ctx),
            _ => then(act, ctx),
        }));
    }

    /// How the socket closes when its viewer is shut out.
    fn shut_out(&self) -> Close {
        match self.viewer {
            Viewer::User(_) => Close::Revoked,
            Viewer::Link(_) => Close::LinkEnded,
        }
    }

    /// Closes the socket when its viewer's right to it runs out: a user's token expiring, a
    /// link's chosen end, and (rechecked now and then) a link's days after its order is final.
    fn schedule_end(&mut self, ctx: &mut Context<Self>) {
        let now = chrono::Utc::now().timestamp();
        let (end, close) = match &self.viewer {
            Viewer::User(user) => (Some(user.token_exp), Close::TokenExpired),
            Viewer::Link(link) => {
                // A link's viewers mostly arrive together: a random first wait spreads their
                // rechecks over the interval instead of sending them to the database at once.
                let every = self.services.link_recheck;
                let first = every.mul_f64(rand::random::<f64>());
                ctx.run_later(first, move |act, ctx| {
                    act.recheck_session(ctx, |_, _| {});
                    ctx.run_interval(every, |act, ctx| {
                        act.recheck_session(ctx, |_, _| {});
                    });
                });
                (link.expires_at.map(|t| t.timestamp()), Close::LinkEnded)
            }
        };
        if let Some(end) = end {
            let left = Duration::from_secs((end - now).max(0) as u64);
            ctx.run_later(left, move |act, ctx| act.close(close, ctx));
        }
    }

    /// Counts a client frame; true once the socket sent more than its minute allows.
    fn flooding(&mut self) -> bool {
        let (start, count) = &mut self.inbound_window;
        if start.elapsed() >= protocol::FLOOD_WINDOW {
            *start = Instant::now();
            *count = 0;
        }
        *count += 1;
        *count > self.services.settings.messages_per_minute
    }

    fn handle_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        let frame = match ClientFrame::parse(text) {
            Ok(frame) => frame,
            Err(message) => return self.send_error(message, ctx),
        };
        match frame {
            ClientFrame::Ping => self.push(Frame::Text(reply::pong()), ctx),
            ClientFrame::Unsubscribe { topic } => {
                let named = Topic::parse(&topic);
                let followed = named.map(|t| self.followed_as.remove(&t).unwrap_or(t));
                match (named, followed) {
                    (Some(named), Some(followed)) if self.unsubscribe(followed) => {
                        self.push(Frame::Text(reply::unsubscribed(named)), ctx);
                    }
                    _ => self.send_error(protocol::NOT_SUBSCRIBED, ctx),
                }
            }
            ClientFrame::Location { order_id, position } => {
                self.report_position(order_id, position, ctx)
            }
            ClientFrame::Subscribe { topic, since } => {
                let Some(topic) = Topic::parse(&topic) else {
                    return self.send_error(protocol::BAD_TOPIC, ctx);
                };
                if since.is_some_and(|s| s < 0) {
                    return self.send_error(protocol::BAD_SINCE, ctx);
                }
                let followed = self.followed_as.get(&topic).copied().unwrap_or(topic);
                if self.delivery.borrow().subscriptions.contains_key(&followed)
                    || !self.authorizing.insert(topic)
                {
                    return self.send_error(protocol::ALREADY_SUBSCRIBED, ctx);
                }
                let (authorize, viewer) = (self.services.authorize.clone(), self.viewer.clone());
                // Every subscription is authorized on its own, not only the connection, and
                // for the viewer as they are now: a revoked session or a changed role counts.
                let check = async move {
                    match authorize.current(&viewer).await? {
                        Some(now) => authorize.authorize(&now, topic).await.map(Some),
                        None => Ok(None),
                    }
                };
                ctx.spawn(check.into_actor(self).map(move |result, act, ctx| {
                    match (act.authorizing.remove(&topic), result) {
                        (_, Ok(Some(followed))) => {
                            act.push(Frame::Text(reply::subscribed(topic)), ctx);
                            if followed != topic {
                                act.followed_as.insert(topic, followed);
                            }
                            act.subscribe(followed, since, ctx);
                        }
                        (_, Ok(None)) => act.close(act.shut_out(), ctx),
                        (_, Err(e)) => {
                            let message = refusal_text(&e);
                            act.push(Frame::Text(reply::refused(topic, &message)), ctx);
                        }
                    }
                }));
            }
        }
    }
}

impl Session {
    /// A driver's position: checked here for its numbers, by the positions service for its
    /// order. Accepted positions get no answer (one a second would double the traffic);
    /// refused ones an `error` frame.
    fn report_position(
        &mut self,
        order_id: Option<serde_json::Value>,
        position: PositionRequest,
        ctx: &mut Context<Self>,
    ) {
        let Viewer::User(user) = &self.viewer else {
            return self.send_error(protocol::POSITIONS_REFUSED, ctx);
        };
        let Some(order_id) = order_id.and_then(|v| v.as_i64()).filter(|id| *id > 0) else {
            return self.send_error(protocol::BAD_ORDER_ID, ctx);
        };
        let position = match position.parse(chrono::Utc::now()) {
            Ok(position) => position,
            Err(errors) => return self.push(Frame::Text(reply::invalid(&errors)), ctx),
        };
        let (positions, user) = (self.services.positions.clone(), user.clone());
        let report = async move { positions.report(&user, order_id, position).await };
        ctx.spawn(report.into_actor(self).map(move |result, act, ctx| {
            if let Err(e) = result {
                let message = match e {
                    PositionError::Db(e) => refusal_text(&AccessError::Db(e)),
                    refused => refused.to_string(),
                };
                act.push(
                    Frame::Text(reply::position_refused(order_id, &message)),
                    ctx,
                );
            }
        }));
    }
}

/// What a client is told about a refused subscription: the refusal itself, or for a failing
/// database only that (the cause is logged, never sent).
fn refusal_text(e: &AccessError) -> String {
    match e {
        AccessError::Db(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "database unavailable");
            "Service unavailable".into()
        }
        AccessError::Db(e) => {
            tracing::error!(error = %e, "subscription check failed");
            "Internal server error".into()
        }
        refused => refused.to_string(),
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let link = Link {
            member: Rc::new(ctx.address()),
            delivery: self.delivery.clone(),
            holder: self.viewer.holder(),
        };
        self.hub.0.borrow_mut().connect(self.id, link);
        let heartbeat = Duration::from_secs(self.services.settings.heartbeat_secs);
        ctx.run_interval(heartbeat, move |act, ctx| {
            if act
                .last_heard
                .is_some_and(|heard| heard.elapsed() > heartbeat * 2)
            {
                act.close(Close::NoHeartbeat, ctx);
            } else {
                act.push(Frame::Ping, ctx);
            }
        });
        self.schedule_end(ctx);
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
        self.hub.0.borrow_mut().disconnect(self.id);
    }
}

impl StreamHandler<Result<AggregatedMessage, ProtocolError>> for Session {
    fn handle(&mut self, msg: Result<AggregatedMessage, ProtocolError>, ctx: &mut Context<Self>) {
        self.last_heard = Some(Instant::now());
        if self.flooding() {
            return self.close(Close::Flooding, ctx);
        }
        match msg {
            Ok(AggregatedMessage::Text(text)) => self.handle_text(&text, ctx),
            Ok(AggregatedMessage::Ping(bytes)) => self.push(Frame::Pong(bytes), ctx),
            Ok(AggregatedMessage::Pong(_)) => {}
            Ok(AggregatedMessage::Binary(_)) => self.send_error(protocol::BINARY_REFUSED, ctx),
            Ok(AggregatedMessage::Close(_)) => self.close(Close::Bye, ctx),
            Err(ProtocolError::Overflow) => self.close(Close::FrameTooLarge, ctx),
            // actix-ws reports a fragmented message over its limit only as this I/O error.
            Err(ProtocolError::Io(e)) if e.to_string().contains(CONTINUATION_TOO_LARGE) => {
                self.close(Close::MessageTooLarge, ctx)
            }
            Err(e) => {
                tracing::debug!(error = %e, "websocket protocol error");
                self.close(Close::ProtocolError, ctx);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Member for Addr<Session> {
    fn deliver(&self, event: Encoded) {
        self.do_send(Deliver(event));
    }

    fn undeliverable(&self, refused: Refused) {
        self.do_send(Undeliverable(refused));
    }

    fn resync(&self, topic: Option<Topic>) {
        self.do_send(Resync(topic));
    }

    fn revoke(&self, revocation: Revocation) {
        self.do_send(Revoke(revocation));
    }

    fn server_closing(&self) {
        self.do_send(ServerClosing);
    }
}

/// A committed event for one of this socket's topics, from the hub.
#[derive(Message)]
#[rtype(result = "()")]
struct Deliver(Encoded);

impl Handler<Deliver> for Session {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, ctx: &mut Context<Self>) {
        self.on_live(event, ctx);
    }
}

/// The hub's frame was refused: the client is too slow, or gone.
#[derive(Message)]
#[rtype(result = "()")]
struct Undeliverable(Refused);

impl Handler<Undeliverable> for Session {
    type Result = ();

    fn handle(&mut self, Undeliverable(refused): Undeliverable, ctx: &mut Context<Self>) {
        self.refused(refused, ctx);
    }
}

/// Events may have been missed: of every topic (the broker was interrupted), or of one (the
/// broker only now carries it to this process). They are read from the history; a catch-up
/// already running reads again once it is done, as it may have read too early.
#[derive(Message)]
#[rtype(result = "()")]
struct Resync(Option<Topic>);

impl Handler<Resync> for Session {
    type Result = ();

    fn handle(&mut self, Resync(only): Resync, ctx: &mut Context<Self>) {
        if only.is_none() {
            // A revocation announced while the broker was interrupted was missed too.
            self.recheck_session(ctx, |_, _| {});
        }
        let idle: Vec<Topic> = {
            let mut delivery = self.delivery.borrow_mut();
            let mut idle = Vec::new();
            for (topic, sub) in delivery.subscriptions.iter_mut() {
                if only.is_some_and(|t| t != *topic) {
                    continue;
                }
                if sub.catching_up {
                    sub.stale = true;
                } else {
                    idle.push(*topic);
                }
            }
            idle
        };
        for topic in idle {
            self.catch_up(topic, ctx);
        }
    }
}

/// A revocation addressed to this socket's holder: a user's socket opened with an older token
/// version than the revocation's closes, as does every viewer of a revoked link.
#[derive(Message)]
#[rtype(result = "()")]
struct Revoke(Revocation);

impl Handler<Revoke> for Session {
    type Result = ();

    fn handle(&mut self, Revoke(revocation): Revoke, ctx: &mut Context<Self>) {
        if self.viewer.is_revoked_by(revocation) {
            self.close(self.shut_out(), ctx);
        }
    }
}

/// The server is shutting down.
#[derive(Message)]
#[rtype(result = "()")]
struct ServerClosing;

impl Handler<ServerClosing> for Session {
    type Result = ();

    fn handle(&mut self, _: ServerClosing, ctx: &mut Context<Self>) {
        self.close(Close::ServerClosing, ctx);
    }
}
