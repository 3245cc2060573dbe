//! One worker thread's registry actor: routes committed events to the subscribed sockets of its
//! thread.
//!
//! Every HTTP worker thread that runs sockets has one (`registries`), so an event crosses
//! threads once per thread, not once per subscriber. Its messages come from other threads (the
//! listener, a request asking whether a user is online, the shutdown) and are handled in the
//! order sent; the table it routes by is shared with the thread's sockets (`subscribers`).

use actix::{Actor, Context, Handler, Message};

use super::subscribers::SharedSubscribers;
use crate::domain::topic::Topic;
use crate::events::Encoded;

pub struct Registry {
    /// This thread's sockets by topic; they join and leave it themselves.
    subscribers: SharedSubscribers,
}

impl Registry {
    pub fn new(subscribers: SharedSubscribers) -> Self {
        Registry { subscribers }
    }
}

impl Actor for Registry {
    type Context = Context<Self>;
}

/// A committed event, from the listener.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Encoded);

impl Handler<Publish> for Registry {
    type Result = ();

    fn handle(&mut self, Publish(event): Publish, _: &mut Context<Self>) {
        self.subscribers.borrow().publish(&event);
    }
}

/// Whether any socket of this thread follows `topic` (a user being online).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct HasSubscribers(pub Topic);

impl Handler<HasSubscribers> for Registry {
    type Result = bool;

    fn handle(&mut self, HasSubscribers(topic): HasSubscribers, _: &mut Context<Self>) -> bool {
        self.subscribers.borrow().has_subscribers(topic)
    }
}

/// The listener reconnected: events may have been missed, so every socket catches up.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ResyncAll;

impl Handler<ResyncAll> for Registry {
    type Result = ();

    fn handle(&mut self, _: ResyncAll, _: &mut Context<Self>) {
        self.subscribers.borrow().resync_all();
    }
}

/// A user's sessions were revoked (announced by the database on commit).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RevokeUser {
    pub user_id: i64,
    pub token_version: i32,
}

impl Handler<RevokeUser> for Registry {
    type Result = ();

    fn handle(&mut self, revoke: RevokeUser, _: &mut Context<Self>) {
        self.subscribers
            .borrow()
            .revoke(revoke.user_id, revoke.token_version);
    }
}

/// The server is shutting down: every socket gets a close frame. Answered with how many.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CloseAll;

impl Handler<CloseAll> for Registry {
    type Result = usize;

    fn handle(&mut self, _: CloseAll, _: &mut Context<Self>) -> usize {
        self.subscribers.borrow().close_all()
    }
}
