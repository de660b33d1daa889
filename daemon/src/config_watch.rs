//! Watches `config.toml` so an edit of the routing rules takes effect without a restart: the
//! file's directory (or, until it exists, the nearest existing ancestor) is watched, and any event
//! naming the file reloads the rules off the async runtime.

use crate::state::Daemon;
use notify::{RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

/// Keeps watching while it lives.
pub struct ConfigWatch {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for ConfigWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigWatch").finish_non_exhaustive()
    }
}

/// Starts watching `path` for `daemon`; `None` (logged) when no watch can be made.
pub fn watch(daemon: &Arc<Daemon>, path: PathBuf) -> Option<ConfigWatch> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let weak: Weak<Daemon> = Arc::downgrade(daemon);
    let file = path.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let about_file = event.paths.iter().any(|p| p == &file || file.starts_with(p));
        if !about_file || matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        if let Some(daemon) = weak.upgrade() {
            runtime.spawn_blocking(move || daemon.reload_routes());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file; routing rules change only on restart");
            return None;
        }
    };
    // The directory when it exists, and its nearest existing ancestor (it may be created later).
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut targets = vec![];
    if dir.is_dir() {
        targets.push(dir.to_path_buf());
    }
    if let Some(ancestor) = dir.ancestors().skip(1).find(|a| a.is_dir()) {
        targets.push(ancestor.to_path_buf());
    }
    for target in targets {
        if let Err(e) = watcher.watch(&target, RecursiveMode::NonRecursive) {
            tracing::debug!(dir = %target.display(), error = %e, "config watch failed");
        }
    }
    Some(ConfigWatch { _watcher: watcher })
}
