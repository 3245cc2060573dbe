//! Which sockets of one worker thread follow which topic, and the fan-out of an event to them.
//!
//! The thread's registry actor and its socket actors share this table: sockets join and leave
//! it directly, and the registry reaches their delivery state directly, so an event in order is
//! written to each subscriber here, without a message per subscriber. Event bytes are shared,
//! never re-serialized per subscriber.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use actix::Addr;

use super::delivery::{Offer, SharedDelivery};
use super::socket::{Deliver, Resync, Revoke, ServerClosing, SocketActor, SocketId, Undeliverable};
use crate::domain::topic::Topic;
use crate::events::Encoded;

/// How the table reaches one socket.
#[derive(Clone)]
pub struct Link {
    /// For what only the actor can do: catch up, close, stop.
    pub addr: Addr<SocketActor>,
    /// For events that can go straight out.
    pub delivery: SharedDelivery,
    /// Whose session the socket is, so a revocation finds the user's sockets.
    pub user_id: i64,
}

pub type SharedSubscribers = Rc<RefCell<Subscribers>>;

#[derive(Default)]
pub struct Subscribers {
    /// Subscribers of each topic; a topic with none is removed.
    topics: HashMap<Topic, HashMap<SocketId, Link>>,
    /// Each socket's topics, so a disconnect cleans up without scanning every topic; a socket
    /// with none is here too, so it hears `resync_all` and `close_all`.
    sockets: HashMap<SocketId, (Link, HashSet<Topic>)>,
}

impl Subscribers {
    /// A socket opened.
    pub fn connect(&mut self, socket: SocketId, link: Link) {
        self.sockets.insert(socket, (link, HashSet::new()));
    }

    /// Adds a connected socket to a topic; every event published from now on reaches it.
    pub fn subscribe(&mut self, socket: SocketId, topic: Topic) {
        let Some((link, topics)) = self.sockets.get_mut(&socket) else {
            return;
        };
        topics.insert(topic);
        self.topics
            .entry(topic)
            .or_default()
            .insert(socket, link.clone());
    }

    pub fn unsubscribe(&mut self, socket: SocketId, topic: Topic) {
        self.drop_subscription(socket, topic);
        if let Some((_, topics)) = self.sockets.get_mut(&socket) {
            topics.remove(&topic);
        }
    }

    /// A socket is gone: forget all its subscriptions.
    pub fn disconnect(&mut self, socket: SocketId) {
        if let Some((_, topics)) = self.sockets.remove(&socket) {
            for topic in topics {
                self.drop_subscription(socket, topic);
            }
        }
    }

    /// A committed event: straight out to each subscriber it is next for, else to its actor.
    pub fn publish(&self, event: &Encoded) {
        let Some(subscribers) = self.topics.get(&event.topic) else {
            return;
        };
        for link in subscribers.values() {
            let offer = link.delivery.borrow_mut().offer(event);
            match offer {
                Offer::Sent | Offer::Dropped => {}
                Offer::ForActor => link.addr.do_send(Deliver(event.clone())),
                Offer::Refused(refused) => link.addr.do_send(Undeliverable(refused)),
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
            link.addr.do_send(Resync);
        }
    }

    /// A user's sessions were revoked: each of their sockets checks its token against
    /// `token_version`.
    pub fn revoke(&self, user_id: i64, token_version: i32) {
        for (link, _) in self.sockets.values().filter(|(l, _)| l.user_id == user_id) {
            link.addr.do_send(Revoke { token_version });
        }
    }

    /// The server is shutting down: every socket gets a close frame. Returns how many.
    pub fn close_all(&self) -> usize {
        for (link, _) in self.sockets.values() {
            link.addr.do_send(ServerClosing);
        }
        self.sockets.len()
    }

    fn drop_subscription(&mut self, socket: SocketId, topic: Topic) {
        if let Some(subscribers) = self.topics.get_mut(&topic) {
            subscribers.remove(&socket);
            if subscribers.is_empty() {
                self.topics.remove(&topic);
            }
        }
    }
}
