//! Every path and permission decision the daemon makes, in one place.
//!
//! - Secret files are written atomically: a temp file in the same directory (0600, `O_EXCL`),
//!   fsync, rename over the target, fsync the directory. A crash leaves the old file or the new
//!   one, never a torn one, and never a temp file that a later start does not sweep.
//! - Missing directories are created 0700 at mkdir time. An existing HF home is tightened to
//!   0700 as huggingface_hub does, but never the user's `$HOME` or a directory we do not own.
//! - Reads refuse what is not a regular file (a FIFO would block, a directory cannot be a token)
//!   and what is implausibly large for a token file.
//! - The cross-process lock is huggingface_hub's: `flock(LOCK_EX)` on `stored_tokens.lock`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Larger than any real token file by orders of magnitude; a 100 MB file is an error, not a read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Prefix of our temp files, so a restart can sweep the ones a crash left behind.
pub const TEMP_PREFIX: &str = ".hf-auth-tmp-";

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is a directory, not a file")]
    IsDirectory { path: PathBuf },
    #[error("{path} is not a regular file")]
    NotRegular { path: PathBuf },
    #[error("{path} is {size} bytes; a token file is never larger than {MAX_FILE_BYTES}")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path} is owned by uid {owner}, not by this user ({me}); refusing to use it")]
    ForeignOwner { path: PathBuf, owner: u32, me: u32 },
    #[error("{path} is not valid UTF-8 (byte {position}); fix or remove the file")]
    NotUtf8 { path: PathBuf, position: usize },
    #[error("timed out after {waited:?} waiting for the lock {path} (held by another program)")]
    LockTimeout { path: PathBuf, waited: Duration },
    #[error("{path}: {problem}; refusing to use it")]
    Unsafe { path: PathBuf, problem: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FsError + '_ {
    move |source| FsError::Io { path: path.to_path_buf(), source }
}

pub fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Reads a small regular file. `Ok(None)` when it does not exist.
pub fn read_small(path: &Path) -> Result<Option<Vec<u8>>, FsError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    check_readable(path, &meta)?;
    // O_NONBLOCK: if the path was swapped for a FIFO after the check, the open must not hang.
    let mut file =
        match OpenOptions::new().read(true).custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(path)(e)),
        };
    let meta = file.metadata().map_err(io_err(path))?;
    check_readable(path, &meta)?;
    let mut buf = Vec::with_capacity(meta.len() as usize);
    Read::by_ref(&mut file).take(MAX_FILE_BYTES + 1).read_to_end(&mut buf).map_err(io_err(path))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(FsError::TooLarge { path: path.to_path_buf(), size: buf.len() as u64 });
    }
    Ok(Some(buf))
}

fn check_readable(path: &Path, meta: &fs::Metadata) -> Result<(), FsError> {
    let path = path.to_path_buf();
    if meta.is_dir() {
        return Err(FsError::IsDirectory { path });
    }
    if !meta.is_file() {
        return Err(FsError::NotRegular { path });
    }
    if meta.uid() != my_uid() && my_uid() != 0 {
        return Err(FsError::ForeignOwner { path, owner: meta.uid(), me: my_uid() });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(FsError::TooLarge { path, size: meta.len() });
    }
    Ok(())
}

/// Reads a small file as UTF-8 text.
pub fn read_text(path: &Path) -> Result<Option<String>, FsError> {
    match read_small(path)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| FsError::NotUtf8 { path: path.to_path_buf(), position: e.utf8_error().valid_up_to() }),
    }
}

/// Where a write to `path` really lands: huggingface_hub writes through a symlink, so do we
/// (an atomic rename over the link would silently replace a user's dotfiles link with a file).
fn write_target(path: &Path) -> Result<PathBuf, FsError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = fs::read_link(path).map_err(io_err(path))?;
            let target = match path.parent() {
                Some(dir) if target.is_relative() => dir.join(target),
                _ => target,
            };
            if let Ok(meta) = fs::metadata(&target) {
                check_owned(&target, &meta)?;
                if meta.is_dir() {
                    return Err(FsError::IsDirectory { path: path.to_path_buf() });
                }
            }
            Ok(target)
        }
        Ok(m) if m.is_dir() => Err(FsError::IsDirectory { path: path.to_path_buf() }),
        Ok(m) => {
            check_owned(path, &m)?;
            Ok(path.to_path_buf())
        }
        Err(_) => Ok(path.to_path_buf()),
    }
}

/// A write replaces the file with one of ours: never do that to another user's file, not even
/// as root (their tokens would become unreadable to them).
fn check_owned(path: &Path, meta: &fs::Metadata) -> Result<(), FsError> {
    if meta.uid() != my_uid() {
        return Err(FsError::ForeignOwner { path: path.to_path_buf(), owner: meta.uid(), me: my_uid() });
    }
    Ok(())
}

/// Atomically replaces `path` with `contents`, mode 0600, creating missing directories 0700.
pub fn write_secret(path: &Path, contents: &[u8]) -> Result<(), FsError> {
    let target = write_target(path)?;
    let dir = parent_dir(&target);
    create_private_dirs(&dir)?;
    tighten_home(&dir);
    let file_name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (tmp_path, mut tmp) = create_temp(&dir, &file_name)?;
    let result = (|| {
        tmp.write_all(contents).map_err(io_err(&tmp_path))?;
        tmp.sync_all().map_err(io_err(&tmp_path))?;
        drop(tmp);
        fs::rename(&tmp_path, &target).map_err(io_err(&target))?;
        // The rename is durable only once the directory entry is.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp_path);
    }
    result
}

fn create_temp(dir: &Path, file_name: &str) -> Result<(PathBuf, File), FsError> {
    let mut attempt = 0u32;
    loop {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let tmp_path = dir.join(format!("{TEMP_PREFIX}{file_name}.{}.{nonce:08x}{attempt}", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&tmp_path)
        {
            Ok(f) => return Ok((tmp_path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
            Err(e) => return Err(io_err(&tmp_path)(e)),
        }
    }
}

/// Removes `path` if present (huggingface_hub's `unlink(missing_ok=True)`).
pub fn remove_if_exists(path: &Path) -> Result<bool, FsError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => Err(FsError::IsDirectory { path: path.to_path_buf() }),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Does `dir` hold temp files of ours (a crash's leftovers, or a write in flight)?
pub fn has_temp_files(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
    })
}

/// Removes temp files a crash left in `dir` (only ours: they carry [`TEMP_PREFIX`]). Call it
/// holding the home's lock, so no writer's temp file is in flight.
pub fn sweep_temp_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates `dir` and any missing parents with mode 0700 (set at mkdir time, not after).
pub fn create_private_dirs(dir: &Path) -> Result<(), FsError> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io_err(dir))
}

/// huggingface_hub chmods the token file's directory to 0700. We do too, except for the
/// user's home directory (Python would lock `$HOME` for `HF_TOKEN_PATH=~/tok`) and directories
/// that are not ours. Failures are ignored, as in Python.
fn tighten_home(dir: &Path) {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let canonical = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if canonical == Path::new("/")
        || home.as_deref().and_then(|h| fs::canonicalize(h).ok()).as_deref() == Some(&canonical)
    {
        return;
    }
    if let Ok(meta) = fs::metadata(dir)
        && meta.uid() == my_uid()
        && meta.mode() & 0o777 != 0o700
    {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
}

/// Copies a file that could not be parsed next to itself, 0600, and returns the copy's path.
pub fn back_up(path: &Path, bytes: &[u8]) -> Result<PathBuf, FsError> {
    let stamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".corrupt-{stamp}"));
    let mut backup = path.with_file_name(&name);
    let mut n = 1;
    while backup.exists() {
        let mut numbered = name.clone();
        numbered.push(format!(".{n}"));
        backup = path.with_file_name(numbered);
        n += 1;
    }
    write_secret(&backup, bytes)?;
    Ok(backup)
}

/// An exclusive `flock` on huggingface_hub's lock file, released on drop.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(&self.file, rustix::fs::FlockOperation::Unlock);
    }
}

/// Takes `flock(LOCK_EX)` on `path` (created 0664 like Python's filelock, left on disk),
/// waiting at most `timeout`. Blocking: call from a blocking context.
pub fn lock_exclusive(path: &Path, timeout: Duration) -> Result<LockGuard, FsError> {
    create_private_dirs(&parent_dir(path))?;
    let existed = path.exists();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o664)
        .open(path)
        .map_err(io_err(path))?;
    if !existed {
        let _ = file.set_permissions(fs::Permissions::from_mode(0o664));
    }
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(LockGuard { file }),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {}
            Err(e) => return Err(io_err(path)(e.into())),
        }
        if start.elapsed() >= timeout {
            return Err(FsError::LockTimeout { path: path.to_path_buf(), waited: start.elapsed() });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// A shared `flock` on an existing lock file, so a reader never sees the state between a
/// writer's two renames. `None` when there is no lock file (nobody has written with it: nothing
/// to wait for, and a reader must not create it) or it cannot be had within `timeout`.
pub fn lock_shared_if_exists(path: &Path, timeout: Duration) -> Option<LockGuard> {
    let file = File::open(path).ok()?;
    let start = Instant::now();
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared) {
            Ok(()) => return Some(LockGuard { file }),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {}
            Err(_) => return None,
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Makes a just-bound socket usable by its owner only (0600). Call it only for a socket inside a
/// directory [`prepare_socket_dir`] checked: until this runs, the socket has the umask's mode,
/// and only that directory keeps others out.
pub fn make_socket_private(socket: &Path) -> Result<(), FsError> {
    fs::set_permissions(socket, fs::Permissions::from_mode(0o600)).map_err(io_err(socket))
}

/// Prepares the socket directory: created 0700 at mkdir time if missing; otherwise it must be a
/// real directory (not a symlink), owned by us, and closed to group and others.
pub fn prepare_socket_dir(dir: &Path) -> Result<(), FsError> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                // Lost a race with another starter: check what it made.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(dir)(e)),
            }
            check_socket_dir(dir)
        }
        Err(e) => Err(io_err(dir)(e)),
        Ok(_) => check_socket_dir(dir),
    }
}

fn check_socket_dir(dir: &Path) -> Result<(), FsError> {
    let meta = fs::symlink_metadata(dir).map_err(io_err(dir))?;
    let unsafe_dir = |problem: &str| FsError::Unsafe { path: dir.to_path_buf(), problem: problem.to_owned() };
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir("the socket directory is a symlink"));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("the socket directory is not a directory"));
    }
    if meta.uid() != my_uid() {
        return Err(unsafe_dir(&format!("the socket directory is owned by uid {}", meta.uid())));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(unsafe_dir(&format!("the socket directory has mode {:o}; it must be 0700", meta.mode() & 0o7777)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn write_secret_creates_private_dirs_and_file() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("a/b/token");
        write_secret(&path, b"hf_x").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hf_x");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&t.path().join("a")), 0o700);
        assert_eq!(mode(&t.path().join("a/b")), 0o700);
    }

    #[test]
    fn write_secret_tightens_an_existing_home_and_replaces_a_loose_file() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("hf");
        fs::create_dir(&home).unwrap();
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
        let path = home.join("token");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_secret(&path, b"new").unwrap();
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read_dir(&home).unwrap().count(), 1, "no temp file left");
    }

    #[test]
    fn write_secret_writes_through_a_symlink() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real_token");
        fs::write(&real, "old").unwrap();
        let link = t.path().join("token");
        symlink(&real, &link).unwrap();
        write_secret(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"new");
    }

    #[test]
    fn reads_refuse_directories_fifos_and_huge_files() {
        let t = tempfile::tempdir().unwrap();
        assert!(matches!(read_small(t.path()), Err(FsError::IsDirectory { .. })));
        let fifo = t.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .unwrap();
        assert!(matches!(read_small(&fifo), Err(FsError::NotRegular { .. })));
        let big = t.path().join("big");
        File::create(&big).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
        assert!(matches!(read_small(&big), Err(FsError::TooLarge { .. })));
        assert!(read_small(&t.path().join("missing")).unwrap().is_none());
    }

    #[test]
    fn invalid_utf8_names_the_position() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("token");
        fs::write(&p, b"\xff\xfehf").unwrap();
        assert!(matches!(read_text(&p), Err(FsError::NotUtf8 { position: 0, .. })));
    }

    #[test]
    fn lock_is_exclusive_and_times_out() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("stored_tokens.lock");
        let held = lock_exclusive(&p, Duration::from_secs(1)).unwrap();
        assert_eq!(mode(&p), 0o664);
        let again = lock_exclusive(&p, Duration::from_millis(50));
        assert!(matches!(again, Err(FsError::LockTimeout { .. })));
        drop(held);
        lock_exclusive(&p, Duration::from_millis(50)).unwrap();
        assert!(p.exists(), "the lock file stays, as Python's filelock leaves it");
    }

    #[test]
    fn socket_dir_rules() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("hf-auth");
        prepare_socket_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(prepare_socket_dir(&dir), Err(FsError::Unsafe { .. })));
        let link = t.path().join("link");
        let real = t.path().join("real");
        fs::DirBuilder::new().mode(0o700).create(&real).unwrap();
        symlink(&real, &link).unwrap();
        assert!(matches!(prepare_socket_dir(&link), Err(FsError::Unsafe { .. })));
    }

    #[test]
    fn backups_never_overwrite_each_other() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("stored_tokens");
        let a = back_up(&p, b"one").unwrap();
        let b = back_up(&p, b"two").unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(&a).unwrap(), b"one");
        assert_eq!(fs::read(&b).unwrap(), b"two");
        assert_eq!(mode(&b), 0o600);
    }

    #[test]
    fn sweep_removes_only_our_temp_files() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join(format!("{TEMP_PREFIX}token.1.2")), "x").unwrap();
        fs::write(t.path().join("token"), "x").unwrap();
        assert_eq!(sweep_temp_files(t.path()), 1);
        assert!(t.path().join("token").exists());
    }
}
