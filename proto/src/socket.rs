//! Where the daemon's socket lives (DECISIONS.md): `HF_AUTH_SOCKET`, else
//! `$XDG_RUNTIME_DIR/hf-auth/hf-authd.sock`, else `${TMPDIR:-/tmp}/hf-auth-<uid>/hf-authd.sock`.

use crate::env::Env;
use std::path::{Path, PathBuf};

pub const SOCKET_FILE: &str = "hf-authd.sock";

/// The forward socket, beside the main one (`[forward] enabled = true`): what `hf-auth ssh`
/// carries to a remote machine and what a container bind-mounts. Requests on it are remote.
pub const FORWARD_SOCKET_FILE: &str = "hf-authd-forward.sock";

/// The forward socket of the daemon serving `socket`.
pub fn forward_socket_path(socket: &Path) -> PathBuf {
    socket.with_file_name(FORWARD_SOCKET_FILE)
}

/// The marker `hf-auth ssh` leaves beside the socket it forwards to a remote machine
/// (`<socket>.forwarded`). While it exists, a client there that finds no daemon says the
/// forward is gone instead of starting a local daemon (which would have none of the tokens).
pub fn forward_marker_path(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(".forwarded");
    PathBuf::from(name)
}

/// `$XDG_STATE_HOME/hf-auth/audit.log`, else `~/.local/state/hf-auth/audit.log`: the daemon's
/// log of token handouts (written by hf-authd, read by `hf-auth audit`).
pub fn audit_log_path(env: &Env) -> Option<PathBuf> {
    let base = match env.non_empty("XDG_STATE_HOME") {
        Some(x) => PathBuf::from(x),
        None => env.home()?.join(".local/state"),
    };
    Some(base.join("hf-auth").join("audit.log"))
}

/// `sun_path` holds 108 bytes on Linux and 104 on macOS, NUL included.
#[cfg(target_os = "linux")]
pub const MAX_SOCKET_PATH: usize = 107;
#[cfg(not(target_os = "linux"))]
pub const MAX_SOCKET_PATH: usize = 103;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SocketPathError {
    #[error(
        "socket path {path} is {len} bytes long; Unix sockets allow at most {MAX_SOCKET_PATH}. Set HF_AUTH_SOCKET to a shorter path"
    )]
    TooLong { path: PathBuf, len: usize },
    #[error("socket path {0} must be absolute")]
    Relative(PathBuf),
}

/// The socket path for this environment and user.
pub fn socket_path(env: &Env, uid: u32) -> Result<PathBuf, SocketPathError> {
    let path = if let Some(explicit) = env.non_empty("HF_AUTH_SOCKET") {
        PathBuf::from(explicit)
    } else if let Some(runtime) = env.non_empty("XDG_RUNTIME_DIR") {
        Path::new(runtime).join("hf-auth").join(SOCKET_FILE)
    } else {
        let tmp = env.non_empty("TMPDIR").unwrap_or("/tmp");
        Path::new(tmp).join(format!("hf-auth-{uid}")).join(SOCKET_FILE)
    };
    check(path)
}

/// The socket path for the current process.
pub fn default_socket_path(env: &Env) -> Result<PathBuf, SocketPathError> {
    socket_path(env, rustix::process::getuid().as_raw())
}

fn check(path: PathBuf) -> Result<PathBuf, SocketPathError> {
    if !path.is_absolute() {
        return Err(SocketPathError::Relative(path));
    }
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(SocketPathError::TooLong { path, len });
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(&[("HF_AUTH_SOCKET", "/s/x.sock"), ("XDG_RUNTIME_DIR", "/run/user/7")], "/s/x.sock")]
    #[case(&[("XDG_RUNTIME_DIR", "/run/user/7")], "/run/user/7/hf-auth/hf-authd.sock")]
    #[case(&[("XDG_RUNTIME_DIR", ""), ("TMPDIR", "/var/tmp")], "/var/tmp/hf-auth-7/hf-authd.sock")]
    #[case(&[], "/tmp/hf-auth-7/hf-authd.sock")]
    fn rules(#[case] pairs: &[(&str, &str)], #[case] expected: &str) {
        let env = Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        assert_eq!(socket_path(&env, 7).unwrap(), PathBuf::from(expected));
    }

    #[test]
    fn too_long_is_a_typed_error() {
        let long = format!("/{}/s.sock", "d".repeat(120));
        let env = Env::from_pairs([("HF_AUTH_SOCKET", long.clone())]);
        assert!(matches!(socket_path(&env, 0), Err(SocketPathError::TooLong { len, .. }) if len == long.len()));
    }

    #[test]
    fn relative_is_refused() {
        let env = Env::from_pairs([("HF_AUTH_SOCKET", "rel.sock")]);
        assert!(matches!(socket_path(&env, 0), Err(SocketPathError::Relative(_))));
    }
}
