//! A socket's delivery state: its frames on their way out and, per topic, the last seq sent.
//!
//! The session and the hub table of its thread share it (one thread, so `Rc<RefCell>`).
//! A live event that is the next of its topic goes out from the table at once, with no hop
//! through the socket's mailbox: one event to 10,000 sockets is one wake of each worker thread,
//! not 10,000 messages. Whatever needs more (a catch-up running, a gap to fill from the database,
//! a refused frame) is left to the actor.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use actix_ws::CloseReason;
use prometheus_client::metrics::counter::Counter;

use super::outbound::{Frame, Outbound, Refused};
use crate::domain::topic::Topic;
use crate::events::Encoded;

pub type SharedDelivery = Rc<RefCell<Delivery>>;

pub struct Delivery {
    /// Frames to the client, in order, whoever produced them.
    outbound: Outbound,
    pub subscriptions: HashMap<Topic, Subscription>,
    /// A close frame is on its way: nothing more is sent.
    closing: bool,
    /// `events_delivered` of `/metrics`.
    delivered: Counter,
}

/// One topic's delivery state.
pub struct Subscription {
    /// The seq of the last event sent to the client (-1 before the snapshot).
    pub last_seq: i64,
    /// A query for stored events is running; live events wait in `pending` meanwhile.
    pub catching_up: bool,
    pub pending: BTreeMap<i64, Encoded>,
    /// `pending` overflowed during a catch-up: read the database again afterwards.
    pub overflowed: bool,
    /// Events may have been missed after the running catch-up read the database (the broker
    /// was interrupted, or only now carries the topic here): read it again afterwards.
    pub stale: bool,
}

impl Subscription {
    /// Waiting for the first stored events: after `since`, or the snapshot without it.
    pub fn starting(since: Option<i64>) -> Self {
        Subscription {
            last_seq: since.unwrap_or(-1),
            catching_up: true,
            pending: BTreeMap::new(),
            overflowed: false,
            stale: false,
        }
    }
}

/// What became of a live event offered to a socket.
pub enum Offer {
    /// It was the next of its topic and went out.
    Sent,
    /// Not wanted: already sent, an unknown topic, or the socket is closing.
    Dropped,
    /// A catch-up is running or events are missing before it: the actor decides.
    ForActor,
    /// The client did not take it.
    Refused(Refused),
}

impl Delivery {
    pub fn new(outbound: Outbound, delivered: Counter) -> SharedDelivery {
        Rc::new(RefCell::new(Delivery {
            outbound,
            subscriptions: HashMap::new(),
            closing: false,
            delivered,
        }))
    }

    /// Sends a live event if it is the next of its topic.
    pub fn offer(&mut self, event: &Encoded) -> Offer {
        if self.closing {
            return Offer::Dropped;
        }
        let Some(sub) = self.subscriptions.get_mut(&event.topic) else {
            return Offer::Dropped;
        };
        if event.transient {
            // Worth sending only after the topic's state; a newer one follows soon anyway.
            if sub.catching_up || sub.last_seq < 0 {
                return Offer::Dropped;
            }
            return match self.send_event(event) {
                Ok(()) => Offer::Sent,
                Err(refused) => Offer::Refused(refused),
            };
        }
        // Saturating: a client may resume from any `since`, the largest one included, and an
        // overflow would make every event look like a gap and every gap a catch-up.
        if sub.catching_up || event.seq > sub.last_seq.saturating_add(1) {
            return Offer::ForActor;
        }
        if event.seq <= sub.last_seq {
            return Offer::Dropped;
        }
        sub.last_seq = event.seq;
        match self.send_event(event) {
            Ok(()) => Offer::Sent,
            Err(refused) => Offer::Refused(refused),
        }
    }

    /// Keeps an event `offer` left to the actor until the stored events before it are read.
    /// While a catch-up runs it waits for it (past `limit` waiting, the catch-up reads the
    /// database again instead); otherwise events are missing before it (the broker was interrupted),
    /// and the answer is true: a catch-up must start.
    pub fn hold(&mut self, event: Encoded, limit: usize) -> bool {
        let Some(sub) = self.subscriptions.get_mut(&event.topic) else {
            return false;
        };
        if sub.catching_up && sub.pending.len() >= limit {
            sub.overflowed = true;
            return false;
        }
        let gap = !sub.catching_up;
        sub.pending.insert(event.seq, event);
        gap
    }

    /// Sends a stored event if it is newer than the last one sent; older ones are duplicates.
    pub fn send_stored(&mut self, event: &Encoded) -> Result<(), Refused> {
        match self.subscriptions.get_mut(&event.topic) {
            Some(sub) if event.seq > sub.last_seq => {
                sub.last_seq = event.seq;
                self.send_event(event)
            }
            _ => Ok(()),
        }
    }

    fn send_event(&mut self, event: &Encoded) -> Result<(), Refused> {
        self.delivered.inc();
        self.send(Frame::Event {
            id: (!event.transient).then_some(event.seq),
            json: event.json.clone(),
        })
    }

    /// Sends a frame after those already waiting; nothing once the socket is closing.
    pub fn send(&mut self, frame: Frame) -> Result<(), Refused> {
        if self.closing {
            return Ok(());
        }
        self.outbound.send(frame)
    }

    /// Sends a close frame after the frames waiting, or instead of them when `abandon`. True
    /// the first time only.
    pub fn close(&mut self, reason: CloseReason, abandon: bool) -> bool {
        if std::mem::replace(&mut self.closing, true) {
            return false;
        }
        self.outbound.close(reason, abandon);
        true
    }
}
