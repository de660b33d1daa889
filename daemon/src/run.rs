//! The daemon's life: take the socket (systemd's, or our own under a pidfile lock), harden the
//! process, serve, and clean up. SIGTERM, SIGINT, `Shutdown` and the idle timeout all end in
//! the same graceful path.

use crate::config::Config;
use crate::secure_fs;
use crate::state::Daemon;
use anyhow::{Context, bail};
use std::fs::File;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixListener as StdListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    pub socket: PathBuf,
    pub config: Config,
    /// Exit after this long without a request (autostarted daemons).
    pub idle_timeout: Option<Duration>,
    pub log_path: Option<PathBuf>,
    /// Print "ready <pid>" on stdout once serving (the client's autostart waits for it).
    pub print_ready: bool,
    /// Homes to open at start (the daemon's own default home), so their OAuth tokens are
    /// refreshed before any client asks: `(paths, endpoint, oauth client id)`, the home counting
    /// as used by a client of that endpoint (which matters only for sections without a record,
    /// and only when it is the default endpoint: see `crate::issuer`).
    pub preload: Vec<(hf_auth_proto::HomePaths, String, String)>,
    /// The audit log of token handouts (`$XDG_STATE_HOME/hf-auth/audit.log`); none: not kept.
    pub audit_log: Option<PathBuf>,
}

/// The socket we serve on, and what to undo at exit.
#[derive(Debug)]
pub struct Bound {
    pub listener: StdListener,
    /// Set when we created the socket file (not systemd): removed at exit if still ours.
    created: Option<(PathBuf, u64)>,
    /// Held for the daemon's lifetime: one daemon per socket.
    _pid_lock: Option<File>,
}

impl Bound {
    pub fn socket_activated(&self) -> bool {
        self.created.is_none()
    }

    /// Removes the socket file if it is still the one we bound.
    pub fn cleanup(&self) {
        if let Some((path, ino)) = &self.created
            && std::fs::symlink_metadata(path).is_ok_and(|m| m.ino() == *ino)
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Takes the socket systemd passed (`LISTEN_FDS`), else binds our own.
pub fn acquire(socket: &Path) -> anyhow::Result<Bound> {
    let mut fds = listenfd::ListenFd::from_env();
    if let Some(listener) = fds.take_unix_listener(0).context("reading the socket passed by the service manager")? {
        tracing::info!("using the socket passed by the service manager");
        return Ok(Bound { listener, created: None, _pid_lock: None });
    }
    bind(socket)
}

/// Binds `socket`: directory checked (0700, ours, not a symlink), one daemon per socket (a lock
/// on `<socket>.pid`), a stale socket removed only when connecting to it is refused, and the
/// socket made 0600 right after bind. In between it has the umask's mode, but it sits in a
/// directory only we can enter (checked above), so nobody else can reach it. (Not a umask around
/// bind: the umask is process-wide, and tests bind in a process whose other threads create files.)
pub fn bind(socket: &Path) -> anyhow::Result<Bound> {
    let dir = socket.parent().context("the socket path has no directory")?;
    secure_fs::prepare_socket_dir(dir)?;
    let pid_lock = lock_pidfile(socket)?;
    match std::fs::symlink_metadata(socket) {
        Ok(meta) if meta.file_type().is_socket() => match std::os::unix::net::UnixStream::connect(socket) {
            Ok(_) => bail!("another hf-authd is already serving {}", socket.display()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                tracing::info!(socket = %socket.display(), "removing a stale socket");
                std::fs::remove_file(socket).with_context(|| format!("removing stale socket {}", socket.display()))?;
            }
            Err(e) => bail!("{} exists and cannot be checked: {e}", socket.display()),
        },
        Ok(_) => bail!("{} exists and is not a socket; refusing to replace it", socket.display()),
        Err(_) => {}
    }
    let listener = StdListener::bind(socket).with_context(|| format!("binding {}", socket.display()))?;
    secure_fs::make_socket_private(socket)?;
    let ino = std::fs::symlink_metadata(socket)?.ino();
    Ok(Bound { listener, created: Some((socket.to_path_buf(), ino)), _pid_lock: Some(pid_lock) })
}

fn lock_pidfile(socket: &Path) -> anyhow::Result<File> {
    let mut name = socket.as_os_str().to_owned();
    name.push(".pid");
    let path = PathBuf::from(name);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        let other = std::fs::read_to_string(&path).unwrap_or_default();
        bail!(
            "another hf-authd (pid {}) is already running for {}",
            other.split_whitespace().next().unwrap_or("?"),
            socket.display()
        );
    }
    use std::io::{Seek, Write};
    file.set_len(0)?;
    file.seek(std::io::SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())?;
    Ok(file)
}

/// Runs the daemon until `shutdown` resolves (or `Shutdown`, or the idle timeout).
pub async fn run(
    opts: Options,
    bound: Bound,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    // Under socket activation the socket is the one we were given, wherever that is.
    let socket = bound
        .listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(std::path::Path::to_path_buf))
        .unwrap_or_else(|| opts.socket.clone());
    // The forward socket sits beside the main one, under the same directory rules.
    let forward = match opts.config.forward.enabled {
        true => {
            let path = hf_auth_proto::socket::forward_socket_path(&socket);
            let fwd = bind(&path).context("binding the forward socket ([forward] enabled)")?;
            fwd.listener.set_nonblocking(true)?;
            Some((path, fwd))
        }
        false => None,
    };
    let audit = match &opts.audit_log {
        Some(path) => crate::audit::Audit::start(path.clone(), crate::audit::DEFAULT_MAX_BYTES),
        None => crate::audit::Audit::disabled(),
    };
    let daemon = Daemon::new(opts.config.clone(), socket.clone())?
        .with_log_path(opts.log_path.clone())
        .with_service_managed(bound.socket_activated())
        .with_forward_socket(forward.as_ref().map(|(p, _)| p.clone()))
        .with_audit(audit);
    bound.listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(bound.listener.try_clone()?)?;
    let forward_listener = match &forward {
        Some((_, fwd)) => Some(tokio::net::UnixListener::from_std(fwd.listener.try_clone()?)?),
        None => None,
    };
    for (i, (paths, endpoint, client_id)) in opts.preload.clone().into_iter().enumerate() {
        let homes = daemon.homes.clone();
        let home = tokio::task::spawn_blocking(move || homes.get(&paths)).await?;
        home.pin();
        home.note_client(&endpoint, &client_id);
        if i == 0 {
            let d = daemon.clone();
            tokio::task::spawn_blocking(move || d.set_own_home(home)).await?;
        }
    }
    // Routing rules follow config.toml's edits and the own home's stored tokens (kept while serving).
    let _config_watch = daemon.config.source.clone().and_then(|p| crate::config_watch::watch(&daemon, p));
    let follow = daemon.own_home().map(|home| crate::config_watch::follow_stored_tokens(&daemon, home));
    let refresher = tokio::spawn(supervised_refresher(daemon.clone()));
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    if opts.print_ready {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready {}", std::process::id()).and_then(|()| out.flush());
    }
    tracing::info!(socket = %socket.display(), pid = std::process::id(), version = env!("CARGO_PKG_VERSION"), "hf-authd ready");
    if let Some((path, _)) = &forward {
        tracing::info!(socket = %path.display(), token = ?opts.config.forward.token, allow_uids = ?opts.config.forward.allow_uids, "forward socket ready");
    }
    let idle = idle_exit(daemon.clone(), opts.idle_timeout);
    let stop = async move {
        tokio::select! {
            () = shutdown => {}
            () = idle => tracing::info!("idle timeout reached"),
        }
    };
    let result = crate::server::serve(daemon.clone(), listener, forward_listener, stop).await;
    // The last handouts' lines, still in the writer's queue, reach the file before we exit.
    let d = daemon.clone();
    let _ = tokio::task::spawn_blocking(move || d.audit.sync(Duration::from_secs(1))).await;
    refresher.abort();
    if let Some(follow) = follow {
        follow.abort();
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    bound.cleanup();
    if let Some((_, fwd)) = &forward {
        fwd.cleanup();
    }
    tracing::info!("hf-authd stopped");
    result
}

/// Resolves once the daemon has been idle for `timeout`; never without one. Sleeps, no polling.
async fn idle_exit(daemon: Arc<Daemon>, timeout: Option<Duration>) {
    let Some(timeout) = timeout else { return std::future::pending().await };
    loop {
        match daemon.idle_for() {
            Some(idle) if idle >= timeout => return,
            Some(idle) => tokio::time::sleep(timeout - idle).await,
            None => tokio::time::sleep(timeout).await,
        }
    }
}

/// SIGTERM or SIGINT.
pub async fn signals() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

/// The refresh loop, started again if it panics: one bad section must not end refreshes for
/// every home for the rest of the daemon's life (and the panic is logged, not lost on a stderr
/// nobody reads). Ends when the loop does: the daemon is stopping.
async fn supervised_refresher(daemon: std::sync::Arc<crate::state::Daemon>) {
    loop {
        match tokio::spawn(crate::refresh::Refresher::run(daemon.clone())).await {
            Err(e) if e.is_panic() => {
                tracing::error!("the token refresher panicked; starting it again in 10 s");
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            }
            _ => return,
        }
    }
}
