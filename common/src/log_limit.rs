//! Rate limits for log lines an event can repeat many times a second: a
//! packet path, a broker that does not answer, a retry loop. One line per
//! interval gets through and says how many were suppressed since the last
//! one, so the log stays readable and nothing goes uncounted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a repeated warning or error is logged, unless a caller has a
/// reason to choose otherwise.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Lets an event's log line through at most once per interval, and counts
/// the ones it held back. Lock-free: safe on per-packet paths.
pub struct LogLimiter {
    interval: Duration,
    origin: Instant,
    next_millis: AtomicU64,
    suppressed: AtomicU64,
}

impl LogLimiter {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            origin: Instant::now(),
            next_millis: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(suppressed since the last one)` when this event may be logged.
    pub fn allow(&self) -> Option<u64> {
        let now = self.origin.elapsed().as_millis() as u64;
        let next = self.next_millis.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_millis
                .compare_exchange(
                    next,
                    now + self.interval.as_millis() as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self::new(LOG_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_one_through_per_interval_and_counts_the_rest() {
        let limiter = LogLimiter::new(Duration::from_secs(3600));
        assert_eq!(limiter.allow(), Some(0));
        assert_eq!(limiter.allow(), None);
        assert_eq!(limiter.allow(), None);
        let limiter = LogLimiter::new(Duration::ZERO);
        assert_eq!(limiter.allow(), Some(0));
        assert_eq!(limiter.allow(), Some(0));
    }

    #[test]
    fn the_next_line_reports_what_was_suppressed() {
        let limiter = LogLimiter::new(Duration::from_millis(30));
        assert_eq!(limiter.allow(), Some(0));
        for _ in 0..5 {
            assert_eq!(limiter.allow(), None);
        }
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(limiter.allow(), Some(5));
    }
}
