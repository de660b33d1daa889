//! The daemon's activity as its connections report it (`crate::conns`), and what it does once
//! idle after a burst: hand the heap's free pages back to the kernel (`crate::malloc`), so a
//! burst's buffers do not stay resident.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// How long the daemon must be idle (no connection opened, closed or read from, on any socket)
/// after a connection closed before it hands its free heap pages back: long enough that
/// back-to-back clients (git runs its helper twice for one push) never wait for it, and never
/// while it serves.
pub const QUIET: Duration = Duration::from_millis(500);

/// Connections accepted plus connections closed, on every socket of this process (the heap is
/// the process's).
static CHURN: AtomicU64 = AtomicU64::new(0);
/// When any connection last read something ([`crate::clock`] ms; written at most once a
/// millisecond, so the hot path mostly only reads it).
static LAST_READ_MS: AtomicU64 = AtomicU64::new(0);
/// [`CHURN`] when free pages were last handed back: one hand-back per quiet period, whichever
/// socket's watcher sees it first.
static HANDED_BACK_AT: AtomicU64 = AtomicU64::new(0);

/// A connection was accepted.
pub(crate) fn accepted() {
    CHURN.fetch_add(1, Ordering::Relaxed);
}

/// A connection read something at `now` ([`crate::clock::now_ms`]).
pub(crate) fn read(now: u64) {
    crate::clock::advance(&LAST_READ_MS, now);
}

/// A socket's closes, told to its watcher ([`Closes::watched`]); the watcher ends with this.
/// The default has no watcher.
#[derive(Debug, Default)]
pub(crate) struct Closes(Arc<Notify>);

impl Closes {
    /// Starts the task that hands memory back after this socket's connections close (call
    /// within the runtime).
    pub(crate) fn watched() -> Self {
        let closes = Arc::new(Notify::new());
        tokio::spawn(hand_back_when_quiet(closes.clone()));
        Self(closes)
    }

    /// A connection closed.
    pub(crate) fn closed(&self) {
        CHURN.fetch_add(1, Ordering::Relaxed);
        self.0.notify_one();
    }
}

impl Drop for Closes {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// After each close told to `closes`: once the daemon has been idle for [`QUIET`] (no
/// connection opened, closed or read from anywhere), hands the heap's free pages back. Open but
/// silent connections (a `Watch` stream, a client's cached channel) do not hold it off; traffic
/// does, so a request never waits for it (it takes the allocator's lock for 47–110 µs here).
/// Within 2 × [`QUIET`] of the last activity. Ends when its [`Closes`] is dropped.
async fn hand_back_when_quiet(closes: Arc<Notify>) {
    let gone = |closes: &Arc<Notify>| Arc::strong_count(closes) == 1;
    loop {
        closes.notified().await;
        loop {
            let seen = CHURN.load(Ordering::Relaxed);
            if gone(&closes) || seen == HANDED_BACK_AT.load(Ordering::Relaxed) {
                break;
            }
            let read = LAST_READ_MS.load(Ordering::Relaxed);
            tokio::time::sleep(QUIET).await;
            if CHURN.load(Ordering::Relaxed) != seen || LAST_READ_MS.load(Ordering::Relaxed) != read {
                continue;
            }
            if HANDED_BACK_AT.swap(seen, Ordering::Relaxed) != seen {
                let started = std::time::Instant::now();
                let returned = crate::malloc::hand_back_free_pages();
                let micros = started.elapsed().as_micros() as u64;
                tracing::debug!(returned, micros, "quiet after connections closed; handed free heap pages back");
            }
            break;
        }
        if gone(&closes) {
            return;
        }
    }
}
