//! The audit log: one JSON line per handout of a secret (every `Resolve` that returns a token:
//! `hf-auth token`, git's `get`, `exec`, forwarded calls) and per refusal on the forward socket,
//! appended to `$XDG_STATE_HOME/hf-auth/audit.log` (0600, in a 0700 directory).
//!
//! It never slows a request: the request path only builds a small [`Entry`] (no I/O: the peer's
//! pid, uid and executable were read when its connection was accepted) and hands it to a bounded
//! queue with `try_send`; a writer thread appends it. When the queue is full the line is dropped
//! and counted, and the next line written says how many were lost (`dropped_before`).
//!
//! Nor does it wake a thread per request. The writer writes a line at once when it was idle, then
//! lingers ([`LINGER`]) before it takes the next batch: lines queued meanwhile cost the request
//! path an atomic push, not a futex wake and a context switch (waking the writer for every
//! `Resolve` had doubled its latency and CPU: BENCHMARKS.md). A queue half full, a reader of the
//! log ([`Audit::sync`], called before `Status` answers, so `hf-auth audit` sees every line) and
//! the daemon's exit cut the linger short. The file is
//! bounded: past [`DEFAULT_MAX_BYTES`] it becomes `audit.log.1` (replacing the previous one) and
//! a new file is started, so the log never holds more than twice that.
//!
//! What it records is who got which token and why — never the token itself: an [`Entry`] has
//! no field that could hold a secret, only the stored token's *name*.

mod line;

use crate::conns::PeerInfo;
use line::{Entry, Formatter};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Lines waiting for the writer at most; past it they are dropped (and counted).
pub const QUEUE: usize = 1024;
/// `audit.log` is rotated to `audit.log.1` past this size.
pub const DEFAULT_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// How long the writer waits after a batch before it takes the next one (unless woken): under
/// load, at most this many wake-ups a second per [`LINGER`], whatever the request rate.
pub const LINGER: Duration = Duration::from_millis(20);

/// The log's front end: cheap to call from any request.
#[derive(Debug)]
pub struct Audit {
    tx: Option<SyncSender<Entry>>,
    path: Option<PathBuf>,
    shared: Arc<Shared>,
}

/// What the front end and the writer share.
#[derive(Debug, Default)]
struct Shared {
    /// Lines lost because the queue was full.
    dropped: AtomicU64,
    /// Lines queued and not yet written.
    pending: AtomicUsize,
    /// Batches written (one write each, unless a batch outgrew the write size).
    batches: AtomicU64,
    /// The writer, to cut its linger short.
    writer: OnceLock<std::thread::Thread>,
    /// Signalled after every batch, for [`Audit::sync`].
    written: Mutex<()>,
    written_cv: Condvar,
}

impl Shared {
    fn wake_writer(&self) {
        if let Some(writer) = self.writer.get() {
            writer.unpark();
        }
    }
}

impl Audit {
    /// No log (tests that do not look at it, a daemon without a state directory).
    pub fn disabled() -> Self {
        Self { tx: None, path: None, shared: Arc::default() }
    }

    /// Starts the writer thread for `path`. The file is opened (and its directory made) by the
    /// writer, so a problem there is logged and never stops the daemon.
    pub fn start(path: PathBuf, max_bytes: u64) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let shared = Arc::new(Shared::default());
        let writer = Writer { path: path.clone(), max_bytes, file: None, shared: shared.clone() };
        let spawned = std::thread::Builder::new().name("hf-authd-audit".into()).spawn(move || writer.run(rx));
        match spawned {
            Ok(handle) => {
                let _ = shared.writer.set(handle.thread().clone());
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the audit log writer; no audit log");
                return Self::disabled();
            }
        }
        Self { tx: Some(tx), path: Some(path), shared }
    }

    /// Lines are queued that the file does not have yet.
    pub fn has_pending(&self) -> bool {
        self.shared.pending.load(Ordering::Acquire) > 0
    }

    /// Waits (at most `timeout`) until every line queued so far is in the file; true if it is.
    /// Immediate when nothing is queued.
    pub fn sync(&self, timeout: Duration) -> bool {
        if self.shared.pending.load(Ordering::Acquire) == 0 {
            return true;
        }
        self.shared.wake_writer();
        let guard = self.shared.written.lock().unwrap_or_else(|e| e.into_inner());
        let (_guard, waited) = self
            .shared
            .written_cv
            .wait_timeout_while(guard, timeout, |()| self.shared.pending.load(Ordering::Acquire) > 0)
            .unwrap_or_else(|e| e.into_inner());
        !waited.timed_out()
    }

    /// Batches the writer has written (each one write to the file, for lines that queued together).
    #[cfg(test)]
    fn batches(&self) -> u64 {
        self.shared.batches.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Lines dropped so far because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// A secret was handed out: `answer` is what `Resolve` returned (its token is not read).
    pub fn handout(
        &self,
        rpc: &'static str,
        peer: Option<&PeerInfo>,
        answer: &hf_auth_proto::pb::ResolveResponse,
        endpoint: compact_str::CompactString,
    ) {
        if self.tx.is_none() {
            return;
        }
        let mut e = Entry::new("handout", rpc, peer);
        e.token_name = answer.name.as_str().into();
        e.why = reason_name(answer.reason);
        e.rule = (answer.rule_index > 0).then_some(answer.rule_index);
        e.endpoint = endpoint;
        self.send(e);
    }

    /// A forwarded request (or a peer on the forward socket) was refused.
    pub fn refusal(&self, rpc: &'static str, peer: Option<&PeerInfo>, detail: &str) {
        if self.tx.is_none() {
            return;
        }
        let mut e = Entry::new("refused", rpc, peer);
        e.detail = detail.to_owned();
        self.send(e);
    }

    fn send(&self, entry: Entry) {
        let Some(tx) = &self.tx else { return };
        let pending = self.shared.pending.fetch_add(1, Ordering::AcqRel) + 1;
        match tx.try_send(entry) {
            // Half full: the writer takes the batch now rather than after its linger.
            Ok(()) if pending == QUEUE / 2 => self.shared.wake_writer(),
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.pending.fetch_sub(1, Ordering::AcqRel);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The audit name of a `RouteReason`.
pub fn reason_name(reason: i32) -> &'static str {
    use hf_auth_proto::pb::RouteReason as R;
    match R::try_from(reason).unwrap_or(R::Unspecified) {
        R::Unspecified => "",
        R::Oidc => "oidc",
        R::Env => "env",
        R::Name => "name",
        R::Rule => "rule",
        R::Scope => "scope",
        R::Active => "active",
        R::Username => "username",
    }
}

/// The writer thread's state.
struct Writer {
    path: PathBuf,
    max_bytes: u64,
    file: Option<File>,
    shared: Arc<Shared>,
}

impl Writer {
    /// Writes what is queued in batches: under load one write (and one size check) serves many
    /// lines, and one wake-up of this thread many requests (see the module's comment).
    fn run(mut self, rx: Receiver<Entry>) {
        let mut reported = 0;
        // A batch stays well under the size bound, so rotation keeps the log bounded.
        let cap = (self.max_bytes / 8).clamp(1, 64 * 1024) as usize;
        let mut batch = Vec::with_capacity(4096);
        let mut format = Formatter::default();
        while let Ok(first) = rx.recv() {
            // Streamed from the queue into the batch: no list of entries is built on the way.
            let mut taken = 0;
            for mut entry in std::iter::once(first).chain(rx.try_iter().take(QUEUE)) {
                taken += 1;
                let dropped = self.shared.dropped.load(Ordering::Relaxed);
                if dropped > reported {
                    entry.dropped_before = Some(dropped - reported);
                    reported = dropped;
                }
                format.line(&mut batch, &entry);
                if batch.len() >= cap {
                    self.flush(&mut batch);
                }
            }
            if !batch.is_empty() {
                self.flush(&mut batch);
            }
            self.shared.batches.fetch_add(1, Ordering::Relaxed);
            self.shared.pending.fetch_sub(taken, Ordering::AcqRel);
            drop(self.shared.written.lock().unwrap_or_else(|e| e.into_inner()));
            self.shared.written_cv.notify_all();
            // Lines that arrive now wait here for the next batch, without waking this thread.
            std::thread::park_timeout(LINGER);
        }
    }

    /// Writes `batch` (a problem is logged, the file reopened next time) and empties it.
    fn flush(&mut self, batch: &mut Vec<u8>) {
        if let Err(e) = self.write(batch) {
            tracing::warn!(error = %e, path = %self.path.display(), "cannot write the audit log");
            self.file = None;
        }
        batch.clear();
    }

    fn write(&mut self, lines: &[u8]) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(open(&self.path)?),
        };
        file.write_all(lines)?;
        if file.metadata()?.len() >= self.max_bytes {
            self.file = None;
            let mut old = self.path.clone().into_os_string();
            old.push(".1");
            std::fs::rename(&self.path, PathBuf::from(old))?;
        }
        Ok(())
    }
}

/// Opens the log for appending: its directory made 0700 (and checked, as every private
/// directory), the file 0600, never through a symlink, and only if it is ours.
fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        crate::secure_fs::create_private_dirs(dir).map_err(std::io::Error::other)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if meta.uid() != crate::secure_fs::my_uid() {
        return Err(std::io::Error::other(format!("{} belongs to uid {}, not us", path.display(), meta.uid())));
    }
    if meta.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conns::Origin;
    use hf_auth_proto::pb;

    fn wait_for_lines(path: &Path, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..2000 {
            if let Ok(text) = std::fs::read_to_string(path)
                && text.lines().count() >= n
            {
                return text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("the audit log never got {n} lines");
    }

    #[test]
    fn a_handout_is_one_json_line_with_the_name_and_never_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("hf-auth").join("audit.log");
        let audit = Audit::start(path.clone(), DEFAULT_MAX_BYTES);
        let peer =
            PeerInfo { uid: Some(7), pid: Some(42), exe: Some("/usr/bin/git".into()), origin: Origin::Forwarded };
        let answer = pb::ResolveResponse {
            token: "hf_supersecretvalue1234".into(),
            name: "cluster-read".into(),
            reason: pb::RouteReason::Name as i32,
            ..Default::default()
        };
        audit.handout("Resolve", Some(&peer), &answer, "https://huggingface.co".into());
        audit.refusal("Login", Some(&peer), "read-only");
        let lines = wait_for_lines(&path, 2);
        assert_eq!(lines[0]["event"], "handout");
        assert_eq!(lines[0]["token_name"], "cluster-read");
        assert_eq!(lines[0]["why"], "name");
        assert_eq!(lines[0]["via"], "forwarded");
        assert_eq!(lines[0]["pid"], 42);
        assert_eq!(lines[0]["exe"], "/usr/bin/git");
        assert_eq!(lines[1]["event"], "refused");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("supersecret"), "{text}");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn the_log_rotates_past_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let audit = Audit::start(path.clone(), 600);
        let answer = pb::ResolveResponse { name: "n".into(), reason: 6, ..Default::default() };
        for _ in 0..20 {
            audit.handout("Resolve", None, &answer, "https://huggingface.co".into());
        }
        let rotated = dir.path().join("audit.log.1");
        for _ in 0..2000 {
            if rotated.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(audit); // the writer ends once the queue is drained and closed
        std::thread::sleep(std::time::Duration::from_millis(50));
        let total = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) + std::fs::metadata(&rotated).unwrap().len();
        assert!(total <= 2 * 600 + 400, "bounded: {total} bytes");
        assert!(
            std::fs::read_to_string(&rotated)
                .unwrap()
                .lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        );
    }

    #[test]
    fn a_steady_stream_of_handouts_is_written_in_few_batches_and_sync_waits_for_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let audit = Audit::start(path.clone(), DEFAULT_MAX_BYTES);
        let answer = pb::ResolveResponse { name: "n".into(), reason: 6, ..Default::default() };
        // One handout every 100 µs (about one client's Resolve rate): a writer woken by each
        // would write about 200 batches.
        for _ in 0..200 {
            audit.handout("Resolve", None, &answer, "https://huggingface.co".into());
            std::thread::sleep(Duration::from_micros(100));
        }
        assert!(audit.sync(Duration::from_secs(10)), "sync timed out");
        // Right after sync, with no waiting: every line is in the file.
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 200);
        let batches = audit.batches();
        // 200 lines over >= 20 ms, one batch per LINGER at most, plus the first line's own.
        assert!(batches <= 200 / 4, "{batches} batches for 200 lines: the writer woke for each");
        assert!(audit.sync(Duration::ZERO), "nothing pending: sync is immediate");
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        // A sender with no writer behind it: the queue fills, then every line is dropped at once.
        let (tx, _rx) = std::sync::mpsc::sync_channel(2);
        let audit = Audit { tx: Some(tx), path: None, shared: Arc::default() };
        for _ in 0..10 {
            audit.refusal("Resolve", None, "x");
        }
        assert_eq!(audit.dropped(), 8);
    }
}
