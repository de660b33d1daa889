//! The registry of homes the daemon serves: opened lazily on first use, keyed by the canonical
//! token path, each watched for changes made by any other program.

use crate::home::Home;
use crate::store::keyring::KeyringSettings;
use crate::watch::Watcher;
use hf_auth_proto::HomePaths;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

#[derive(Debug)]
pub struct Homes {
    inner: RwLock<Inner>,
    keyring_settings: KeyringSettings,
    watcher: Watcher,
    changes: Arc<tokio::sync::Notify>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Paths exactly as clients sent them → home. The hot path: no syscall on a hit.
    by_alias: HashMap<HomePaths, Arc<Home>>,
    /// Canonical paths → home, so two spellings of one directory share a home.
    by_canonical: HashMap<HomePaths, Arc<Home>>,
}

impl Homes {
    pub fn new(keyring_settings: KeyringSettings) -> Arc<Self> {
        Arc::new_cyclic(|weak| Self {
            inner: RwLock::new(Inner::default()),
            keyring_settings,
            watcher: Watcher::start(weak.clone()),
            changes: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// The home for these paths, opening (reading and watching) it on first use. Blocking on a miss.
    pub fn get(&self, paths: &HomePaths) -> Arc<Home> {
        if let Some(home) = self.read().by_alias.get(paths) {
            return home.clone();
        }
        let canonical = HomePaths { token: canonical(&paths.token), stored_tokens: canonical(&paths.stored_tokens) };
        let mut inner = self.write();
        if let Some(home) = inner.by_canonical.get(&canonical).cloned() {
            inner.by_alias.insert(paths.clone(), home.clone());
            return home;
        }
        sweep_leftovers(&canonical);
        // Watch before reading, so a write between the two is not missed.
        let home = Arc::new(Home::open_unread(canonical.clone(), Some(self.changes.clone()), self.keyring_settings));
        self.watcher.watch_home(&home);
        home.reload();
        inner.by_canonical.insert(canonical, home.clone());
        inner.by_alias.insert(paths.clone(), home.clone());
        self.changes.notify_one();
        home
    }

    /// A home already open for these paths, without opening one.
    pub fn peek(&self, paths: &HomePaths) -> Option<Arc<Home>> {
        self.read().by_alias.get(paths).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Home>> {
        self.read().by_canonical.values().cloned().collect()
    }

    /// Woken whenever any home's files change, or a home is opened.
    pub fn changes(&self) -> Arc<tokio::sync::Notify> {
        self.changes.clone()
    }

    pub fn watcher(&self) -> &Watcher {
        &self.watcher
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The file's path with its directory canonicalised when that directory exists.
fn canonical(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => match std::fs::canonicalize(dir) {
            Ok(dir) => dir.join(name),
            Err(_) => path.to_path_buf(),
        },
        _ => path.to_path_buf(),
    }
}

/// Removes the temp files a crashed writer left beside the token files. Only when there are any
/// (a read-only command must create nothing, not even the lock file), and under the lock, so a
/// write in flight (whose temp file is not a leftover) is never touched.
fn sweep_leftovers(paths: &HomePaths) {
    let mut dirs: Vec<&Path> = [&paths.token, &paths.stored_tokens].iter().filter_map(|p| p.parent()).collect();
    dirs.dedup();
    if !dirs.iter().any(|d| crate::secure_fs::has_temp_files(d)) {
        return;
    }
    match crate::secure_fs::lock_exclusive(&paths.lock_file(), std::time::Duration::from_secs(5)) {
        Ok(_lock) => {
            let swept: usize = dirs.iter().map(|d| crate::secure_fs::sweep_temp_files(d)).sum();
            tracing::info!(swept, home = %paths.token.display(), "removed temp files left by an interrupted write");
        }
        Err(e) => tracing::warn!(error = %e, "could not take the lock to sweep leftover temp files"),
    }
}
