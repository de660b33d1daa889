//! Resolving a path to a directory handle and a name in it, one component at a time from `/`,
//! with no-follow opens (`openat(O_NOFOLLOW | O_DIRECTORY)`), so what is checked is what is used.
//!
//! The rules, applied to every component, for reads and writes alike:
//! - A symlink is followed only where the kernel's `fs.protected_symlinks` rule would follow it:
//!   in a sticky directory that others can write to (`/tmp`), only a link owned by us or by the
//!   directory's owner; links elsewhere are followed. Checked here whatever the sysctl says (it is
//!   off on some machines) and for root, which the kernel rule also binds.
//! - A directory is used only when it is ours or root's (`/`, `/tmp`, `/home` on the way), and
//!   never when others may write to it without the sticky bit (anyone could swap what is in it).
//!   Group-writable is fine for our own primary group (user-private-group systems, umask 002).
//!
//! The handles are `O_PATH` on Linux (a directory we may only search still resolves), reopened
//! readable where a listing, an fsync or a chmod needs it.

use super::{FsError, errno_err, my_gid, my_uid};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Linux's limit on symlinks in one resolution (`MAXSYMLINKS`).
pub(super) const MAX_LINKS: usize = 40;

const S_ISVTX: u32 = 0o1000;

#[cfg(any(target_os = "linux", target_os = "android"))]
const DIR_FLAGS: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// An open, checked directory.
#[derive(Debug)]
pub(super) struct Dir {
    pub fd: OwnedFd,
    /// Where it was reached, for messages (after a symlink: the target's path).
    pub path: PathBuf,
    pub stat: Stat,
    /// Made by this walk (so ours to make private).
    pub created: bool,
}

impl Dir {
    fn root() -> Result<Dir, FsError> {
        let path = PathBuf::from("/");
        let fd = rustix::fs::openat(rustix::fs::CWD, "/", DIR_FLAGS, Mode::empty()).map_err(errno_err(&path))?;
        let stat = rustix::fs::fstat(&fd).map_err(errno_err(&path))?;
        Ok(Dir { fd, path, stat, created: false })
    }

    /// The entry `name` itself (a symlink is not followed); `None` when there is none.
    pub fn entry(&self, name: &OsStr) -> Result<Option<Stat>, FsError> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(errno_err(&self.path.join(name))(e)),
        }
    }

    /// The same directory opened for reading: listing, fsync, fchmod.
    pub fn readable(&self) -> Result<OwnedFd, FsError> {
        readable(&self.fd, &self.path)
    }

    fn try_clone(&self) -> Result<Dir, FsError> {
        let fd = self.fd.try_clone().map_err(|e| FsError::Io { path: self.path.clone(), source: e })?;
        Ok(Dir { fd, path: self.path.clone(), stat: self.stat, created: self.created })
    }

    /// Regular files of ours whose names start with `prefix` (temp files, backups), sorted.
    pub fn own_files_starting_with(&self, prefix: &[u8]) -> Result<Vec<OsString>, FsError> {
        let entries = rustix::fs::Dir::new(self.readable()?).map_err(errno_err(&self.path))?;
        let mut found: Vec<OsString> = entries
            .filter_map(Result::ok)
            .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
            .filter(|n| n.as_bytes().starts_with(prefix))
            .filter(|n| {
                let st = self.entry(n).ok().flatten();
                st.is_some_and(|st| {
                    FileType::from_raw_mode(st.st_mode) == FileType::RegularFile && st.st_uid == my_uid()
                })
            })
            .collect();
        found.sort();
        Ok(found)
    }

    /// Others may write here, but the sticky bit keeps them from our entries: `/tmp`.
    pub fn is_shared_sticky(&self) -> bool {
        self.stat.st_mode & S_ISVTX != 0 && self.stat.st_mode & 0o002 != 0
    }
}

/// The kernel's `may_follow_link`: a link in a sticky directory others can write to is followed
/// only when its owner is the follower or the directory's owner.
pub(super) fn check_link(dir: &Dir, name: &OsStr, link: &Stat) -> Result<(), FsError> {
    let owner = link.st_uid;
    if dir.is_shared_sticky() && owner != my_uid() && owner != dir.stat.st_uid {
        return Err(FsError::PlantedSymlink { path: dir.path.join(name), owner, dir_owner: dir.stat.st_uid });
    }
    Ok(())
}

/// Is a directory one we may use? Ours or root's, and closed to others unless sticky.
fn check_dir(path: &Path, st: &Stat) -> Result<(), FsError> {
    let me = my_uid();
    if st.st_uid != me && st.st_uid != 0 {
        return Err(FsError::ForeignDirectory { path: path.to_path_buf(), owner: st.st_uid, me });
    }
    let mode = st.st_mode & 0o7777;
    let open = mode & 0o002 != 0 || (mode & 0o020 != 0 && st.st_gid != my_gid());
    if mode & S_ISVTX == 0 && open {
        return Err(FsError::OpenDirectory { path: path.to_path_buf(), mode });
    }
    Ok(())
}

fn readable(fd: &OwnedFd, path: &Path) -> Result<OwnedFd, FsError> {
    rustix::fs::openat(fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(errno_err(path))
}

fn is_symlink(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Symlink
}

fn is_dir(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

/// A stack of open directories from `/` down: `..` pops, an absolute link target resets it.
#[derive(Debug)]
struct Walker {
    stack: Vec<Dir>,
    links: usize,
    /// Create missing directories (0700) instead of failing with NotFound.
    create: bool,
}

impl Walker {
    fn new(create: bool) -> Result<Self, FsError> {
        Ok(Walker { stack: vec![Dir::root()?], links: 0, create })
    }

    fn top(&self) -> &Dir {
        self.stack.last().expect("the root is never popped")
    }

    /// Walks the directories of `path`: absolute, or relative to the current top.
    fn walk(&mut self, path: &Path) -> Result<(), FsError> {
        if path.is_absolute() {
            self.stack.truncate(1);
        }
        let mut pending: VecDeque<OsString> = components(path);
        while let Some(name) = pending.pop_front() {
            if name == ".." {
                if self.stack.len() > 1 {
                    self.stack.pop();
                }
                continue;
            }
            let cur = self.top();
            let shown = cur.path.join(&name);
            match cur.entry(&name)? {
                None if self.create => {
                    match rustix::fs::mkdirat(&cur.fd, name.as_os_str(), Mode::from_raw_mode(0o700)) {
                        Ok(()) => {
                            let dir = self.open(&name, &shown, true)?;
                            self.stack.push(dir);
                        }
                        // Lost a race with another creator: look again at what is there now.
                        Err(Errno::EXIST) => pending.push_front(name),
                        Err(e) => return Err(errno_err(&shown)(e)),
                    }
                }
                None => return Err(errno_err(&shown)(Errno::NOENT)),
                Some(st) if is_symlink(&st) => {
                    let target = self.follow(&name, &st)?;
                    if target.is_absolute() {
                        self.stack.truncate(1);
                    }
                    for c in components(&target).into_iter().rev() {
                        pending.push_front(c);
                    }
                }
                Some(st) if is_dir(&st) => {
                    let dir = self.open(&name, &shown, false)?;
                    self.stack.push(dir);
                }
                Some(_) => return Err(errno_err(&shown)(Errno::NOTDIR)),
            }
        }
        Ok(())
    }

    /// Opens the directory `name` in the top one, no-follow, and checks what was opened.
    fn open(&self, name: &OsStr, shown: &Path, created: bool) -> Result<Dir, FsError> {
        let fd = rustix::fs::openat(&self.top().fd, name, DIR_FLAGS, Mode::empty()).map_err(errno_err(shown))?;
        let mut stat = rustix::fs::fstat(&fd).map_err(errno_err(shown))?;
        if created && stat.st_mode & 0o7777 != 0o700 && stat.st_uid == my_uid() {
            // mkdir's mode is masked by the umask; a directory of ours is private exactly.
            rustix::fs::fchmod(readable(&fd, shown)?, Mode::from_raw_mode(0o700)).map_err(errno_err(shown))?;
            stat = rustix::fs::fstat(&fd).map_err(errno_err(shown))?;
        }
        check_dir(shown, &stat)?;
        Ok(Dir { fd, path: shown.to_path_buf(), stat, created })
    }

    /// Checks the link `name` in the top directory against the kernel's rule; its target.
    fn follow(&mut self, name: &OsStr, link: &Stat) -> Result<PathBuf, FsError> {
        self.links += 1;
        let cur = self.top();
        let shown = cur.path.join(name);
        check_link(cur, name, link)?;
        if self.links > MAX_LINKS {
            return Err(FsError::TooManyLinks { path: shown, max: MAX_LINKS });
        }
        let target = rustix::fs::readlinkat(&cur.fd, name, Vec::new()).map_err(errno_err(&shown))?;
        Ok(PathBuf::from(OsStr::from_bytes(target.as_bytes())))
    }
}

fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// Splits a path into its directory and a last component that names an entry in it.
fn split(path: &Path) -> Result<(PathBuf, OsString), FsError> {
    let last = path.components().next_back();
    match (last, path.parent()) {
        (Some(Component::Normal(name)), Some(parent)) => Ok((parent.to_path_buf(), name.to_os_string())),
        _ => Err(FsError::IsDirectory { path: path.to_path_buf() }),
    }
}

/// The caller's path made absolute (a relative one is the daemon's cwd's, as for `open`).
fn absolute(path: &Path) -> Result<PathBuf, FsError> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(super::io_err(path))?;
    Ok(cwd.join(path))
}

/// Where a home file is: its directory, open and checked, and its name there, symlinks resolved.
#[derive(Debug)]
pub(super) struct Located {
    /// The directory holding the entry (a followed link's target's directory).
    pub dir: Dir,
    pub name: OsString,
    /// The entry, not followed (never a symlink: those were resolved); `None` when missing.
    pub entry: Option<Stat>,
    /// The directory the path names before its last component: the home's own directory, the
    /// one huggingface_hub would chmod (not a link target's directory somewhere else).
    pub home: Dir,
}

impl Located {
    pub fn path(&self) -> PathBuf {
        self.dir.path.join(&self.name)
    }
}

/// Resolves `path` under the rules above. With `create_dirs`, missing directories of the path
/// itself (not of a link's target) are made 0700. Missing: an `Io` error of kind NotFound.
pub(super) fn locate(path: &Path, create_dirs: bool) -> Result<Located, FsError> {
    let (parent, mut name) = split(&absolute(path)?)?;
    let mut w = Walker::new(create_dirs)?;
    w.walk(&parent)?;
    let home = w.top().try_clone()?;
    // Python's open() creates no directory for a dangling link's target; neither do we.
    w.create = false;
    loop {
        let entry = w.top().entry(&name)?;
        match entry {
            Some(st) if is_symlink(&st) => {
                let target = w.follow(&name, &st)?;
                let (dir, last) = split(&target)?;
                w.walk(&dir)?;
                name = last;
            }
            entry => {
                let dir = w.stack.pop().expect("the root is never popped");
                return Ok(Located { dir, name, entry, home });
            }
        }
    }
}

/// Opens the directory `path` itself under the rules above (a symlink to a directory is
/// resolved like any other component).
pub(super) fn open_dir(path: &Path, create: bool) -> Result<Dir, FsError> {
    let mut w = Walker::new(create)?;
    w.walk(&absolute(path)?)?;
    let dir = w.stack.pop().expect("the root is never popped");
    Ok(dir)
}
