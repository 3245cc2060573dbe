//! The hub: which sockets of this process follow which topic, and the fan-out of committed
//! events to them.
//!
//! Each HTTP worker thread holds its own part of the hub: a `Table` of its sockets by topic,
//! which the thread's sessions join and leave directly, and a `Mailbox` actor through which
//! other threads reach that table. The broker hands each event to each thread's mailbox once;
//! questions about every socket (is this user online? close them all) go to every mailbox, and
//! the answers are combined. A worker attaches its part when it starts (`Hub::attach`) and
//! hands it to its sessions as `ThreadHub`.

pub mod mailbox;
pub mod table;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};

use actix::{Actor, Addr};

use self::mailbox::{CloseAll, HasSubscribers, Mailbox, Publish, Resync, ResyncAll, Revoke};
use self::table::Table;
use super::broker::{Broker, Subscribers};
use crate::domain::topic::Topic;
use crate::events::Encoded;
use crate::realtime::viewer::Revocation;

/// The whole hub of this process; cheap to clone.
#[derive(Clone)]
pub struct Hub(Arc<Inner>);

struct Inner {
    /// The mailbox of each worker thread's part, in the order they attached.
    threads: Mutex<Vec<Addr<Mailbox>>>,
    /// Told when a thread's first socket follows a topic, and when its last one leaves.
    broker: Arc<dyn Broker>,
}

/// One worker thread's part of the hub, shared by that thread's sessions.
#[derive(Clone)]
pub struct ThreadHub(pub Rc<RefCell<Table>>);

impl Hub {
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        Hub(Arc::new(Inner {
            threads: Mutex::default(),
            broker,
        }))
    }

    /// Starts the calling thread's part of the hub: its table and the mailbox that reaches it.
    /// Call it once per worker thread, on that thread.
    pub fn attach(&self) -> ThreadHub {
        let table = Rc::new(RefCell::new(Table::new(self.0.broker.clone())));
        let mailbox = Mailbox::new(table.clone()).start();
        let mut threads = self.threads();
        // A worker that was restarted leaves a stopped mailbox behind.
        threads.retain(Addr::connected);
        threads.push(mailbox);
        ThreadHub(table)
    }

    /// Whether any socket of this process follows `topic` (a user being online here).
    pub async fn has_subscribers(&self, topic: Topic) -> bool {
        for mailbox in self.all() {
            // A mailbox that is gone has no sockets.
            if mailbox.send(HasSubscribers(topic)).await == Ok(true) {
                return true;
            }
        }
        false
    }

    /// Sends every socket a close frame; answered with how many were told.
    pub async fn close_all(&self) -> usize {
        let mut told = 0;
        for mailbox in self.all() {
            told += mailbox.send(CloseAll).await.unwrap_or(0);
        }
        told
    }

    /// The broker this hub's tables report to; the server stops it at shutdown.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.0.broker
    }

    /// A copy of the list, for questions whose answers are awaited without holding it.
    fn all(&self) -> Vec<Addr<Mailbox>> {
        self.threads().clone()
    }

    fn threads(&self) -> MutexGuard<'_, Vec<Addr<Mailbox>>> {
        // Nothing panics while holding it, but a poisoned list is still a good list.
        self.0.threads.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Subscribers for Hub {
    /// To every subscriber of the event's topic on every thread.
    fn publish(&self, event: Encoded) {
        for mailbox in self.threads().iter() {
            mailbox.do_send(Publish(event.clone()));
        }
    }

    /// To the holder's sockets on every thread.
    fn revoke(&self, revocation: Revocation) {
        for mailbox in self.threads().iter() {
            mailbox.do_send(Revoke(revocation));
        }
    }

    fn resync_all(&self) {
        for mailbox in self.threads().iter() {
            mailbox.do_send(ResyncAll);
        }
    }

    fn resync(&self, source: Topic) {
        for mailbox in self.threads().iter() {
            mailbox.do_send(Resync(source));
        }
    }
}
