//! Failed-login throttling by account as seen from one client address, and by address.
//!
//! A few failures are free; after that every further failure doubles the wait before the next
//! attempt, up to a cap. An account's failures count against the address they came from: a
//! stranger guessing at someone's account slows only their own attempts, and the owner logs in
//! from a clean address as if nothing happened. An address's failures over all accounts count
//! too (with more free ones: offices and carrier NAT share addresses), so one address cannot
//! spray guesses across accounts. The account is the user, not the spelling: email and
//! username share one count. State is per process and bounded in size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most keys remembered at once; beyond this, entries whose wait has passed are dropped first.
const MAX_TRACKED: usize = 100_000;
/// Longest account name kept as a key.
const MAX_KEY_CHARS: usize = 256;
/// Addresses are shared by many people (offices, carrier NAT), so they get more free failures.
const ADDRESS_FREE_FACTOR: u32 = 4;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

pub struct LoginThrottle {
    /// Keyed `acct:<account>@<ip>` and `addr:<ip>`.
    failures: Mutex<HashMap<String, Failures>>,
    free: u32,
    max_delay: Duration,
}

impl LoginThrottle {
    pub fn new(free: u32, max_delay: Duration) -> Self {
        LoginThrottle {
            failures: Mutex::new(HashMap::new()),
            free,
            max_delay,
        }
    }

    /// The keys one attempt counts against. `account` names the user (their id when the login
    /// names one, else the login as typed, lower-cased).
    pub fn keys(account: &str, address: Option<&str>) -> Vec<String> {
        let addr = address.unwrap_or("unknown");
        // A made-up login may be as long as a body allows; what is remembered stays small.
        let account: String = account
            .trim()
            .to_lowercase()
            .chars()
            .take(MAX_KEY_CHARS)
            .collect();
        vec![format!("acct:{account}@{addr}"), format!("addr:{addr}")]
    }

    /// `Err(wait)` while any key must still wait before its next attempt.
    pub fn check(&self, keys: &[String]) -> Result<(), Duration> {
        let now = Instant::now();
        let map = self.failures.lock().expect("throttle lock");
        let wait = keys
            .iter()
            .filter_map(|k| map.get(k).map(|f| self.remaining(k, *f, now)))
            .max()
            .unwrap_or_default();
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait)
        }
    }

    pub fn record_failure(&self, keys: &[String]) {
        let now = Instant::now();
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() >= MAX_TRACKED {
            let forget_after = self.max_delay * 2;
            map.retain(|_, f| now.duration_since(f.last) < forget_after);
        }
        for key in keys {
            let entry = map.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
            });
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
        }
    }

    /// A successful login clears the account's record at that address (not the address's).
    pub fn record_success(&self, keys: &[String]) {
        let mut map = self.failures.lock().expect("throttle lock");
        for key in keys.iter().filter(|k| k.starts_with("acct:")) {
            map.remove(key);
        }
    }

    fn remaining(&self, key: &str, f: Failures, now: Instant) -> Duration {
        let free = if key.starts_with("addr:") {
            self.free.saturating_mul(ADDRESS_FREE_FACTOR)
        } else {
            self.free
        };
        if f.count < free {
            return Duration::ZERO;
        }
        let doublings = (f.count - free).min(20);
        let delay = Duration::from_secs(1u64 << doublings).min(self.max_delay);
        delay.saturating_sub(now.duration_since(f.last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_failures_then_growing_capped_delay() {
        let t = LoginThrottle::new(3, Duration::from_secs(10));
        let keys = LoginThrottle::keys("Ann@Example.com", None);
        for _ in 0..2 {
            t.record_failure(&keys);
            assert!(t.check(&keys).is_ok());
        }
        t.record_failure(&keys);
        let first = t.check(&keys).unwrap_err();
        assert!(first <= Duration::from_secs(1));
        for _ in 0..10 {
            t.record_failure(&keys);
        }
        let capped = t.check(&keys).unwrap_err();
        assert!(capped > Duration::from_secs(5) && capped <= Duration::from_secs(10));
        t.record_success(&keys);
        assert!(
            t.check(&keys[..1]).is_ok(),
            "the account's count is cleared"
        );
        assert!(t.check(&keys[1..]).is_err(), "the address's count is not");
    }

    #[test]
    fn account_key_ignores_case() {
        assert_eq!(
            LoginThrottle::keys("ANN", None),
            LoginThrottle::keys("ann", None)
        );
    }

    #[test]
    fn a_strangers_failures_do_not_hold_back_the_owner_elsewhere() {
        let t = LoginThrottle::new(2, Duration::from_secs(60));
        let stranger = LoginThrottle::keys("7", Some("203.0.113.9"));
        for _ in 0..6 {
            t.record_failure(&stranger);
        }
        assert!(t.check(&stranger).is_err());
        assert!(t
            .check(&LoginThrottle::keys("7", Some("198.51.100.4")))
            .is_ok());
    }
}
