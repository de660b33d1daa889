//! The clocks every request's bookkeeping reads: milliseconds for "when was this last used"
//! (one process-wide monotonic clock, and the write-rarely update), and the wall clock's time
//! for the audit log.
//!
//! On Linux both are the kernel's coarse clocks (`CLOCK_MONOTONIC_COARSE`,
//! `CLOCK_REALTIME_COARSE`): the time of the last tick, read from the vDSO's page without
//! reading the CPU's counter, which a virtual machine may make its hypervisor answer. Their
//! resolution is one tick (1–10 ms), finer than anything read from them needs: idle periods,
//! least-recently-used homes and connections, and the audit log's seconds. A `Resolve` read
//! the precise clocks three times (BENCHMARKS.md).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Milliseconds since the first call, on a monotonic clock.
pub fn now_ms() -> u64 {
    static EPOCH: OnceLock<Duration> = OnceLock::new();
    let now = monotonic();
    now.saturating_sub(*EPOCH.get_or_init(|| now)).as_millis() as u64
}

/// The wall clock's time, to the tick.
pub fn wall() -> SystemTime {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let t = coarse(libc::CLOCK_REALTIME_COARSE);
        let since = Duration::new(t.tv_sec.unsigned_abs(), t.tv_nsec as u32);
        let at = match t.tv_sec >= 0 {
            true => SystemTime::UNIX_EPOCH.checked_add(since),
            false => SystemTime::UNIX_EPOCH.checked_sub(since),
        };
        at.unwrap_or_else(SystemTime::now)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    SystemTime::now()
}

/// A monotonic clock's reading, from an arbitrary start.
fn monotonic() -> Duration {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let t = coarse(libc::CLOCK_MONOTONIC_COARSE);
        Duration::new(t.tv_sec.max(0) as u64, t.tv_nsec as u32)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed()
    }
}

/// One of Linux's coarse clocks, through the C library, which reads it from the vDSO. (Not
/// rustix's `clock_gettime`: finding the vDSO itself, it crashes under valgrind, which the
/// benchmarks' instruction counts use.)
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
fn coarse(clock: libc::clockid_t) -> libc::timespec {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec to write to; the coarse clocks exist since Linux 2.6.32,
    // and on an error (none is possible for them) `t` stays zero.
    unsafe { libc::clock_gettime(clock, &mut t) };
    t
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

    #[test]
    fn the_coarse_clocks_keep_time_with_the_precise_ones() {
        // A coarse reading lags the precise clock by up to one tick (at most 10 ms).
        const TICK: u64 = 10;
        let (precise, ms, wall_before) = (std::time::Instant::now(), now_ms(), SystemTime::now());
        std::thread::sleep(Duration::from_millis(50));
        let (coarse, wall_after) = (now_ms() - ms, wall());
        let real = precise.elapsed().as_millis() as u64;
        assert!(
            (50 - TICK..=real + TICK).contains(&coarse),
            "{coarse} ms on the coarse clock, {real} ms on the precise one"
        );
        let wall_elapsed = wall_after.duration_since(wall_before).unwrap_or_default().as_millis() as u64;
        assert!(
            (50 - TICK..=real + TICK).contains(&wall_elapsed),
            "{wall_elapsed} ms on the coarse wall clock, {real} ms"
        );
    }
}
