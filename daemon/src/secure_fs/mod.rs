//! Every path and permission decision the daemon makes, in one place.
//!
//! - Every open, create, rename and unlink of a home file goes through directory handles walked
//!   from `/` one component at a time with no-follow semantics ([`walk`]). A symlink is followed
//!   only where the kernel's `fs.protected_symlinks` rule would follow it (whether or not the
//!   sysctl is on, and as root too): in a sticky directory others can write to, only a link owned
//!   by us or by the directory's owner. A directory owned by another user (root aside) or open to
//!   others without the sticky bit is never used, and a file of a home must be ours.
//! - Secret files are written atomically ([`write`]): a temp file in the target's directory (0600,
//!   `O_EXCL`), fsync, rename over the target, fsync the directory. A crash leaves the old file or
//!   the new one, never a torn one, and never a temp file that a later start does not sweep.
//! - Only directories the daemon creates (0700 at mkdir time) and the HF home itself, when it is
//!   ours and not shared, are ever chmodded ([`dirs`]).
//! - Reads ([`read`]) refuse what is not a regular file (a FIFO would block, a directory cannot be
//!   a token) and what is implausibly large for a token file.
//! - Backups of unparseable files ([`backups`]), huggingface_hub's `flock` on
//!   `stored_tokens.lock` ([`lock`]), the socket directory's rules ([`socket`]).

mod backups;
mod dirs;
mod lock;
mod read;
mod socket;
mod walk;
mod write;

pub use backups::{back_up, list_backups, remove_backups};
pub use dirs::create_private_dirs;
pub use lock::{LockGuard, lock_exclusive, lock_shared_if_exists};
pub use read::{read_settings, read_small, read_text};
pub use socket::{make_socket_private, prepare_socket_dir};
pub use write::{check_target, has_temp_files, open_append, remove_if_exists, sweep_temp_files, write_secret};

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The directory `dir` with its symlinks resolved as every open here resolves them: a link the
/// rules refuse (planted in a sticky directory) or a directory they refuse is an error, not
/// followed. What a home is known by, so that no read skips the rules on a path resolved earlier.
pub fn resolve_dir(dir: &Path) -> Result<PathBuf, FsError> {
    Ok(walk::open_dir(dir, false)?.path)
}

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
    #[error(
        "{path} is a symlink owned by uid {owner} in a sticky directory others can write to (owned by uid \
         {dir_owner}); refusing to follow it, as the kernel's protected_symlinks rule would"
    )]
    PlantedSymlink { path: PathBuf, owner: u32, dir_owner: u32 },
    #[error("{path} is a directory owned by uid {owner}, not by this user ({me}) or root; refusing to use it")]
    ForeignDirectory { path: PathBuf, owner: u32, me: u32 },
    #[error("{path} is writable by other users without the sticky bit (mode {mode:o}); refusing to use it")]
    OpenDirectory { path: PathBuf, mode: u32 },
    #[error("{path}: more than {max} symlinks to follow; refusing to use it")]
    TooManyLinks { path: PathBuf, max: usize },
    #[error("{path} is not valid UTF-8 (byte {position}); fix or remove the file")]
    NotUtf8 { path: PathBuf, position: usize },
    #[error("timed out after {waited:?} waiting for the lock {path} (held by another program)")]
    LockTimeout { path: PathBuf, waited: Duration },
    #[error("{path}: {problem}; refusing to use it")]
    Unsafe { path: PathBuf, problem: String },
}

impl FsError {
    /// The path (or a directory on the way to it) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FsError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FsError + '_ {
    move |source| FsError::Io { path: path.to_path_buf(), source }
}

fn errno_err(path: &Path) -> impl FnOnce(rustix::io::Errno) -> FsError + '_ {
    move |e| FsError::Io { path: path.to_path_buf(), source: e.into() }
}

pub fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn my_gid() -> u32 {
    rustix::process::getegid().as_raw()
}
