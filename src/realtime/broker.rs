//! The boundaries of the real-time path: a `Broker` carries committed events between server
//! processes, a `History` reads them back from the record. PostgreSQL is the record (it numbers
//! every topic's events with a gap-free `seq`) and, by default, the broker too (`postgres`).
//!
//! Events are announced by the transaction that commits them (`announce` in
//! `sql/V11__broker_outbox.sql`), so subscribers never hear of work that did not commit, and
//! hear each topic in commit order: `postgres` NOTIFYs at commit; `nats` publishes after commit
//! from the outbox (its relay, `nats::relay`). Either way a subscriber that sees a gap in a
//! topic's seq, or is told events may have been missed, reads them from the `History`.

use futures_util::future::BoxFuture;

use crate::db::DbError;
use crate::domain::topic::Topic;
use crate::events::Encoded;
use crate::realtime::viewer::Revocation;

/// Where a broker hands what it carries: this process's sockets (the hub implements it).
pub trait Subscribers: Send + Sync + 'static {
    /// A committed event, for every socket here that follows its topic.
    fn publish(&self, event: Encoded);
    /// A user's sessions or a share link were revoked: their sockets close.
    fn revoke(&self, revocation: Revocation);
    /// Events may have been missed (the broker was interrupted): every socket catches up from
    /// the history.
    fn resync_all(&self);
    /// Events of `source` (a topic as `Topic::source` names it) may have been missed: its
    /// sockets, and those following its views, catch up from the history.
    fn resync(&self, source: Topic);
}

/// Carries committed events from every process to this process's subscribers.
pub trait Broker: Send + Sync + 'static {
    /// Starts carrying: each committed event of a followed topic and each revoked session goes
    /// to `to`, and after any interruption `to.resync_all()`.
    fn start(&self, to: Box<dyn Subscribers>);
    /// A thread of this process has its first socket on `topic`. Called once per thread, so a
    /// broker that subscribes per topic counts the calls.
    fn follow(&self, topic: Topic);
    /// A thread of this process has no socket left on `topic`.
    fn unfollow(&self, topic: Topic);
    /// Whether events reach this process now, for `/readyz`.
    fn connected(&self) -> bool;
    /// Stops carrying, before the database goes away at shutdown.
    fn stop(&self) -> BoxFuture<'static, ()>;
}

/// The stored events of every topic: what a new subscriber starts from and what fills a gap.
pub trait History: Send + Sync + 'static {
    /// Up to `limit` events of `topic` with seq greater than `after`, in seq order.
    fn after(
        &self,
        topic: Topic,
        after: i64,
        limit: i64,
    ) -> BoxFuture<'static, Result<Vec<Encoded>, DbError>>;
    /// The topic as it stands now, for a subscriber that gave no `since`.
    fn snapshot(&self, topic: Topic) -> BoxFuture<'static, Result<Option<Encoded>, DbError>>;
}
