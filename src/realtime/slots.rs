//! How many sockets each user, each share link and each address without a login holds open on
//! this process, so none of them can pin an unbounded number of connections
//! (`ws.max_sockets_per_user`, `share.max_viewers_per_link`, `share.max_viewers_per_address`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::viewer::Holder;

#[derive(Default)]
pub struct SocketSlots {
    /// Open sockets per holder; one with none has no entry, so the map stays as small as the
    /// set of connected holders.
    open: Arc<Mutex<HashMap<Holder, usize>>>,
}

/// One open socket's place in each of its holders' counts, given back when dropped.
pub struct SocketSlot {
    open: Arc<Mutex<HashMap<Holder, usize>>>,
    holders: Vec<Holder>,
}

impl SocketSlots {
    /// A slot for one more socket of `holder`, unless they already hold `cap`.
    pub fn take(&self, holder: Holder, cap: usize) -> Option<SocketSlot> {
        self.take_all(&[(holder, cap)])
    }

    /// A slot counted against every holder given, unless any of them already holds its cap;
    /// then none is counted.
    pub fn take_all(&self, caps: &[(Holder, usize)]) -> Option<SocketSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let full = |(holder, cap): &(Holder, usize)| open.get(holder).is_some_and(|n| n >= cap);
        if caps.iter().any(full) {
            return None;
        }
        for (holder, _) in caps {
            *open.entry(*holder).or_insert(0) += 1;
        }
        Some(SocketSlot {
            open: self.open.clone(),
            holders: caps.iter().map(|(holder, _)| *holder).collect(),
        })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for holder in &self.holders {
            if let Some(count) = open.get_mut(holder) {
                *count -= 1;
                if *count == 0 {
                    open.remove(holder);
                }
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
    }

    #[test]
    fn a_slot_of_several_holders_counts_against_each_or_none() {
        let slots = SocketSlots::default();
        let (link, address) = (Holder::Link(1), Holder::Address([10, 0, 0, 1].into()));
        let first = slots.take_all(&[(link, 5), (address, 1)]).unwrap();
        assert!(slots.take_all(&[(link, 5), (address, 1)]).is_none());
        // The refused one counted against neither: the link still has room for others.
        let other = Holder::Address([10, 0, 0, 2].into());
        assert!(slots.take_all(&[(link, 2), (other, 1)]).is_some());
        drop(first);
        assert!(slots.take_all(&[(link, 5), (address, 1)]).is_some());
        assert!(
            slots.open.lock().unwrap().is_empty(),
            "no entry without sockets"
        );
    }
}
