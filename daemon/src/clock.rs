//! Milliseconds for "when was this last used": one process-wide monotonic clock, and the
//! write-rarely update that every request's bookkeeping uses.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Milliseconds since the first call, on a monotonic clock.
pub fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Moves `last` forward to `now`, never backwards (a thread that read the clock a moment
/// earlier can come second), and writes only when the millisecond moved on: on a hot path a
/// read of a shared cache line is cheap, a write takes it from every other core.
pub fn advance(last: &AtomicU64, now: u64) {
    if last.load(Ordering::Relaxed) < now {
        last.fetch_max(now, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_moves_forward_only() {
        let last = AtomicU64::new(5);
        advance(&last, 7);
        assert_eq!(last.load(Ordering::Relaxed), 7);
        advance(&last, 6);
        assert_eq!(last.load(Ordering::Relaxed), 7);
        assert!(now_ms() <= now_ms());
    }
}
