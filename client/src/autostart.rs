//! Starting hf-authd when it is not running: one starter at a time (a lock beside the socket, in
//! a directory checked to be ours first, opened without following links), detached from the
//! caller (its own session, cwd `/`, an environment with none of the caller's tokens: see
//! [`daemon_env`]), logging to a known file, and ready before we go on (the daemon reports
//! readiness on a pipe: no sleeping, no guessing).
//!
//! Never where `hf-auth ssh` forwarded a daemon: it leaves a marker beside the forwarded socket
//! (`<socket>.forwarded`, see `hf_auth_proto::socket::forward_marker_path`), and while it is
//! there a missing daemon means the forward is gone (the ssh session ended), which is said
//! instead of starting a daemon here that would have none of the tokens.

pub mod daemon_env;
pub mod replace;

pub use replace::{connect_compatible, service_restart_hint, wait_until_stopped};

use crate::connect::{self, Client, ConnectError, trust};
use hf_auth_proto::Env;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long an autostarted daemon lingers without requests.
pub const AUTOSTART_IDLE_SECS: u64 = 3600;
const READY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Connect(#[from] ConnectError),
    #[error(
        "hf-authd is not running (socket {socket}) and HF_AUTH_NO_AUTOSTART is set; start it with `hf-auth daemon start`"
    )]
    Disabled { socket: PathBuf },
    #[error(
        "the hf-authd forwarded here by `hf-auth ssh` is gone (socket {socket}): the ssh session that carried it has ended. Connect again with `hf-auth ssh`, or remove {marker} to run hf-authd on this machine instead"
    )]
    ForwardGone { socket: PathBuf, marker: PathBuf },
    #[error("could not start hf-authd ({binary}): {reason}. See the log: {log}")]
    Spawn { binary: PathBuf, reason: String, log: PathBuf },
    #[error(
        "hf-authd at {socket} speaks protocol {theirs}, this client speaks {}; it is run by your service manager, which would start the same version again. Restart it there: {hint}",
        hf_auth_proto::PROTOCOL_VERSION
    )]
    ServiceManaged { socket: PathBuf, theirs: u32, hint: &'static str },
    #[error("hf-authd did not become ready: {reason}. See the log: {log}")]
    NotReady { reason: String, log: PathBuf },
    #[error(
        "the hf-authd forwarded here by `hf-auth ssh` ({socket}) speaks protocol {theirs}, this client speaks {ours}; install the same hf-auth version on both machines",
        socket = .socket.display(), ours = hf_auth_proto::PROTOCOL_VERSION
    )]
    ForwardedIncompatible { socket: PathBuf, theirs: u32 },
}

/// Where an autostarted daemon logs: `$XDG_STATE_HOME/hf-auth/hf-authd.log`, else under
/// `~/.local/state`; with no home at all, `${TMPDIR:-/tmp}/hf-auth-<uid>/` (the socket's fallback
/// directory: one per user, so one user's directory there never stops another's daemon).
pub fn log_path(env: &Env) -> PathBuf {
    let base = match env.non_empty("XDG_STATE_HOME") {
        Some(x) => PathBuf::from(x),
        None => match env.home() {
            Some(h) => h.join(".local/state"),
            None => {
                let uid = rustix::process::geteuid().as_raw();
                return std::env::temp_dir().join(format!("hf-auth-{uid}")).join("hf-authd.log");
            }
        },
    };
    base.join("hf-auth").join("hf-authd.log")
}

/// The daemon binary: next to this executable, else `hf-authd` on PATH.
pub fn daemon_binary() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        let sibling = exe.with_file_name("hf-authd");
        if sibling.is_file() {
            return sibling;
        }
    }
    PathBuf::from("hf-authd")
}

/// Connects, starting the daemon first when it is not running and autostart is allowed.
pub async fn connect_or_start(
    env: &Env,
    socket: &Path,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
) -> Result<Client, StartError> {
    let policy = trust::PeerPolicy::current(env);
    match connect::connect_with(socket, policy, connect_timeout, request_timeout).await {
        Err(ConnectError::NotRunning { .. }) => {}
        other => return Ok(other?),
    }
    let marker = hf_auth_proto::socket::forward_marker_path(socket);
    if std::fs::symlink_metadata(&marker).is_ok() {
        return Err(StartError::ForwardGone { socket: socket.to_path_buf(), marker });
    }
    if env.non_empty("HF_AUTH_NO_AUTOSTART").is_some_and(hf_auth_proto::env::is_truthy) {
        return Err(StartError::Disabled { socket: socket.to_path_buf() });
    }
    let (env2, socket2) = (env.clone(), socket.to_path_buf());
    tokio::task::spawn_blocking(move || start(&env2, &socket2, Some(AUTOSTART_IDLE_SECS)))
        .await
        .map_err(|e| StartError::NotReady { reason: e.to_string(), log: log_path(env) })??;
    Ok(connect::connect_with(socket, policy, connect_timeout, request_timeout).await?)
}

/// Starts a daemon for `socket` unless one is already serving it. Blocking.
/// Returns the pid of the daemon we started, or `None` if another was already there.
pub fn start(env: &Env, socket: &Path, idle_secs: Option<u64>) -> Result<Option<u32>, StartError> {
    let log = log_path(env);
    let dir = socket.parent().unwrap_or(Path::new("/"));
    let untrusted = |reason| StartError::Connect(ConnectError::Untrusted { socket: socket.to_path_buf(), reason });
    // A directory someone else made (or opened up) first is refused before we create anything
    // in it; one we create is checked again, in case it was made in between.
    trust::check_path(socket).map_err(untrusted)?;
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir);
    trust::check_path(socket).map_err(untrusted)?;
    // One starter at a time; the others wait here and then find the daemon running.
    let mut lock_name = socket.as_os_str().to_owned();
    lock_name.push(".start.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(PathBuf::from(&lock_name));
    let _guard = match lock {
        Ok(file) => flock_with_timeout(file, READY_TIMEOUT),
        Err(_) => None,
    };
    if std::os::unix::net::UnixStream::connect(socket).is_ok() {
        return Ok(None);
    }
    let binary = daemon_binary();
    if let Some(parent) = log.parent() {
        let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent);
    }
    let mut cmd = Command::new(&binary);
    cmd.arg("--socket").arg(socket).arg("--log-file").arg(&log).arg("--print-ready").arg("--detach");
    if let Some(idle) = idle_secs {
        cmd.arg("--idle-timeout").arg(idle.to_string());
    }
    // `--detach`: the daemon calls setsid (its own session, no controlling terminal: a Ctrl-C or
    // a hangup in the caller's terminal must not stop it) and moves to `/` itself, once it has
    // read its environment; doing it here would need `pre_exec`, which is unsafe code.
    cmd.env_clear().envs(daemon_env::daemon_env(env));
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| StartError::Spawn {
        binary: binary.clone(),
        reason: e.to_string(),
        log: log.clone(),
    })?;
    let pid = child.id();
    let stdout =
        child.stdout.take().ok_or_else(|| StartError::NotReady { reason: "no pipe".into(), log: log.clone() })?;
    // The daemon prints "ready" once its socket is bound, then closes the pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(READY_TIMEOUT) {
        Ok(line) if line.starts_with("ready") => {
            // Reap it in the background if it ever exits while we still run.
            std::thread::spawn(move || child.wait());
            Ok(Some(pid))
        }
        Ok(_) => {
            let status = child.wait().ok().and_then(|s| s.code());
            Err(StartError::NotReady {
                reason: format!("it exited{}", status.map(|c| format!(" with status {c}")).unwrap_or_default()),
                log,
            })
        }
        Err(_) => Err(StartError::NotReady { reason: format!("no answer within {READY_TIMEOUT:?}"), log }),
    }
}

fn flock_with_timeout(file: std::fs::File, timeout: Duration) -> Option<std::fs::File> {
    let start = Instant::now();
    loop {
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok() {
            return Some(file);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_no_home_the_log_is_in_a_directory_of_this_user_alone() {
        let uid = rustix::process::geteuid().as_raw();
        let log = log_path(&Env::from_pairs([("TMPDIR", "/tmp")]));
        assert_eq!(log.parent().unwrap().file_name().unwrap().to_string_lossy(), format!("hf-auth-{uid}"));
        let log = log_path(&Env::from_pairs([("HOME", "/home/a")]));
        assert_eq!(log, PathBuf::from("/home/a/.local/state/hf-auth/hf-authd.log"));
    }
}
