//! How many sockets each user, and each share link, holds open on this process, so one account
//! or one link cannot pin an unbounded number of connections (`ws.max_sockets_per_user`,
//! `share.max_viewers_per_link`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::viewer::Holder;

#[derive(Default)]
pub struct SocketSlots {
    /// Open sockets per holder; one with none has no entry, so the map stays as small as the
    /// set of connected holders.
    open: Arc<Mutex<HashMap<Holder, usize>>>,
}

/// One open socket's place in its holder's count, given back when dropped.
pub struct SocketSlot {
    open: Arc<Mutex<HashMap<Holder, usize>>>,
    holder: Holder,
}

impl SocketSlots {
    /// A slot for one more socket of `holder`, unless they already hold `cap`.
    pub fn take(&self, holder: Holder, cap: usize) -> Option<SocketSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(holder).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            open: self.open.clone(),
            holder,
        })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.holder) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.holder);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_the_cap_and_gets_slots_back() {
        let slots = SocketSlots::default();
        let (one, two) = (Holder::User(1), Holder::User(2));
        let held: Vec<_> = (0..2).map(|_| slots.take(one, 2).unwrap()).collect();
        assert!(slots.take(one, 2).is_none());
        assert!(slots.take(two, 2).is_some(), "users are counted apart");
        assert!(
            slots.take(Holder::Link(1), 2).is_some(),
            "links apart from users"
        );
        drop(held);
        assert!(slots.take(one, 2).is_some());
        assert!(slots.open.lock().unwrap().len() <= 1);
    }
}
