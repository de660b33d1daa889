//! The registry of homes the daemon serves: opened lazily on first use, keyed by the canonical
//! token path, each watched for changes made by any other program, and bounded: past
//! `max_open_homes`, the least recently used homes are closed (forgotten and unwatched).
//!
//! The registry's lock guards two maps and nothing else: no file, lock file, keyring or Hub call
//! ever runs under it. Opening a home (canonicalising its paths, sweeping leftovers, watching,
//! the first read) happens outside it, once per home, so a home whose files are slow or locked
//! by another program delays only the requests for that home.

use crate::home::Home;
use crate::store::keyring::KeyringSettings;
use crate::watch::Watcher;
use hf_auth_proto::HomePaths;
use std::collections::HashMap;
use std::hash::{Hash, Hasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// How many homes stay open by default. A CI runner that gives every job its own `HF_HOME` opens
/// thousands over a day; each open home costs memory and one or two directory watches.
pub const DEFAULT_MAX_OPEN_HOMES: usize = 1024;
/// Aliases (spellings of a home's paths as clients send them) kept per open home, on average.
const ALIASES_PER_HOME: usize = 4;

#[derive(Debug)]
pub struct Homes {
    inner: RwLock<Inner>,
    keyring_settings: KeyringSettings,
    watcher: Watcher,
    changes: Arc<tokio::sync::Notify>,
    max_open: usize,
}

#[derive(Debug, Default)]
struct Inner {
    /// Paths exactly as clients sent them → home. The hot path: no syscall on a hit.
    by_alias: hashbrown::HashMap<Spelling, Arc<Home>, RandomState>,
    /// Canonical paths → home, so two spellings of one directory share a home.
    by_canonical: HashMap<HomePaths, Arc<Home>>,
}

impl Homes {
    pub fn new(keyring_settings: KeyringSettings, max_open: usize) -> Arc<Self> {
        Arc::new_cyclic(|weak| Self {
            inner: RwLock::new(Inner::default()),
            keyring_settings,
            watcher: Watcher::start(weak.clone()),
            changes: Arc::new(tokio::sync::Notify::new()),
            max_open: max_open.max(1),
        })
    }

    /// The home for these paths, opening (reading and watching) it on first use. Blocking on a
    /// miss, and while another request is opening the same home.
    pub fn get(&self, paths: &HomePaths) -> Arc<Home> {
        if let Some(home) = self.peek(paths) {
            return home;
        }
        let canonical = HomePaths { token: canonical(&paths.token), stored_tokens: canonical(&paths.stored_tokens) };
        let (home, closed) = {
            let mut inner = self.write();
            let home = match inner.by_canonical.get(&canonical) {
                Some(home) => home.clone(),
                None => {
                    let home = Arc::new(Home::open_unread(
                        canonical.clone(),
                        Some(self.changes.clone()),
                        self.keyring_settings,
                    ));
                    inner.by_canonical.insert(canonical, home.clone());
                    home
                }
            };
            if inner.by_alias.len() >= self.max_open * ALIASES_PER_HOME {
                // Spellings are only a shortcut: dropping them costs one canonicalize per miss.
                inner.by_alias.clear();
            }
            inner.by_alias.insert(Spelling(paths.clone()), home.clone());
            home.touch();
            (home, inner.close_least_recently_used(self.max_open))
        };
        for old in &closed {
            self.watcher.unwatch_home(old);
            tracing::debug!(home = %old.paths.token.display(), "closed an idle home");
        }
        home.open_once(|| {
            sweep_leftovers(&home.paths);
            // Watch before reading, so a write between the two is not missed.
            self.watcher.watch_home(&home);
            home.reload();
            self.changes.notify_one();
        });
        home.schedule_repair();
        home
    }

    /// A home already open for these paths, without opening one (nor waiting for one being opened).
    pub fn peek(&self, paths: &HomePaths) -> Option<Arc<Home>> {
        let home = self.read().by_alias.get(&SpellingOf(paths)).filter(|h| h.is_open()).cloned()?;
        home.touch();
        Some(home)
    }

    /// Every open home (opened and read).
    pub fn all(&self) -> Vec<Arc<Home>> {
        self.read().by_canonical.values().filter(|h| h.is_open()).cloned().collect()
    }

    /// How many homes are open.
    pub fn len(&self) -> usize {
        self.read().by_canonical.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

impl Inner {
    /// Past `max`, forgets the least recently used homes that nobody holds on to (no `Watch`
    /// stream, not pinned), down to 7/8 of `max` so the scan is paid once per many opens.
    /// Returns them, to be unwatched outside the lock.
    fn close_least_recently_used(&mut self, max: usize) -> Vec<Arc<Home>> {
        if self.by_canonical.len() <= max {
            return Vec::new();
        }
        let target = max - max / 8;
        let mut idle: Vec<(u64, HomePaths)> =
            self.by_canonical.iter().filter(|(_, h)| h.closable()).map(|(k, h)| (h.last_used(), k.clone())).collect();
        idle.sort_unstable_by_key(|(used, _)| *used);
        let excess = self.by_canonical.len().saturating_sub(target);
        let closed: Vec<Arc<Home>> =
            idle.into_iter().take(excess).filter_map(|(_, key)| self.by_canonical.remove(&key)).collect();
        closed.iter().for_each(|h| h.mark_closed());
        if !closed.is_empty() {
            self.by_alias.retain(|_, h| !closed.iter().any(|c| Arc::ptr_eq(c, h)));
        }
        closed
    }
}

/// Paths exactly as a client sent them: the alias map's key, hashed and compared byte for byte.
/// An alias is a spelling, so its bytes are what must match; `Path` hashes and compares
/// component by component, which was most of the cost of a request's lookup.
#[derive(Debug)]
struct Spelling(HomePaths);

/// A [`Spelling`] borrowed from a request, to look one up without a copy.
struct SpellingOf<'a>(&'a HomePaths);

fn spelled(paths: &HomePaths) -> [&[u8]; 2] {
    // Every field, so a new one cannot be left out of the key.
    let HomePaths { token, stored_tokens } = paths;
    [token.as_os_str().as_encoded_bytes(), stored_tokens.as_os_str().as_encoded_bytes()]
}

impl Hash for Spelling {
    fn hash<H: Hasher>(&self, state: &mut H) {
        spelled(&self.0).hash(state);
    }
}

impl Hash for SpellingOf<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        spelled(self.0).hash(state);
    }
}

impl PartialEq for Spelling {
    fn eq(&self, other: &Self) -> bool {
        spelled(&self.0) == spelled(&other.0)
    }
}

impl Eq for Spelling {}

impl hashbrown::Equivalent<Spelling> for SpellingOf<'_> {
    fn equivalent(&self, key: &Spelling) -> bool {
        spelled(self.0) == spelled(&key.0)
    }
}

/// The file's path with its directory resolved (`secure_fs::resolve_dir`), so that two spellings
/// of one directory share a home. A directory the rules refuse (reached through a planted link,
/// say), or one that does not exist yet, keeps the caller's spelling: every read and write then
/// walks that spelling and meets the same refusal. (`std::fs::canonicalize` here once followed a
/// planted directory link, and every later read used the resolved path.)
fn canonical(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => match crate::secure_fs::resolve_dir(dir) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &Path) -> HomePaths {
        HomePaths { token: dir.join("token"), stored_tokens: dir.join("stored_tokens") }
    }

    #[test]
    fn past_the_cap_the_least_recently_used_idle_homes_close_and_pinned_ones_stay() {
        let t = tempfile::tempdir().unwrap();
        let homes = Homes::new(KeyringSettings::default(), 8);
        let dirs: Vec<PathBuf> = (0..20).map(|i| t.path().join(format!("h{i}"))).collect();
        let pinned = homes.get(&paths(&dirs[0]));
        pinned.pin();
        let watched = homes.get(&paths(&dirs[1]));
        let _events = watched.subscribe();
        for dir in &dirs[2..] {
            homes.get(&paths(dir));
            assert!(homes.len() <= 8, "{} homes open past a cap of 8", homes.len());
        }
        assert!(homes.peek(&paths(&dirs[0])).is_some(), "a pinned home stays open");
        assert!(homes.peek(&paths(&dirs[1])).is_some(), "a home with a Watch stream stays open");
        assert!(homes.peek(&paths(&dirs[2])).is_none(), "the least recently used idle home was closed");
        assert!(homes.peek(&paths(&dirs[19])).is_some(), "the newest home is open");
        // A closed home opens again on the next request, reading its files afresh.
        std::fs::create_dir_all(&dirs[2]).unwrap();
        std::fs::write(dirs[2].join("token"), "hf_again").unwrap();
        let again = homes.get(&paths(&dirs[2]));
        assert_eq!(again.snapshot().active.as_ref().unwrap().as_ref().unwrap().expose(), "hf_again");
    }

    #[test]
    fn two_spellings_of_one_home_are_two_aliases_of_one_home() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("hf");
        std::fs::create_dir_all(&dir).unwrap();
        let homes = Homes::new(KeyringSettings::default(), 8);
        let plain = paths(&dir);
        let doubled = paths(&t.path().join(".//hf/"));
        assert_ne!(spelled(&plain), spelled(&doubled), "the test needs two spellings");
        let first = homes.get(&plain);
        assert!(homes.peek(&doubled).is_none(), "a spelling not seen yet is not an alias yet");
        let second = homes.get(&doubled);
        assert!(Arc::ptr_eq(&first, &second), "both spellings reach the one home");
        for spelling in [&plain, &doubled] {
            let peeked = homes.peek(spelling).expect("each spelling is an alias now");
            assert!(Arc::ptr_eq(&peeked, &first));
        }
        assert_eq!(homes.len(), 1);
        // The same token file with another stored_tokens is another home, not an alias.
        let other = HomePaths { token: plain.token.clone(), stored_tokens: t.path().join("elsewhere") };
        assert!(homes.peek(&other).is_none());
        assert!(!Arc::ptr_eq(&homes.get(&other), &first));
        assert_eq!(homes.len(), 2);
    }
}
