//! Every worker thread's registry, and the way into them from other threads.
//!
//! A socket joins the subscriber table of the thread it runs on; the table and the registry
//! actor that routes by it are started there on first use. The listener sends each event to
//! each thread's registry once; questions about every socket (is this user online? close them
//! all) go to every registry, and the answers are combined.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use actix::{Actor, Addr};

use super::registry::{CloseAll, HasSubscribers, Publish, Registry, ResyncAll, RevokeUser};
use super::subscribers::SharedSubscribers;
use crate::domain::topic::Topic;
use crate::events::Encoded;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's subscriber table for each `Registries` (a test process runs several
    /// servers).
    static LOCAL: RefCell<HashMap<u64, SharedSubscribers>> = RefCell::default();
}

#[derive(Clone)]
pub struct Registries(Arc<Inner>);

struct Inner {
    /// Tells this server's tables apart from another's in `LOCAL`.
    id: u64,
    /// The registry of each thread that has sockets, in the order they started.
    threads: Mutex<Vec<Addr<Registry>>>,
}

impl Default for Registries {
    fn default() -> Self {
        Registries(Arc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            threads: Mutex::default(),
        }))
    }
}

impl Registries {
    /// The current thread's subscriber table, with its registry started on first use; call it
    /// on the socket's thread.
    pub fn local(&self) -> SharedSubscribers {
        LOCAL.with(|local| {
            local
                .borrow_mut()
                .entry(self.0.id)
                .or_insert_with(|| {
                    let subscribers = SharedSubscribers::default();
                    let registry = Registry::new(subscribers.clone()).start();
                    self.threads().push(registry);
                    subscribers
                })
                .clone()
        })
    }

    /// A committed event, to every subscriber of its topic on every thread.
    pub fn publish(&self, event: Encoded) {
        for registry in self.threads().iter() {
            registry.do_send(Publish(event.clone()));
        }
    }

    /// Events may have been missed: every socket catches up from the database.
    pub fn resync_all(&self) {
        for registry in self.threads().iter() {
            registry.do_send(ResyncAll);
        }
    }

    /// Whether any socket of this process follows `topic` (a user being online here).
    pub async fn has_subscribers(&self, topic: Topic) -> bool {
        for registry in self.all() {
            // A registry that is gone has no sockets.
            if registry.send(HasSubscribers(topic)).await == Ok(true) {
                return true;
            }
        }
        false
    }

    /// A user's sessions were revoked: their sockets with an older token close.
    pub fn revoke(&self, user_id: i64, token_version: i32) {
        for registry in self.threads().iter() {
            registry.do_send(RevokeUser {
                user_id,
                token_version,
            });
        }
    }

    /// Sends every socket a close frame; answered with how many were told.
    pub async fn close_all(&self) -> usize {
        let mut told = 0;
        for registry in self.all() {
            told += registry.send(CloseAll).await.unwrap_or(0);
        }
        told
    }

    /// A copy of the list, for questions whose answers are awaited without holding it.
    fn all(&self) -> Vec<Addr<Registry>> {
        self.threads().clone()
    }

    fn threads(&self) -> MutexGuard<'_, Vec<Addr<Registry>>> {
        // Nothing panics while holding it, but a poisoned list is still a good list.
        self.0.threads.lock().unwrap_or_else(|e| e.into_inner())
    }
}
