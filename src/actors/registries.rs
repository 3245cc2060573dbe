//! Every worker thread's registry, and the way into them from other threads.
//!
//! A socket joins the registry of the thread it runs on, which is started there on first use.
//! The listener hands each event to each thread once, over a channel that a task on that thread
//! drains in order; questions about every socket (is this user online? close them all) go to
//! every thread, and the answers are combined.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::registry::Registry;
use crate::domain::topic::Topic;
use crate::events::Encoded;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's registry for each `Registries` (a test process runs several servers).
    static LOCAL: RefCell<HashMap<u64, Rc<RefCell<Registry>>>> = RefCell::default();
}

/// What another thread asks of a thread's registry.
enum Command {
    Publish(Encoded),
    ResyncAll,
    HasSubscribers(Topic, oneshot::Sender<bool>),
    CloseAll(oneshot::Sender<usize>),
}

#[derive(Clone)]
pub struct Registries(Arc<Inner>);

struct Inner {
    /// Tells this server's registries apart from another's in `LOCAL`.
    id: u64,
    /// A channel to each thread that has a registry, in the order they started.
    threads: Mutex<Vec<mpsc::UnboundedSender<Command>>>,
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
    /// The current thread's registry, started on first use; call it on the socket's thread.
    pub fn local(&self) -> Rc<RefCell<Registry>> {
        LOCAL.with(|local| {
            local
                .borrow_mut()
                .entry(self.0.id)
                .or_insert_with(|| self.start_local())
                .clone()
        })
    }

    fn start_local(&self) -> Rc<RefCell<Registry>> {
        let registry = Rc::new(RefCell::new(Registry::default()));
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.threads().push(tx);
        let serving = registry.clone();
        // Ends when the server drops its `Registries`, or with the thread.
        actix::spawn(async move {
            while let Some(command) = rx.recv().await {
                let registry = serving.borrow();
                match command {
                    Command::Publish(event) => registry.publish(&event),
                    Command::ResyncAll => registry.resync_all(),
                    Command::HasSubscribers(topic, answer) => {
                        let _ = answer.send(registry.has_subscribers(topic));
                    }
                    Command::CloseAll(answer) => {
                        let _ = answer.send(registry.close_all());
                    }
                }
            }
        });
        registry
    }

    /// A committed event, to every subscriber of its topic on every thread.
    pub fn publish(&self, event: Encoded) {
        self.tell_each(|| Command::Publish(event.clone()));
    }

    /// Events may have been missed: every socket catches up from the database.
    pub fn resync_all(&self) {
        self.tell_each(|| Command::ResyncAll);
    }

    /// Whether any socket of this process follows `topic` (a user being online here).
    pub async fn has_subscribers(&self, topic: Topic) -> bool {
        for answer in self.ask_each(|tx| Command::HasSubscribers(topic, tx)) {
            if answer.await == Ok(true) {
                return true;
            }
        }
        false
    }

    /// Sends every socket a close frame; answered with how many were told.
    pub async fn close_all(&self) -> usize {
        let mut told = 0;
        for answer in self.ask_each(Command::CloseAll) {
            told += answer.await.unwrap_or(0);
        }
        told
    }

    fn tell_each(&self, mut command: impl FnMut() -> Command) {
        for thread in self.threads().iter() {
            // A thread that is gone has no sockets left to tell.
            let _ = thread.send(command());
        }
    }

    fn ask_each<T>(
        &self,
        command: impl Fn(oneshot::Sender<T>) -> Command,
    ) -> Vec<oneshot::Receiver<T>> {
        let mut answers = Vec::new();
        self.tell_each(|| {
            let (tx, rx) = oneshot::channel();
            answers.push(rx);
            command(tx)
        });
        answers
    }

    fn threads(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::UnboundedSender<Command>>> {
        // Nothing panics while holding it, but a poisoned list is still a good list.
        self.0.threads.lock().unwrap_or_else(|e| e.into_inner())
    }
}
