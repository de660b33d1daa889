//! Whether a socket may be trusted with a request, decided before a byte is sent.
//!
//! Every request carries secrets (the caller's `HF_TOKEN`, git's password on `erase`, the token of
//! `login --token`), and with no `XDG_RUNTIME_DIR` the socket lives in a shared directory
//! (`${TMPDIR:-/tmp}/hf-auth-<uid>/`) another local user could create first. So, as ssh-agent's
//! clients do: the socket's directory must be ours alone (owner = our euid, writable by nobody else,
//! not a symlink: an `lstat`), and the process listening must run as our uid or as root
//! (`SO_PEERCRED`, read on the connected stream before the first write).
//!
//! Two cases for a forwarded daemon bind-mounted into a container (`-v …:/run/hf-auth/…`):
//! a directory owned by root and writable by nobody else is trusted too (only root can have put
//! a socket there, as `docker run -v` does); and a client running as root that was *given* the
//! socket (`HF_AUTH_SOCKET`, as `docker run -e` does) trusts whoever listens on it — the owner's
//! daemon, through the mount ([`PeerPolicy::AnyForRoot`]). At a default path root still
//! refuses another uid's listener.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why a socket is not trusted. Names the path and the owner, never anything the caller sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Distrust {
    #[error("its directory {dir} is a symlink; it must be a directory of your own")]
    DirSymlink { dir: PathBuf },
    #[error("{dir} is not a directory")]
    DirNotDir { dir: PathBuf },
    #[error(
        "its directory {dir} is owned by uid {owner}, not by you (uid {me}): another user may be listening there. Remove the directory, or set HF_AUTH_SOCKET or XDG_RUNTIME_DIR to a directory of your own"
    )]
    DirOwner { dir: PathBuf, owner: u32, me: u32 },
    #[error("its directory {dir} is writable by others (mode {mode:o}); it must be writable by you alone (chmod 700)")]
    DirOpen { dir: PathBuf, mode: u32 },
    #[error("{socket} is not a socket")]
    NotSocket { socket: PathBuf },
    #[error(
        "the process listening on it runs as uid {peer}, not as you (uid {me}) or root: another user may be listening there"
    )]
    Peer { peer: u32, me: u32 },
    #[error("the credentials of the process listening on it cannot be read: {0}")]
    PeerUnknown(String),
    #[error("its directory {dir} cannot be used: {reason}")]
    DirUnusable { dir: PathBuf, reason: String },
    #[error("its directory {dir} was replaced while connecting: another user may be swapping it")]
    DirChanged { dir: PathBuf },
}

fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The socket's directory is ours alone. A missing directory or socket is not a distrust: the
/// dial that follows says "not running" (and autostart creates the directory itself).
pub fn check_path(socket: &Path) -> Result<(), Distrust> {
    check(socket).map(drop)
}

/// Where to dial, decided on what was opened: the socket's directory, opened without following
/// a link and checked through that descriptor, and a path that reaches the socket through the
/// same descriptor (`/proc/self/fd/<n>/<name>` on Linux). A check of one path followed by a
/// connect to the same path lets another user swap the directory in between: root, given a
/// socket by `HF_AUTH_SOCKET`, trusts any listener, and sent its `HF_TOKEN` to another user's
/// directory renamed into place after the check.
#[derive(Debug)]
pub struct Checked {
    /// Held open until the connect is done, so the descriptor's number names this directory.
    _dir: std::fs::File,
    dial: PathBuf,
    /// Checked again after the connect where the dial path is the original one (no `/proc`).
    recheck: Option<(PathBuf, u64, u64)>,
}

impl Checked {
    /// The path to connect to.
    pub fn dial_path(&self) -> &Path {
        &self.dial
    }

    /// After the connect: where the dial went by the original path, the directory is still the
    /// one checked (without `/proc`, this narrows the window rather than closing it).
    pub fn confirm(&self) -> Result<(), Distrust> {
        let Some((dir, dev, ino)) = &self.recheck else { return Ok(()) };
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.dev() == *dev && m.ino() == *ino => Ok(()),
            _ => Err(Distrust::DirChanged { dir: dir.clone() }),
        }
    }
}

/// [`check_path`], keeping what it opened for the dial; `None`: the directory or the socket is
/// missing (nobody can be listening: not running, with nothing dialled).
pub fn check(socket: &Path) -> Result<Option<Checked>, Distrust> {
    let dir = match socket.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        Some(_) => Path::new("."),
        None => Path::new("/"),
    };
    let Some(name) = socket.file_name() else { return Err(Distrust::NotSocket { socket: socket.to_path_buf() }) };
    let opened = rustix::fs::open(dir, DIR_FLAGS, rustix::fs::Mode::empty());
    let fd = match opened {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        // With O_NOFOLLOW and O_DIRECTORY, a symlink fails as ELOOP or ENOTDIR: say which.
        Err(e) => {
            return Err(match std::fs::symlink_metadata(dir) {
                Ok(m) if m.file_type().is_symlink() => Distrust::DirSymlink { dir: dir.to_path_buf() },
                Ok(m) if !m.is_dir() => Distrust::DirNotDir { dir: dir.to_path_buf() },
                _ => Distrust::DirUnusable { dir: dir.to_path_buf(), reason: e.to_string() },
            });
        }
    };
    let dir_file = std::fs::File::from(fd);
    let meta =
        dir_file.metadata().map_err(|e| Distrust::DirUnusable { dir: dir.to_path_buf(), reason: e.to_string() })?;
    check_dir_meta(dir, &meta, me())?;
    // The socket itself: only its type matters (its owner is the peer check's business: a
    // socket hard-linked into our directory still leads to whoever listens on it).
    match rustix::fs::statat(&dir_file, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Socket => {
            return Err(Distrust::NotSocket { socket: socket.to_path_buf() });
        }
        _ => {}
    }
    let through = through_descriptor(&dir_file, name);
    let recheck = through.is_none().then(|| (dir.to_path_buf(), meta.dev(), meta.ino()));
    Ok(Some(Checked { _dir: dir_file, dial: through.unwrap_or_else(|| socket.to_path_buf()), recheck }))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const DIR_FLAGS: rustix::fs::OFlags = rustix::fs::OFlags::PATH
    .union(rustix::fs::OFlags::DIRECTORY)
    .union(rustix::fs::OFlags::NOFOLLOW)
    .union(rustix::fs::OFlags::CLOEXEC);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const DIR_FLAGS: rustix::fs::OFlags = rustix::fs::OFlags::RDONLY
    .union(rustix::fs::OFlags::DIRECTORY)
    .union(rustix::fs::OFlags::NOFOLLOW)
    .union(rustix::fs::OFlags::CLOEXEC);

/// `/proc/self/fd/<n>/<name>`: the socket `name` in the directory open as `dir`, whatever has
/// been renamed since. `None` without `/proc`, or when the path would not fit a socket address.
fn through_descriptor(dir: &std::fs::File, name: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    if !cfg!(any(target_os = "linux", target_os = "android")) || !Path::new("/proc/self/fd").is_dir() {
        return None;
    }
    let path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    // sockaddr_un's sun_path holds 108 bytes with the terminating NUL.
    (path.as_os_str().len() < 108).then_some(path)
}

/// The rules for a socket directory's `lstat` result, for the user `me`.
pub fn check_dir_meta(dir: &Path, meta: &std::fs::Metadata, me: u32) -> Result<(), Distrust> {
    let dir = dir.to_path_buf();
    if meta.file_type().is_symlink() {
        return Err(Distrust::DirSymlink { dir });
    }
    if !meta.is_dir() {
        return Err(Distrust::DirNotDir { dir });
    }
    if meta.uid() != me && meta.uid() != 0 {
        return Err(Distrust::DirOwner { dir, owner: meta.uid(), me });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Distrust::DirOpen { dir, mode });
    }
    Ok(())
}

/// Whose listener a client accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerPolicy {
    /// Our own uid or root (who could read our memory anyway): the rule.
    OwnerOrRoot,
    /// Anyone: only for root given an explicit `HF_AUTH_SOCKET` (a forward socket mounted into
    /// a container, served by the owner's daemon outside).
    AnyForRoot,
}

impl PeerPolicy {
    pub fn of(env: &hf_auth_proto::Env, me: u32) -> Self {
        match me == 0 && env.non_empty("HF_AUTH_SOCKET").is_some() {
            true => PeerPolicy::AnyForRoot,
            false => PeerPolicy::OwnerOrRoot,
        }
    }

    /// For this process.
    pub fn current(env: &hf_auth_proto::Env) -> Self {
        Self::of(env, me())
    }
}

/// The listening process runs as the policy allows.
pub fn check_peer(stream: &tokio::net::UnixStream, policy: PeerPolicy) -> Result<(), Distrust> {
    let cred = stream.peer_cred().map_err(|e| Distrust::PeerUnknown(e.to_string()))?;
    match policy {
        PeerPolicy::AnyForRoot => Ok(()),
        PeerPolicy::OwnerOrRoot => peer_allowed(cred.uid(), me()),
    }
}

pub fn peer_allowed(peer: u32, me: u32) -> Result<(), Distrust> {
    if peer == me || peer == 0 { Ok(()) } else { Err(Distrust::Peer { peer, me }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn peers() {
        assert!(peer_allowed(1000, 1000).is_ok());
        assert!(peer_allowed(0, 1000).is_ok());
        assert_eq!(peer_allowed(65534, 1000), Err(Distrust::Peer { peer: 65534, me: 1000 }));
        assert!(peer_allowed(1000, 0).is_err(), "root at a default path: only itself");
        let env = |pairs: &[(&str, &str)]| {
            hf_auth_proto::Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        };
        assert_eq!(PeerPolicy::of(&env(&[]), 0), PeerPolicy::OwnerOrRoot);
        assert_eq!(PeerPolicy::of(&env(&[("HF_AUTH_SOCKET", "/run/hf-auth/s")]), 1000), PeerPolicy::OwnerOrRoot);
        assert_eq!(PeerPolicy::of(&env(&[("HF_AUTH_SOCKET", "/run/hf-auth/s")]), 0), PeerPolicy::AnyForRoot);
    }

    #[test]
    fn directory_rules() {
        let t = tempfile::tempdir().unwrap();
        let me = me();
        let dir = t.path().join("d");
        std::fs::create_dir(&dir).unwrap();
        let meta = |p: &Path| std::fs::symlink_metadata(p).unwrap();
        for (mode, ok) in [(0o700, true), (0o755, true), (0o711, true), (0o770, false), (0o777, false), (0o1777, false)]
        {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(check_dir_meta(&dir, &meta(&dir), me).is_ok(), ok, "mode {mode:o}");
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        // Someone else's directory (as root, make it nobody's: root's own is trusted by all).
        let owner = if me == 0 && rustix::fs::chown(&dir, Some(rustix::process::Uid::from_raw(65534)), None).is_ok() {
            65534
        } else {
            me
        };
        if owner != 0 {
            assert!(matches!(
                check_dir_meta(&dir, &meta(&dir), owner + 1),
                Err(Distrust::DirOwner { owner: o, .. }) if o == owner
            ));
        }
        assert!(check_dir_meta(Path::new("/"), &meta(Path::new("/")), 1000).is_ok(), "root's own, closed: trusted");
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(matches!(check_dir_meta(&link, &meta(&link), me), Err(Distrust::DirSymlink { .. })));
        let file = t.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(matches!(check_dir_meta(&file, &meta(&file), me), Err(Distrust::DirNotDir { .. })));
    }

    #[test]
    fn a_missing_directory_is_left_to_the_dial() {
        assert_eq!(check_path(Path::new("/nonexistent/hf-auth-1/hf-authd.sock")), Ok(()));
    }

    #[test]
    fn a_file_that_is_not_a_socket_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("s.sock");
        std::fs::write(&f, "").unwrap();
        assert!(matches!(check_path(&f), Err(Distrust::NotSocket { .. })));
    }
}
