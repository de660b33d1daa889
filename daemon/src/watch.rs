//! Watches the directories of every open home with `notify` and reloads a home when anything
//! in them changes, whoever the writer is (huggingface_hub, an editor, `rm`).
//!
//! We watch directories, not files: writers replace files by rename (we do, editors do) and a
//! file watch would follow the old inode. Only the home's own directory is watched while it
//! exists — not its parent (`~/.cache`, where other programs write thousands of files we have no
//! business waking up for). When it does not exist (yet, or any more: its deletion is an event of
//! its own watch), its nearest existing ancestor is watched until it does.
//!
//! An event that ends a write of a home's file — a rename onto it (huggingface_hub, editors and
//! we write that way), a close after writing it in place — reloads at once: the file is whole. Anything else (a bare modification, a new directory) is coalesced for a few
//! milliseconds, so a burst costs one reload and a reader never parses a file another process is
//! half-way through writing.

use crate::home::Home;
use crate::homes::Homes;
use notify::{RecursiveMode, Watcher as _};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Quiet time after the last event before reloading.
const SETTLE: Duration = Duration::from_millis(8);
/// Upper bound on the delay a continuous stream of events can cause.
const MAX_DELAY: Duration = Duration::from_millis(40);

pub struct Watcher {
    state: Mutex<WatchState>,
}

/// The backend and the bookkeeping that lets a closed home's directories be unwatched: a
/// directory is watched while at least one open home needs it (homes share parents, and two
/// spellings of a home briefly coexist when one closes as the other opens).
struct WatchState {
    notify: Option<notify::RecommendedWatcher>,
    /// Directory → how many open homes need it.
    counts: HashMap<PathBuf, usize>,
    /// An open home's address → the directories it asked for last.
    by_home: HashMap<usize, Vec<PathBuf>>,
}

impl WatchState {
    fn release(&mut self, dir: &Path) {
        if let Some(n) = self.counts.get_mut(dir) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(dir);
                if let Some(w) = self.notify.as_mut() {
                    let _ = w.unwatch(dir);
                }
            }
        }
    }
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

fn home_key(home: &Home) -> usize {
    std::ptr::from_ref(home) as usize
}

impl Watcher {
    /// Starts the event thread. Without a working backend the daemon still serves, re-reading
    /// nothing on its own; that is logged once.
    pub fn start(homes: Weak<Homes>) -> Self {
        let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
        let notify = match notify::recommended_watcher(tx) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(error = %e, "file watching unavailable; external changes will not be seen");
                None
            }
        };
        // Reloads run on the runtime's blocking pool when there is one, so one home whose
        // lock is held by another program does not hold up the events of every other home.
        let runtime = tokio::runtime::Handle::try_current().ok();
        std::thread::Builder::new()
            .name("hf-authd-watch".into())
            .spawn(move || event_loop(rx, homes, runtime))
            .map_err(|e| tracing::error!(error = %e, "could not start the watch thread"))
            .ok();
        Self { state: Mutex::new(WatchState { notify, counts: HashMap::new(), by_home: HashMap::new() }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes sure the directories of `home` (or their nearest existing ancestors) are watched.
    /// Called again after changes: a directory created or re-created since is picked up.
    pub fn watch_home(&self, home: &Home) {
        // A directory made between the look and the watch on its parent made no event there:
        // look again after watching, until nothing changed (a few rounds at most: one per
        // missing directory that appeared meanwhile).
        for _ in 0..8 {
            if !self.watch_home_once(home) {
                return;
            }
        }
    }

    /// One round of [`Self::watch_home`]; whether the directories to watch changed meanwhile.
    fn watch_home_once(&self, home: &Home) -> bool {
        let mut state = self.state();
        if home.is_closed() || state.notify.is_none() {
            return false;
        }
        let targets = || {
            let mut wanted: Vec<PathBuf> = home.dirs().iter().flat_map(|d| watch_targets(d)).collect();
            wanted.sort();
            wanted.dedup();
            wanted
        };
        let wanted = targets();
        let before = state.by_home.remove(&home_key(home)).unwrap_or_default();
        for target in &wanted {
            if !before.contains(target) {
                *state.counts.entry(target.clone()).or_default() += 1;
            }
            // Re-adding a watched directory is cheap and renews a watch the kernel dropped
            // when the directory was deleted and made again.
            if let Some(w) = state.notify.as_mut()
                && let Err(e) = w.watch(target, RecursiveMode::NonRecursive)
            {
                tracing::debug!(dir = %target.display(), error = %e, "watch failed");
            }
        }
        for old in before.iter().filter(|d| !wanted.contains(d)) {
            state.release(old);
        }
        let changed = targets() != wanted;
        state.by_home.insert(home_key(home), wanted);
        changed
    }

    /// Stops watching what only `home` needed (it was closed).
    pub fn unwatch_home(&self, home: &Home) {
        let mut state = self.state();
        for dir in state.by_home.remove(&home_key(home)).unwrap_or_default() {
            state.release(&dir);
        }
    }

    /// How many directories are watched.
    pub fn watched_dirs(&self) -> usize {
        self.state().counts.len()
    }

    pub fn is_active(&self) -> bool {
        self.state().notify.is_some()
    }
}

/// The directory itself when it exists, else its nearest existing ancestor.
fn watch_targets(dir: &Path) -> Vec<PathBuf> {
    let mut targets = Vec::with_capacity(1);
    if dir.is_dir() {
        targets.push(dir.to_path_buf());
        return targets;
    }
    let mut ancestor = dir.parent();
    while let Some(a) = ancestor {
        if a.is_dir() {
            targets.push(a.to_path_buf());
            break;
        }
        ancestor = a.parent();
    }
    targets
}

fn event_loop(
    rx: mpsc::Receiver<notify::Result<notify::Event>>,
    homes: Weak<Homes>,
    runtime: Option<tokio::runtime::Handle>,
) {
    while let Ok(first) = rx.recv() {
        let Some(homes) = homes.upgrade() else { return };
        for home in affected(&homes, std::slice::from_ref(&first)) {
            home.mark_dirty();
        }
        let mut complete = first.as_ref().is_ok_and(|e| completes_write(&homes, e));
        let mut events = vec![first];
        let start = Instant::now();
        loop {
            if complete {
                // Take what is already queued, without waiting for more.
                events.extend(rx.try_iter());
                break;
            }
            let left = MAX_DELAY.saturating_sub(start.elapsed()).min(SETTLE);
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(e) => {
                    for home in affected(&homes, std::slice::from_ref(&e)) {
                        home.mark_dirty();
                    }
                    complete = e.as_ref().is_ok_and(|e| completes_write(&homes, e));
                    events.push(e);
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        for home in affected(&homes, &events) {
            homes.watcher().watch_home(&home);
            let Some(reload) = home.reload_queued() else { continue };
            match &runtime {
                Some(rt) => drop(rt.spawn_blocking(reload)),
                None => reload(),
            }
        }
    }
}

fn affected(homes: &Homes, events: &[notify::Result<notify::Event>]) -> Vec<Arc<Home>> {
    let all = homes.all();
    // An error or a rescan request (queue overflow) means events were lost: reload everything.
    if events.iter().any(|e| e.as_ref().map_or(true, |e| e.need_rescan())) {
        return all;
    }
    let paths: Vec<&Path> = events
        .iter()
        .flatten()
        .filter(|e| changes_content(&e.kind))
        .flat_map(|e| e.paths.iter().map(PathBuf::as_path))
        .collect();
    all.into_iter().filter(|home| paths.iter().any(|p| concerns(home, p))).collect()
}

/// Is `path` one of the home's files, or a directory on the way to them?
fn concerns(home: &Home, path: &Path) -> bool {
    is_file_of(home, path) || home.dirs().iter().any(|dir| dir.starts_with(path))
}

fn is_file_of(home: &Home, path: &Path) -> bool {
    path == home.paths.token || path == home.paths.stored_tokens || path == home.paths.active_name_file()
}

/// Does this event end a write of some home's file (so the file is whole now)?
fn completes_write(homes: &Homes, event: &notify::Event) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
    // Not removals: they come in bursts (a logout deletes both files), and a reload between two of
    // them would see half a logout (and, in keyring mode, restore the token file).
    let ends = matches!(
        event.kind,
        EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both))
    );
    ends && homes.all().iter().any(|home| event.paths.iter().any(|p| is_file_of(home, p)))
}

/// Opens and reads change nothing; our own reloads open the files, so counting them would make
/// every reload schedule the next one (a busy loop that kept homes dirty).
fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    !matches!(kind, EventKind::Access(a) if !matches!(a, AccessKind::Close(AccessMode::Write)))
}
