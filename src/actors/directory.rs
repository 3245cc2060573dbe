//! A directory of keyed actors started on first use: at most one live actor per key on this
//! node. Actors remove themselves when they stop idle.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, MailboxError, Message};

/// How many times a message is sent again after finding its actor stopped.
const STALE_ADDRESS_RETRIES: usize = 3;

/// Cheap to clone: the actors hold it too, to leave it when they stop.
pub struct Directory<K, A: Actor> {
    live: Arc<Mutex<HashMap<K, Addr<A>>>>,
}

impl<K, A: Actor> Clone for Directory<K, A> {
    fn clone(&self) -> Self {
        Directory {
            live: self.live.clone(),
        }
    }
}

impl<K: Eq + Hash + Clone, A: Actor> Default for Directory<K, A> {
    fn default() -> Self {
        Directory {
            live: Arc::default(),
        }
    }
}

impl<K: Eq + Hash + Clone, A: Actor> Directory<K, A> {
    /// The live actor for `key`, started with `start` if there is none (or it has stopped).
    pub fn get_or_start(&self, key: &K, start: impl FnOnce() -> Addr<A>) -> Addr<A> {
        let mut live = self.live.lock().expect("directory lock");
        match live.get(key) {
            Some(addr) if addr.connected() => addr.clone(),
            _ => {
                let addr = start();
                live.insert(key.clone(), addr.clone());
                addr
            }
        }
    }

    /// Sends `msg` to the actor for `key`, started with `start` if there is none. An actor that
    /// stopped idle between the lookup and the send is forgotten and a fresh one started, a few
    /// times at most (then `Closed`).
    pub async fn send<M>(
        &self,
        key: &K,
        start: impl Fn() -> Addr<A>,
        msg: M,
    ) -> Result<M::Result, MailboxError>
    where
        M: Message + Send + Clone + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        for _ in 0..STALE_ADDRESS_RETRIES {
            let addr = self.get_or_start(key, &start);
            match addr.send(msg.clone()).await {
                Err(MailboxError::Closed) => self.remove(key, &addr),
                answered => return answered,
            }
        }
        Err(MailboxError::Closed)
    }

    /// Forgets `key` if it still points at `addr` (a newer actor may have taken its place).
    pub fn remove(&self, key: &K, addr: &Addr<A>) {
        let mut live = self.live.lock().expect("directory lock");
        if live.get(key).is_some_and(|current| current == addr) {
            live.remove(key);
        }
    }
}
