//! How many sockets each user holds open on this process, so one account cannot pin an
//! unbounded number of connections (`ws.max_sockets_per_user`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct SocketSlots {
    /// Open sockets per user; a user with none has no entry, so the map stays as small as the
    /// set of connected users.
    open: Arc<Mutex<HashMap<i64, usize>>>,
}

/// One open socket's place in its user's count, given back when dropped.
pub struct SocketSlot {
    open: Arc<Mutex<HashMap<i64, usize>>>,
    user_id: i64,
}

impl SocketSlots {
    /// A slot for one more socket of `user_id`, unless they already hold `cap`.
    pub fn take(&self, user_id: i64, cap: usize) -> Option<SocketSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(user_id).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            open: self.open.clone(),
            user_id,
        })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user_id);
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
        let held: Vec<_> = (0..2).map(|_| slots.take(1, 2).unwrap()).collect();
        assert!(slots.take(1, 2).is_none());
        assert!(slots.take(2, 2).is_some(), "users are counted apart");
        drop(held);
        assert!(slots.take(1, 2).is_some());
        assert!(slots.open.lock().unwrap().len() <= 1);
    }
}
