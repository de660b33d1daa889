//! huggingface_hub's cross-process lock: `flock` on `stored_tokens.lock`, a file created 0664
//! (as Python's filelock makes it) and left on disk. Opened through [`super::walk`] like every
//! home file, no-follow; it holds no secret, so it need not be ours, only a regular file.

use super::walk::{self, Located};
use super::{FsError, errno_err};
use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A `flock` on huggingface_hub's lock file, released on drop.
#[derive(Debug)]
pub struct LockGuard {
    fd: OwnedFd,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(&self.fd, FlockOperation::Unlock);
    }
}

/// Takes `flock(LOCK_EX)` on `path` (created 0664 like Python's filelock, left on disk),
/// waiting at most `timeout`. Blocking: call from a blocking context.
pub fn lock_exclusive(path: &Path, timeout: Duration) -> Result<LockGuard, FsError> {
    let loc = walk::locate(path, true)?;
    let fd = open_or_create(path, &loc)?;
    match poll(&fd, FlockOperation::NonBlockingLockExclusive, timeout) {
        Ok(Some(())) => Ok(LockGuard { fd }),
        Ok(None) => Err(FsError::LockTimeout { path: path.to_path_buf(), waited: timeout }),
        Err(e) => Err(errno_err(path)(e)),
    }
}

fn open_or_create(path: &Path, loc: &Located) -> Result<OwnedFd, FsError> {
    let base = OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let name = loc.name.as_os_str();
    let fd = match rustix::fs::openat(
        &loc.dir.fd,
        name,
        base | OFlags::RDWR | OFlags::CREATE | OFlags::EXCL,
        Mode::from_raw_mode(0o664),
    ) {
        Ok(fd) => {
            // Python's filelock leaves it 0664 whatever the umask; so do we, for a file we made.
            let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o664));
            fd
        }
        Err(Errno::EXIST) => match rustix::fs::openat(&loc.dir.fd, name, base | OFlags::RDWR, Mode::empty()) {
            Ok(fd) => fd,
            // Another user's lock file (0664, not ours to write): a read-only fd locks as well.
            Err(Errno::ACCESS) => {
                rustix::fs::openat(&loc.dir.fd, name, base | OFlags::RDONLY, Mode::empty()).map_err(errno_err(path))?
            }
            Err(e) => return Err(errno_err(path)(e)),
        },
        Err(e) => return Err(errno_err(path)(e)),
    };
    check_regular(path, &fd)?;
    Ok(fd)
}

fn check_regular(path: &Path, fd: &OwnedFd) -> Result<(), FsError> {
    let st = rustix::fs::fstat(fd).map_err(errno_err(path))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Ok(()),
        FileType::Directory => Err(FsError::IsDirectory { path: path.to_path_buf() }),
        _ => Err(FsError::NotRegular { path: path.to_path_buf() }),
    }
}

/// A shared `flock` on an existing lock file, so a reader never sees the state between a
/// writer's two renames. `None` when there is no lock file (nobody has written with it: nothing
/// to wait for, and a reader must not create it), it may not be used, or it cannot be had within
/// `timeout`.
///
/// Only [`MAX_SHARED_WAITERS`] readers wait for a busy lock at once; another finds it busy and
/// reads without it, as a reader does after its timeout. Each waiter holds a thread of the
/// blocking pool for up to `timeout`: a flood of requests for new homes behind one held lock took
/// every thread, and homes with nothing to do with that lock waited behind them for seconds.
/// A read without the lock risks a state between a writer's two renames, which the writer's own
/// renames then make the watcher read again.
pub fn lock_shared_if_exists(path: &Path, timeout: Duration) -> Option<LockGuard> {
    let loc = walk::locate(path, false).ok()?;
    loc.entry?;
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(&loc.dir.fd, loc.name.as_os_str(), flags, Mode::empty()).ok()?;
    check_regular(path, &fd).ok()?;
    if rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared).is_ok() {
        return Some(LockGuard { fd });
    }
    let Some(_waiting) = SharedWaiter::enter() else {
        tracing::debug!(lock = %path.display(), "the lock is busy and enough readers wait for locks: reading without it");
        return None;
    };
    match poll(&fd, FlockOperation::NonBlockingLockShared, timeout) {
        Ok(Some(())) => Some(LockGuard { fd }),
        _ => None,
    }
}

/// Readers that may wait for a busy shared lock at once, over all homes.
pub const MAX_SHARED_WAITERS: usize = 8;

/// One of the [`MAX_SHARED_WAITERS`] places, given back on drop.
struct SharedWaiter;

static SHARED_WAITERS: AtomicUsize = AtomicUsize::new(0);

impl SharedWaiter {
    fn enter() -> Option<Self> {
        SHARED_WAITERS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_SHARED_WAITERS).then_some(n + 1))
            .ok()
            .map(|_| SharedWaiter)
    }
}

impl Drop for SharedWaiter {
    fn drop(&mut self) {
        SHARED_WAITERS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The one lock-polling loop: tries `op` with backoff (1 ms doubling to 20 ms) until `timeout`.
/// `Ok(None)` on timeout.
fn poll(fd: &OwnedFd, op: FlockOperation, timeout: Duration) -> Result<Option<()>, Errno> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match rustix::fs::flock(fd, op) {
            Ok(()) => return Ok(Some(())),
            Err(e) if e == Errno::WOULDBLOCK || e == Errno::INTR => {}
            Err(e) => return Err(e),
        }
        if start.elapsed() >= timeout {
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn lock_is_exclusive_and_times_out() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("stored_tokens.lock");
        let held = lock_exclusive(&p, Duration::from_secs(1)).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o664);
        let again = lock_exclusive(&p, Duration::from_millis(50));
        assert!(matches!(again, Err(FsError::LockTimeout { .. })));
        assert!(lock_shared_if_exists(&p, Duration::from_millis(20)).is_none(), "shared waits for exclusive");
        drop(held);
        lock_exclusive(&p, Duration::from_millis(50)).unwrap();
        assert!(p.exists(), "the lock file stays, as Python's filelock leaves it");
        assert!(lock_shared_if_exists(&t.path().join("missing.lock"), Duration::from_millis(5)).is_none());
        assert!(!t.path().join("missing.lock").exists(), "a reader creates no lock file");
    }
}
