//! The registry: which socket listens to which topic, and the fan-out of committed events.
//!
//! Events arrive from the `PgListener` in commit order and leave to each subscribed socket in
//! that order; the event's bytes are shared, never re-serialized per subscriber.

use std::collections::{HashMap, HashSet};

use actix::{Actor, Addr, Context, Handler, Message};

use super::socket::{Deliver, Resync, ServerClosing, SocketActor, SocketId};
use crate::domain::topic::Topic;
use crate::events::Encoded;

#[derive(Default)]
pub struct Registry {
    /// Subscribers of each topic; a topic with none is removed.
    topics: HashMap<Topic, HashMap<SocketId, Addr<SocketActor>>>,
    /// Each socket's topics, so a disconnect cleans up without scanning every topic.
    sockets: HashMap<SocketId, (Addr<SocketActor>, HashSet<Topic>)>,
}

impl Actor for Registry {
    type Context = Context<Self>;
}

/// A socket opened: it hears `ResyncAll` and `CloseAll` even before it subscribes to anything.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    pub socket: SocketId,
    pub addr: Addr<SocketActor>,
}

impl Handler<Connect> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        self.sockets.insert(msg.socket, (msg.addr, HashSet::new()));
    }
}

/// Adds a socket to a topic. Answered once registered, so the socket can then read the stored
/// events knowing every later one will reach it live.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub socket: SocketId,
    pub topic: Topic,
    pub addr: Addr<SocketActor>,
}

impl Handler<Subscribe> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        self.topics
            .entry(msg.topic)
            .or_default()
            .insert(msg.socket, msg.addr.clone());
        self.sockets
            .entry(msg.socket)
            .or_insert_with(|| (msg.addr, HashSet::new()))
            .1
            .insert(msg.topic);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub socket: SocketId,
    pub topic: Topic,
}

impl Handler<Unsubscribe> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        self.drop_subscription(msg.socket, msg.topic);
        if let Some((_, topics)) = self.sockets.get_mut(&msg.socket) {
            topics.remove(&msg.topic);
        }
    }
}

/// A socket is gone: forget all its subscriptions.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub socket: SocketId,
}

impl Handler<Disconnect> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        if let Some((_, topics)) = self.sockets.remove(&msg.socket) {
            for topic in topics {
                self.drop_subscription(msg.socket, topic);
            }
        }
    }
}

/// A committed event, from the listener.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Encoded);

impl Handler<Publish> for Registry {
    type Result = ();

    fn handle(&mut self, Publish(event): Publish, _: &mut Context<Self>) {
        if let Some(subscribers) = self.topics.get(&event.topic) {
            for addr in subscribers.values() {
                addr.do_send(Deliver(event.clone()));
            }
        }
    }
}

/// Whether any socket of this process follows `topic` (a user being online here).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct HasSubscribers(pub Topic);

impl Handler<HasSubscribers> for Registry {
    type Result = bool;

    fn handle(&mut self, HasSubscribers(topic): HasSubscribers, _: &mut Context<Self>) -> bool {
        self.topics.contains_key(&topic)
    }
}

/// The listener reconnected: events may have been missed, so every socket catches up.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ResyncAll;

impl Handler<ResyncAll> for Registry {
    type Result = ();

    fn handle(&mut self, _: ResyncAll, _: &mut Context<Self>) {
        for (addr, _) in self.sockets.values() {
            addr.do_send(Resync);
        }
    }
}

/// The server is shutting down: every socket gets a close frame. Answered once all were told.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CloseAll;

impl Handler<CloseAll> for Registry {
    type Result = usize;

    fn handle(&mut self, _: CloseAll, _: &mut Context<Self>) -> usize {
        for (addr, _) in self.sockets.values() {
            addr.do_send(ServerClosing);
        }
        self.sockets.len()
    }
}

impl Registry {
    fn drop_subscription(&mut self, socket: SocketId, topic: Topic) {
        if let Some(subscribers) = self.topics.get_mut(&topic) {
            subscribers.remove(&socket);
            if subscribers.is_empty() {
                self.topics.remove(&topic);
            }
        }
    }
}
