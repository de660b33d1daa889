//! The one thread that talks to the OS keyring, and the rules that keep a bad keyring from
//! costing every caller its full timeout.
//!
//! The keyring crate's calls block (on a locked desktop, until an unlock prompt is answered), so
//! they run on a single worker thread fed by a bounded queue; each caller waits for its answer at
//! most the configured timeout. A caller fails at once, with an error that says why, when:
//! - the queue is full (too many calls waiting on a slow keyring);
//! - the worker has been stuck on one call for longer than the caller's timeout;
//! - the keyring failed just before (it timed out, or is not there at all): after each such
//!   failure it is left alone for a short, growing interval (1 s, doubling, at most 60 s).
//!
//! A keyring that answers — even "locked", which the user fixes by unlocking — is asked again
//! at once. A call whose caller gave up is skipped by the worker rather than run late.

use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::keyring::{KeyringError, SERVICE};

/// Calls waiting for the worker at most; more fail at once.
pub const QUEUE: usize = 32;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The keyring as the worker sees it: one entry per `user`, under [`SERVICE`]. A seam, so the
/// queue and backoff logic is tested with a fake.
pub trait Backend: Send + 'static {
    fn get(&mut self, user: &str) -> keyring::Result<String>;
    fn set(&mut self, user: &str, secret: &str) -> keyring::Result<()>;
    fn delete(&mut self, user: &str) -> keyring::Result<()>;
}

/// The platform keyring (Secret Service, Keychain) through the keyring crate.
struct OsKeyring;

impl Backend for OsKeyring {
    fn get(&mut self, user: &str) -> keyring::Result<String> {
        keyring::Entry::new(SERVICE, user)?.get_password()
    }
    fn set(&mut self, user: &str, secret: &str) -> keyring::Result<()> {
        keyring::Entry::new(SERVICE, user)?.set_password(secret)
    }
    fn delete(&mut self, user: &str) -> keyring::Result<()> {
        keyring::Entry::new(SERVICE, user)?.delete_credential()
    }
}

/// One request to the worker. `Debug` never shows `Set`'s secret.
pub enum Op {
    Get,
    Set(String),
    Delete,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Get => "Get",
            Op::Set(_) => "Set(<secret>)",
            Op::Delete => "Delete",
        })
    }
}

/// What the keyring answered: the entry's text for `Get`, nothing otherwise.
pub type Answer = keyring::Result<Option<String>>;

struct Job {
    user: String,
    op: Op,
    /// After this the caller has stopped waiting: the job is skipped.
    deadline: Instant,
    reply: SyncSender<Answer>,
}

#[derive(Debug, Default)]
struct Health {
    /// When the worker started the call it is running now.
    busy_since: Option<Instant>,
    /// Failures in a row (timeouts, keyring absent); reset by any answer.
    failures: u32,
    quiet_until: Option<Instant>,
    last_error: Option<KeyringError>,
}

/// The worker's queue and what callers know of its health.
#[derive(Debug)]
pub struct Worker {
    queue: SyncSender<Job>,
    health: Arc<Mutex<Health>>,
}

impl Worker {
    /// The process's worker for the OS keyring, started on first use.
    pub fn global() -> &'static Worker {
        static WORKER: OnceLock<Worker> = OnceLock::new();
        WORKER.get_or_init(|| Worker::start(OsKeyring))
    }

    /// Starts a worker thread over `backend`. It ends when the worker is dropped.
    pub fn start(mut backend: impl Backend) -> Self {
        let (queue, jobs) = mpsc::sync_channel::<Job>(QUEUE);
        let health = Arc::new(Mutex::new(Health::default()));
        let h = health.clone();
        let spawned = std::thread::Builder::new().name("hf-authd-keyring".into()).spawn(move || {
            for job in jobs {
                if Instant::now() >= job.deadline {
                    continue; // its caller gave up; running it late would only surprise
                }
                lock(&h).busy_since = Some(Instant::now());
                let answer = match job.op {
                    Op::Get => backend.get(&job.user).map(Some),
                    Op::Set(secret) => backend.set(&job.user, &secret).map(|()| None),
                    Op::Delete => backend.delete(&job.user).map(|()| None),
                };
                lock(&h).busy_since = None;
                // Here, not in the caller: a late answer (its caller timed out) still tells us the
                // keyring is back, e.g. once the unlock prompt was answered.
                note(&h, &answer);
                let _ = job.reply.send(answer);
            }
        });
        if let Err(e) = spawned {
            // Every call then fails with this error (the queue has no reader).
            lock(&health).last_error = Some(KeyringError::Other(format!("cannot start the keyring thread: {e}")));
        }
        Self { queue, health }
    }

    /// Runs `op` on the entry `user`, waiting at most `timeout` (queueing included). The outer
    /// error is ours (not run, or no answer in time); the inner one is the keyring's.
    pub fn call(&self, user: &str, op: Op, timeout: Duration) -> Result<Answer, KeyringError> {
        let now = Instant::now();
        self.check(now, timeout)?;
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job { user: user.to_owned(), op, deadline: now + timeout, reply };
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(KeyringError::Busy(format!("{QUEUE} keyring calls are waiting"))),
            Err(TrySendError::Disconnected(_)) => {
                let why = lock(&self.health).last_error.clone();
                return Err(why.unwrap_or_else(|| KeyringError::Other("the keyring thread has stopped".into())));
            }
        }
        match answer.recv_timeout(timeout) {
            Ok(answer) => Ok(answer),
            Err(RecvTimeoutError::Timeout) => Err(fail(&self.health, KeyringError::Timeout(timeout.as_secs()))),
            Err(RecvTimeoutError::Disconnected) => Err(KeyringError::Other("the keyring call failed".into())),
        }
    }

    /// Fails fast while the keyring is left alone after failures, or stuck on a call.
    fn check(&self, now: Instant, timeout: Duration) -> Result<(), KeyringError> {
        let stuck = {
            let h = lock(&self.health);
            if let Some(until) = h.quiet_until.filter(|u| *u > now) {
                return Err(KeyringError::BackingOff {
                    failures: h.failures,
                    secs: until.saturating_duration_since(now).as_secs_f64().ceil() as u64,
                    last: h.last_error.as_ref().map(ToString::to_string).unwrap_or_default(),
                });
            }
            h.busy_since.map(|since| now.saturating_duration_since(since)).filter(|busy| *busy >= timeout)
        };
        match stuck {
            Some(busy) => Err(fail(
                &self.health,
                KeyringError::Busy(format!(
                    "it has not answered a call for {}s (waiting for an unlock prompt?)",
                    busy.as_secs()
                )),
            )),
            None => Ok(()),
        }
    }
}

/// An answer came back: a keyring that is not there starts (or extends) the backoff; any other
/// answer (even "locked") ends it.
fn note(health: &Mutex<Health>, answer: &Answer) {
    if let Err(e) = answer {
        let classified = super::keyring::classify(e);
        if matches!(classified, KeyringError::Unavailable(_)) {
            fail(health, classified);
            return;
        }
    }
    let mut h = lock(health);
    h.failures = 0;
    h.quiet_until = None;
}

/// Counts a failure and leaves the keyring alone for a while; returns the error.
fn fail(health: &Mutex<Health>, error: KeyringError) -> KeyringError {
    let mut h = lock(health);
    h.failures += 1;
    let backoff = FIRST_BACKOFF.saturating_mul(1 << (h.failures - 1).min(6)).min(MAX_BACKOFF);
    h.quiet_until = Some(Instant::now() + backoff);
    h.last_error = Some(error.clone());
    tracing::warn!(failures = h.failures, quiet_secs = backoff.as_secs(), %error, "keyring call failed; leaving the keyring alone for a while");
    error
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::mpsc::Receiver;

    /// A keyring in memory; `gate` (when set) makes each call wait for a message first, so a
    /// test decides when the keyring answers. `absent` answers like a session with no keyring.
    #[derive(Default)]
    struct Fake {
        entries: HashMap<String, String>,
        gate: Option<Receiver<()>>,
        absent: Arc<Mutex<bool>>,
        calls: Arc<Mutex<usize>>,
    }

    impl Fake {
        fn answer(&mut self) -> keyring::Result<()> {
            *lock(&self.calls) += 1;
            if let Some(gate) = &self.gate {
                let _ = gate.recv();
            }
            if *lock(&self.absent) {
                return Err(keyring::Error::PlatformFailure("no secret service provider or dbus session found".into()));
            }
            Ok(())
        }
    }

    impl Backend for Fake {
        fn get(&mut self, user: &str) -> keyring::Result<String> {
            self.answer()?;
            self.entries.get(user).cloned().ok_or(keyring::Error::NoEntry)
        }
        fn set(&mut self, user: &str, secret: &str) -> keyring::Result<()> {
            self.answer()?;
            self.entries.insert(user.to_owned(), secret.to_owned());
            Ok(())
        }
        fn delete(&mut self, user: &str) -> keyring::Result<()> {
            self.answer()?;
            self.entries.remove(user).map(|_| ()).ok_or(keyring::Error::NoEntry)
        }
    }

    const T: Duration = Duration::from_millis(200);

    fn get(w: &Worker, user: &str) -> Result<Answer, KeyringError> {
        w.call(user, Op::Get, T)
    }

    #[test]
    fn calls_are_answered_in_order_by_one_worker() {
        let w = Worker::start(Fake::default());
        assert!(matches!(w.call("u", Op::Set("s1".into()), T), Ok(Ok(None))));
        assert!(matches!(get(&w, "u"), Ok(Ok(Some(s))) if s == "s1"));
        assert!(matches!(w.call("u", Op::Delete, T), Ok(Ok(None))));
        assert!(matches!(get(&w, "u"), Ok(Err(keyring::Error::NoEntry))));
    }

    #[test]
    fn a_hung_keyring_times_out_then_fails_fast_while_stuck_and_backs_off() {
        let (open, gate) = mpsc::channel();
        let calls = Arc::new(Mutex::new(0));
        let w = Worker::start(Fake { gate: Some(gate), calls: calls.clone(), ..Fake::default() });
        assert_eq!(get(&w, "u").unwrap_err(), KeyringError::Timeout(0));
        // Within the backoff: refused at once, saying why, without queueing a call.
        let e = get(&w, "u").unwrap_err();
        assert!(matches!(e, KeyringError::BackingOff { failures: 1, .. }), "{e:?}");
        assert!(e.to_string().contains("not asking it again for 1s"), "{e}");
        // After the backoff, still stuck on the first call: refused at once, backoff grows.
        std::thread::sleep(FIRST_BACKOFF);
        let started = Instant::now();
        let e = get(&w, "u").unwrap_err();
        assert!(matches!(e, KeyringError::Busy(_)), "{e:?}");
        eprintln!("stuck keyring: refused in {:?}", started.elapsed());
        assert!(started.elapsed() < T, "a stuck worker is not waited for");
        assert!(matches!(get(&w, "u").unwrap_err(), KeyringError::BackingOff { failures: 2, secs: 2, .. }));
        assert_eq!(*lock(&calls), 1, "nothing else reached the keyring");
        // The keyring answers at last (the prompt was answered): that late answer ends the
        // backoff, so the very next call goes through.
        open.send(()).unwrap();
        while lock(&w.health).busy_since.is_some() || lock(&w.health).quiet_until.is_some() {
            std::thread::yield_now();
        }
        open.send(()).unwrap();
        assert!(matches!(get(&w, "u"), Ok(Err(keyring::Error::NoEntry))));
        assert!(matches!(get(&w, "u"), Err(KeyringError::Timeout(_))), "the gate is shut again");
    }

    #[test]
    fn a_full_queue_fails_fast() {
        let (open, gate) = mpsc::channel();
        let w = Arc::new(Worker::start(Fake { gate: Some(gate), ..Fake::default() }));
        // One call running (held by the gate)…
        let running = {
            let w = w.clone();
            std::thread::spawn(move || w.call("first", Op::Get, Duration::from_secs(30)))
        };
        while lock(&w.health).busy_since.is_none() {
            std::thread::yield_now();
        }
        // …and the queue full (with jobs already past their deadline: the worker skips them).
        for _ in 0..QUEUE {
            let job =
                Job { user: "probe".into(), op: Op::Get, deadline: Instant::now(), reply: mpsc::sync_channel(1).0 };
            assert!(w.queue.try_send(job).is_ok());
        }
        let started = Instant::now();
        let e = w.call("late", Op::Get, Duration::from_secs(30)).unwrap_err();
        eprintln!("full queue: refused in {:?}", started.elapsed());
        assert!(started.elapsed() < Duration::from_secs(1), "not waited for");
        assert!(matches!(e, KeyringError::Busy(_)), "{e:?}");
        assert!(e.to_string().contains("32 keyring calls are waiting"), "{e}");
        open.send(()).unwrap();
        assert!(matches!(running.join().unwrap(), Ok(Err(keyring::Error::NoEntry))));
        // The skipped probes never reach the keyring: once the worker has drained them (the queue
        // may still be full for a moment), the next call is answered.
        open.send(()).unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        let r = loop {
            match get(&w, "u") {
                Err(KeyringError::Busy(_)) if Instant::now() < until => std::thread::yield_now(),
                r => break r,
            }
        };
        assert!(matches!(r, Ok(Err(keyring::Error::NoEntry))), "{:?}", r.err());
    }

    #[test]
    fn an_absent_keyring_backs_off_and_an_answer_ends_it() {
        let absent = Arc::new(Mutex::new(true));
        let w = Worker::start(Fake { absent: absent.clone(), ..Fake::default() });
        assert!(matches!(get(&w, "u"), Ok(Err(keyring::Error::PlatformFailure(_)))));
        let e = get(&w, "u").unwrap_err();
        assert!(matches!(e, KeyringError::BackingOff { failures: 1, .. }), "{e:?}");
        assert!(e.to_string().contains("no secret service provider"), "names the last error: {e}");
        *lock(&absent) = false;
        std::thread::sleep(FIRST_BACKOFF);
        assert!(matches!(get(&w, "u"), Ok(Err(keyring::Error::NoEntry))));
        assert!(matches!(get(&w, "u"), Ok(Err(keyring::Error::NoEntry))), "answered: no more backoff");
    }

    #[test]
    fn a_locked_keyring_is_asked_again_at_once() {
        struct Locked;
        impl Backend for Locked {
            fn get(&mut self, _: &str) -> keyring::Result<String> {
                Err(keyring::Error::NoStorageAccess("Prompt dismissed".into()))
            }
            fn set(&mut self, _: &str, _: &str) -> keyring::Result<()> {
                unreachable!()
            }
            fn delete(&mut self, _: &str) -> keyring::Result<()> {
                unreachable!()
            }
        }
        let w = Worker::start(Locked);
        for _ in 0..3 {
            assert!(matches!(get(&w, "u"), Ok(Err(keyring::Error::NoStorageAccess(_)))), "unlocking must work at once");
        }
    }
}
