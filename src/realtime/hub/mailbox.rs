//! One worker thread's mailbox: how other threads reach the thread's part of the hub.
//!
//! An event crosses threads once per thread, not once per subscriber. Its messages come from
//! other threads (the broker, a request asking whether a user is online, the shutdown) and are
//! handled in the order sent, against the table the thread's sessions share (`table`).

use std::cell::RefCell;
use std::rc::Rc;

use actix::{Actor, Context, Handler, Message};

use super::table::Table;
use crate::domain::topic::Topic;
use crate::events::Encoded;
use crate::realtime::viewer::Revocation;

pub struct Mailbox {
    /// This thread's sockets by topic; they join and leave it themselves.
    table: Rc<RefCell<Table>>,
}

impl Mailbox {
    pub fn new(table: Rc<RefCell<Table>>) -> Self {
        Mailbox { table }
    }
}

impl Actor for Mailbox {
    type Context = Context<Self>;
}

/// A committed event, from the broker.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Encoded);

impl Handler<Publish> for Mailbox {
    type Result = ();

    fn handle(&mut self, Publish(event): Publish, _: &mut Context<Self>) {
        self.table.borrow().publish(&event);
    }
}

/// Whether any socket of this thread follows `topic` (a user being online).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct HasSubscribers(pub Topic);

impl Handler<HasSubscribers> for Mailbox {
    type Result = bool;

    fn handle(&mut self, HasSubscribers(topic): HasSubscribers, _: &mut Context<Self>) -> bool {
        self.table.borrow().has_subscribers(topic)
    }
}

/// The broker was interrupted: events may have been missed, so every socket catches up.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ResyncAll;

impl Handler<ResyncAll> for Mailbox {
    type Result = ();

    fn handle(&mut self, _: ResyncAll, _: &mut Context<Self>) {
        self.table.borrow().resync_all();
    }
}

/// Events of one source topic may have been missed (the broker only now carries it here).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync(pub Topic);

impl Handler<Resync> for Mailbox {
    type Result = ();

    fn handle(&mut self, Resync(source): Resync, _: &mut Context<Self>) {
        self.table.borrow().resync(source);
    }
}

/// A user's sessions or a share link were revoked (announced by the database on commit).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Revoke(pub Revocation);

impl Handler<Revoke> for Mailbox {
    type Result = ();

    fn handle(&mut self, Revoke(revocation): Revoke, _: &mut Context<Self>) {
        self.table.borrow().revoke(revocation);
    }
}

/// The server is shutting down: every socket gets a close frame. Answered with how many.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CloseAll;

impl Handler<CloseAll> for Mailbox {
    type Result = usize;

    fn handle(&mut self, _: CloseAll, _: &mut Context<Self>) -> usize {
        self.table.borrow().close_all()
    }
}
