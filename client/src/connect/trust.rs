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

use std::os::unix::fs::{FileTypeExt, MetadataExt};
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
}

fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The socket's directory is ours alone. A missing directory or socket is not a distrust: the
/// dial that follows says "not running" (and autostart creates the directory itself).
pub fn check_path(socket: &Path) -> Result<(), Distrust> {
    let dir = socket.parent().unwrap_or(Path::new("/"));
    match std::fs::symlink_metadata(dir) {
        Ok(meta) => check_dir_meta(dir, &meta, me())?,
        Err(_) => return Ok(()),
    }
    // The socket itself: only its type matters (its owner is the peer check's business: a
    // socket hard-linked into our directory still leads to whoever listens on it).
    match std::fs::symlink_metadata(socket) {
        Ok(meta) if !meta.file_type().is_socket() => Err(Distrust::NotSocket { socket: socket.to_path_buf() }),
        _ => Ok(()),
    }
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
