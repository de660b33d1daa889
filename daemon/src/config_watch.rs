//! What makes the routing rules reload without a restart: an edit of `config.toml` (the file's
//! directory, or until it exists the nearest existing ancestor, is watched, and any event naming
//! the file reloads the rules off the async runtime), and a change of the stored tokens in the
//! daemon's own home (rules may name only those, so a rule written before its token was logged in
//! takes effect at the login, not at the next edit).

use crate::home::{ChangeKind, Home};
use crate::state::Daemon;
use notify::{RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::broadcast::error::RecvError;

/// Keeps watching while it lives.
pub struct ConfigWatch {
    _armed: Arc<Mutex<Armed>>,
}

impl std::fmt::Debug for ConfigWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigWatch").finish_non_exhaustive()
    }
}

/// The watcher and the directories it watches. The handler holds it weakly (the watcher owns
/// the handler), and re-arms it when a missing directory on the way to the file appears.
struct Armed {
    watcher: Option<notify::RecommendedWatcher>,
    watched: Vec<PathBuf>,
}

/// Starts watching `path` for `daemon`; `None` (logged) when no watch can be made.
pub fn watch(daemon: &Arc<Daemon>, path: PathBuf) -> Option<ConfigWatch> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let weak: Weak<Daemon> = Arc::downgrade(daemon);
    let armed = Arc::new(Mutex::new(Armed { watcher: None, watched: Vec::new() }));
    let weak_armed = Arc::downgrade(&armed);
    let file = path.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let about_file = event.paths.iter().any(|p| p == &file || file.starts_with(p));
        if !about_file || matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        let (Some(daemon), Some(armed)) = (weak.upgrade(), weak_armed.upgrade()) else { return };
        let file = file.clone();
        // Not on notify's own thread: adding a watch there would wait for that very thread.
        runtime.spawn_blocking(move || {
            arm(&armed, &file);
            daemon.reload_routes();
        });
    };
    let watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file; routing rules change only on restart");
            return None;
        }
    };
    armed.lock().unwrap_or_else(|e| e.into_inner()).watcher = Some(watcher);
    arm(&armed, &path);
    Some(ConfigWatch { _armed: armed })
}

/// Watches the file's directory when it exists, and its nearest existing ancestor (which sees the
/// next missing directory on the way appear); each directory once. Looks again after each new
/// watch: a directory made between the look and the watch on its parent made no event there
/// (an editor's `mkdir -p` and save, under load, lost the reload that way).
fn arm(armed: &Mutex<Armed>, path: &Path) {
    let mut armed = armed.lock().unwrap_or_else(|e| e.into_inner());
    let Armed { watcher: Some(watcher), watched } = &mut *armed else { return };
    let dir = path.parent().unwrap_or(Path::new("/"));
    loop {
        let targets = dir.ancestors().filter(|a| a.is_dir()).take(1).chain(dir.is_dir().then_some(dir));
        let mut added = false;
        for target in targets.map(Path::to_path_buf).collect::<Vec<_>>() {
            if watched.contains(&target) {
                continue;
            }
            match watcher.watch(&target, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.push(target);
                    added = true;
                }
                Err(e) => tracing::debug!(dir = %target.display(), error = %e, "config watch failed"),
            }
        }
        if !added {
            return;
        }
    }
}

/// Re-checks the rules whenever `home`'s stored tokens change; ends with the daemon.
pub fn follow_stored_tokens(daemon: &Arc<Daemon>, home: &Home) -> tokio::task::JoinHandle<()> {
    let mut events = home.subscribe();
    let weak = Arc::downgrade(daemon);
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) if event.kind == ChangeKind::Stored => {}
                Ok(_) => continue,
                // Missed events may have included a stored change: check anyway.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
            let Some(daemon) = weak.upgrade() else { return };
            let _ = tokio::task::spawn_blocking(move || daemon.reload_routes()).await;
        }
    })
}
