//! Fixed-window request counters by key, bounded in memory; `rate_limit` decides the keys.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window of the per-minute budgets.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The window of the registration budget.
pub const REGISTER_WINDOW: Duration = Duration::from_secs(3600);
/// Most keys remembered at once; beyond this, finished windows are dropped first.
const MAX_TRACKED: usize = 100_000;

/// Where one key stands in its current window.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    pub reset: Duration,
}

#[derive(Default)]
pub struct RateLimiter {
    /// Key -> (window start, requests in it); the window's length goes with the key's kind.
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// Counts one request for `key` against `limit` per `window`.
    pub fn hit(&self, key: &str, limit: u32, window: Duration) -> Verdict {
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("rate limit lock");
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, (start, _)| now.duration_since(*start) < REGISTER_WINDOW);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        let allowed = entry.1 < limit;
        if allowed {
            entry.1 += 1;
        }
        Verdict {
            allowed,
            limit,
            remaining: limit - entry.1.min(limit),
            reset: window.saturating_sub(now.duration_since(entry.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_then_refuses() {
        let limiter = RateLimiter::default();
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.hit("user:1", 3, WINDOW).remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.hit("user:1", 3, WINDOW);
        assert!(!refused.allowed);
        assert!(refused.reset <= WINDOW && refused.reset > Duration::from_secs(50));
        assert!(
            limiter.hit("user:2", 3, WINDOW).allowed,
            "keys are independent"
        );
    }
}
