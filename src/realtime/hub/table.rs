//! Which sockets of one worker thread follow which topic, and the fan-out of an event to them.
//!
//! The thread's mailbox and its sessions share this table: sessions join and leave it
//! directly, and the mailbox reaches their delivery state directly, so an event in order is
//! written to each subscriber here, without a message per subscriber. Event bytes are shared,
//! never re-serialized per subscriber.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use crate::domain::topic::Topic;
use crate::events::{DriverView, Encoded};
use crate::realtime::broker::Broker;
use crate::realtime::delivery::{Offer, SharedDelivery};
use crate::realtime::outbound::Refused;
use crate::realtime::viewer::{Holder, Revocation};

/// A socket's session, as the table reaches it for what only the session can do (catch up,
/// close, stop); each call is a message to the session's actor.
pub trait Member {
    /// A live event the session handles itself: a catch-up runs, or events before it are
    /// missing.
    fn deliver(&self, event: Encoded);
    /// The table's frame was refused: the client is too slow, or gone.
    fn undeliverable(&self, refused: Refused);
    /// Events may have been missed, of `topic` or of every topic: catch up from the history.
    fn resync(&self, topic: Option<Topic>);
    /// A revocation addressed to this socket's holder.
    fn revoke(&self, revocation: Revocation);
    /// The server is shutting down.
    fn server_closing(&self);
}

/// Identifies a socket's session within its process.
pub type SessionId = u64;

/// How the table reaches one socket.
#[derive(Clone)]
pub struct Link {
    pub member: Rc<dyn Member>,
    /// For events that can go straight out.
    pub delivery: SharedDelivery,
    /// Whose socket it is, so a revocation finds the holder's sockets.
    pub holder: Holder,
}

pub struct Table {
    /// Subscribers of each topic; a topic with none is removed.
    topics: HashMap<Topic, HashMap<SessionId, Link>>,
    /// Each socket's topics, so a disconnect cleans up without scanning every topic; a socket
    /// with none is here too, so it hears `resync_all` and `close_all`.
    sockets: HashMap<SessionId, (Link, HashSet<Topic>)>,
    /// The drivers whose own board (`Topic::DriverBoard`) is followed here, so a board event
    /// is cut to each of them without scanning every topic.
    driver_boards: HashSet<i64>,
    /// Told when a topic gets its first subscriber here and loses its last.
    broker: Arc<dyn Broker>,
}

impl Table {
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        Table {
            topics: HashMap::new(),
            sockets: HashMap::new(),
            driver_boards: HashSet::new(),
            broker,
        }
    }

    /// A socket opened.
    pub fn connect(&mut self, socket: SessionId, link: Link) {
        self.sockets.insert(socket, (link, HashSet::new()));
    }

    /// Adds a connected socket to a topic; every event published from now on reaches it.
    pub fn subscribe(&mut self, socket: SessionId, topic: Topic) {
        let Some((link, topics)) = self.sockets.get_mut(&socket) else {
            return;
        };
        topics.insert(topic);
        let subscribers = self.topics.entry(topic).or_default();
        if subscribers.is_empty() {
            self.broker.follow(topic);
            if let Topic::DriverBoard(driver) = topic {
                self.driver_boards.insert(driver);
            }
        }
        subscribers.insert(socket, link.clone());
    }

    pub fn unsubscribe(&mut self, socket: SessionId, topic: Topic) {
        self.drop_subscription(socket, topic);
        if let Some((_, topics)) = self.sockets.get_mut(&socket) {
            topics.remove(&topic);
        }
    }

    /// A socket is gone: forget all its subscriptions.
    pub fn disconnect(&mut self, socket: SessionId) {
        if let Some((_, topics)) = self.sockets.remove(&socket) {
            for topic in topics {
                self.drop_subscription(socket, topic);
            }
        }
    }

    /// A committed event (or a position), and each view of it that someone here follows: an
    /// order's public view, the board's copy of a position, a driver's own board. Each view is
    /// made once per table, only when followed.
    pub fn publish(&self, event: &Encoded) {
        self.fan_out(event);
        let followed = |t: &Topic| self.topics.contains_key(t);
        if event.topic.public_view().is_some_and(|t| followed(&t)) {
            if let Some(public) = event.public() {
                self.fan_out(&public);
            }
        }
        let position = event.transient && matches!(event.topic, Topic::Order(_));
        if position && (followed(&Topic::Board) || !self.driver_boards.is_empty()) {
            if let Some(on_board) = event.retopic(Topic::Board, &[]) {
                self.fan_out(&on_board);
                self.fan_out_to_drivers(&on_board);
            }
        } else if event.topic == Topic::Board {
            self.fan_out_to_drivers(event);
        }
    }

    /// A board event as each driver with an own board here receives it.
    fn fan_out_to_drivers(&self, event: &Encoded) {
        if self.driver_boards.is_empty() {
            return;
        }
        let Some(view) = DriverView::of(event) else {
            return;
        };
        for driver in &self.driver_boards {
            if let Some(theirs) = view.for_driver(*driver) {
                self.fan_out(&theirs);
            }
        }
    }

    /// Straight out to each subscriber the event is next for, else to its actor.
    fn fan_out(&self, event: &Encoded) {
        let Some(subscribers) = self.topics.get(&event.topic) else {
            return;
        };
        for link in subscribers.values() {
            let offer = link.delivery.borrow_mut().offer(event);
            match offer {
                Offer::Sent | Offer::Dropped => {}
                Offer::ForActor => link.member.deliver(event.clone()),
                Offer::Refused(refused) => link.member.undeliverable(refused),
            }
        }
    }

    /// Whether any socket here follows `topic` (a user being online).
    pub fn has_subscribers(&self, topic: Topic) -> bool {
        self.topics.contains_key(&topic)
    }

    /// Events may have been missed: every socket catches up from the database.
    pub fn resync_all(&self) {
        for (link, _) in self.sockets.values() {
            link.member.resync(None);
        }
    }

    /// Events of `source` may have been missed: its sockets, and those of its views, catch up.
    pub fn resync(&self, source: Topic) {
        for (topic, subscribers) in &self.topics {
            if topic.source() == source {
                for link in subscribers.values() {
                    link.member.resync(Some(*topic));
                }
            }
        }
    }

    /// Each socket of the revocation's holder decides whether it is shut out (a user's socket
    /// with the current token version is not).
    pub fn revoke(&self, revocation: Revocation) {
        let holder = revocation.holder();
        for (link, _) in self.sockets.values().filter(|(l, _)| l.holder == holder) {
            link.member.revoke(revocation);
        }
    }

    /// The server is shutting down: every socket gets a close frame. Returns how many.
    pub fn close_all(&self) -> usize {
        for (link, _) in self.sockets.values() {
            link.member.server_closing();
        }
        self.sockets.len()
    }

    fn drop_subscription(&mut self, socket: SessionId, topic: Topic) {
        if let Some(subscribers) = self.topics.get_mut(&topic) {
            subscribers.remove(&socket);
            if subscribers.is_empty() {
                self.topics.remove(&topic);
                self.broker.unfollow(topic);
                if let Topic::DriverBoard(driver) = topic {
                    self.driver_boards.remove(&driver);
                }
            }
        }
    }
}
