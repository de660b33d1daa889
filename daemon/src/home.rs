//! One Hugging Face home held in memory: its paths, the latest snapshot of its files, and a
//! broadcast of changes. `Resolve` and `List` answer from the snapshot; the watcher and our own
//! writes keep it current.

use crate::store::disk::{self, ActiveChange, Snapshot};
use crate::store::ini::IniFile;
use crate::store::keyring::{Keyring, KeyringSettings, Vault, is_keyring_section};
use hf_auth_proto::{HomePaths, Token};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Active,
    Stored,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HomeEvent {
    pub kind: ChangeKind,
    pub generation: u64,
}

#[derive(Debug)]
pub struct Home {
    pub paths: HomePaths,
    snapshot: RwLock<Arc<Snapshot>>,
    generation: AtomicU64,
    /// Set the moment the watcher hears of a change, cleared by the reload that follows: a
    /// request arriving in between re-reads the files instead of answering from stale memory.
    dirty: AtomicBool,
    reload_lock: std::sync::Mutex<()>,
    events: broadcast::Sender<HomeEvent>,
    /// Who issued its tokens, as far as records and refresh tokens tell, and which clients
    /// used it: what decides where a token may be sent (see `crate::issuer`).
    pub issuers: crate::issuer::Memory,
    /// Shared with the registry: woken whenever any home changes (the refresher listens).
    changes: Option<Arc<tokio::sync::Notify>>,
    /// Keyring secrets read so far, and the keyring token last seen active.
    pub vault: Vault,
    keyring_settings: KeyringSettings,
    /// The registry's bookkeeping: opened (read and watched) once, when it was last used, kept
    /// open whatever the cap (the daemon's own home), closed (evicted from the registry).
    opening: std::sync::Mutex<()>,
    open: AtomicBool,
    last_used_ms: AtomicU64,
    pinned: AtomicBool,
    closed: AtomicBool,
    /// A repair is scheduled and has not started yet.
    repair_pending: AtomicBool,
    /// A watcher reload is queued and has not started yet.
    reload_queued: AtomicBool,
}

/// How long a repair waits after the change that called for it: another program's change in
/// several steps (`hf auth logout` deletes the token file, then `stored_tokens`) is whole by then.
pub const REPAIR_DELAY: std::time::Duration = std::time::Duration::from_millis(300);

impl Home {
    /// Opens a home by reading its files once. Blocking.
    pub fn open(paths: HomePaths) -> Self {
        let home = Self::open_unread(paths, None, KeyringSettings::default());
        home.reload();
        home
    }

    /// A home that has not read its files yet (it looks logged out until [`Home::reload`]).
    pub fn open_unread(
        paths: HomePaths,
        changes: Option<Arc<tokio::sync::Notify>>,
        keyring_settings: KeyringSettings,
    ) -> Self {
        let (events, _) = broadcast::channel(64);
        let empty = Snapshot::new(Default::default(), Ok(None), None);
        Self {
            paths,
            snapshot: RwLock::new(Arc::new(empty)),
            generation: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            reload_lock: std::sync::Mutex::new(()),
            events,
            issuers: Default::default(),
            changes,
            vault: Vault::default(),
            keyring_settings,
            opening: std::sync::Mutex::new(()),
            open: AtomicBool::new(false),
            last_used_ms: AtomicU64::new(crate::clock::now_ms()),
            pinned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            repair_pending: AtomicBool::new(false),
            reload_queued: AtomicBool::new(false),
        }
    }

    /// Runs `open` the first time only; later callers wait until it has run. The registry opens
    /// a home this way outside its own lock, so a slow home delays only its own requests.
    pub fn open_once(&self, open: impl FnOnce()) {
        if self.is_open() {
            return;
        }
        let _one = self.opening.lock().unwrap_or_else(|e| e.into_inner());
        if !self.is_open() {
            open();
            self.open.store(true, Ordering::Release);
        }
    }

    /// Read and watched: ready to answer from memory.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    pub fn touch(&self) {
        // Every request touches its home.
        crate::clock::advance(&self.last_used_ms, crate::clock::now_ms());
    }

    pub fn last_used(&self) -> u64 {
        self.last_used_ms.load(Ordering::Relaxed)
    }

    /// Keeps this home open past the registry's cap (the daemon's own default home).
    pub fn pin(&self) {
        self.pinned.store(true, Ordering::Relaxed);
    }

    /// May the registry close this home? Not while it is being opened, pinned, or watched by a
    /// `Watch` stream.
    pub fn closable(&self) -> bool {
        self.is_open() && !self.pinned.load(Ordering::Relaxed) && self.events.receiver_count() == 0
    }

    /// Taken out of the registry: the watcher leaves it alone from now on.
    pub fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Closed by the registry: no longer served, watched or refreshed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Keyring access for this home (blocking calls: from the blocking pool only).
    pub fn keyring(&self) -> Keyring<'_> {
        self.vault.keyring(&self.paths, self.keyring_settings)
    }

    /// The files as last seen. No disk access.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HomeEvent> {
        self.events.subscribe()
    }

    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// Re-reads the files; publishes what changed. Blocking. Returns whether anything did.
    ///
    /// Reading only: nothing here writes a file, so a request that happens to reload between
    /// two steps of another program's change (the two unlinks of `hf auth logout`) can never
    /// undo it. Repairs are [`Home::schedule_repair`]'s, off the request path and after a pause.
    pub fn reload(&self) -> bool {
        // One reload at a time: a read that started later publishes later, so an older read
        // can never overwrite a newer one (a client's acknowledged write would vanish).
        let _one = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let changed = self.reload_files();
        self.follow_keyring_active();
        changed
    }

    /// In keyring mode, what another program left that only a write can mend: a token file
    /// deleted while its keyring section stays (written again from the keyring, see
    /// [`Home::restore_active`]); without the mirror, a token file holding a keyring-held token
    /// (replaced by its name, see [`Home::unmirror`]). Checked now, done [`REPAIR_DELAY`] later
    /// and only if still wanted then (re-checked under the lock), so the other program's change
    /// is whole first. Blocking when there is no runtime (unit tests).
    pub fn schedule_repair(self: &Arc<Self>) {
        if !self.needs_repair() || self.repair_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let home = self.clone();
        let repair = move || {
            home.repair_pending.store(false, Ordering::Release);
            let _one = home.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
            home.reload_files();
            home.follow_keyring_active();
            let rewritten =
                if home.keyring_settings.mirror_token_file { home.restore_active() } else { home.unmirror() };
            if rewritten {
                home.reload_files();
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(async move {
                tokio::time::sleep(REPAIR_DELAY).await;
                let _ = tokio::task::spawn_blocking(repair).await;
            })),
            Err(_) => repair(),
        }
    }

    /// Reloads for the watcher: at most one queued per home (it will read whatever changed
    /// before it starts), then schedules a repair if one is wanted. Blocking.
    pub fn reload_queued(self: &Arc<Self>) -> Option<impl FnOnce() + Send + 'static> {
        if self.reload_queued.swap(true, Ordering::AcqRel) {
            return None;
        }
        let home = self.clone();
        Some(move || {
            home.reload_queued.store(false, Ordering::Release);
            if home.reload() {
                tracing::debug!(home = %home.paths.token.display(), "home changed on disk");
            }
            home.schedule_repair();
        })
    }

    /// Would [`Home::restore_active`] or [`Home::unmirror`] write something, as things stand?
    fn needs_repair(&self) -> bool {
        let snapshot = self.snapshot();
        let file = &snapshot.stored.file;
        match (&snapshot.active, self.keyring_settings.mirror_token_file) {
            (Ok(None), true) => self.vault.last_active().is_some_and(|(n, _)| keyring_held(file, &n)),
            (Ok(Some(token)), false) => {
                snapshot.keyring_active.is_none() && self.vault.name_of(token).is_some_and(|n| keyring_held(file, &n))
            }
            _ => false,
        }
    }

    /// Remembers which keyring token is active (memory only), so a token file deleted later can
    /// be restored: the keyring token last seen in the token file.
    fn follow_keyring_active(&self) {
        let snapshot = self.snapshot();
        if let Ok(Some(token)) = &snapshot.active
            && self.keyring_settings.mirror_token_file
        {
            let name = self.vault.name_of(token).filter(|n| keyring_held(&snapshot.stored.file, n));
            self.vault.set_last_active(name.map(|n| (n, token.clone())));
        }
    }

    /// Without the mirror: a token file holding a keyring-held token (the mirror written before
    /// `mirror_token_file` was turned off) is replaced by the token's name, so no secret stays
    /// on disk. Known once the keyring's secrets are read (a home's first use reads them).
    fn unmirror(&self) -> bool {
        let snapshot = self.snapshot();
        let Ok(Some(token)) = &snapshot.active else { return false };
        if snapshot.keyring_active.is_some() {
            return false;
        }
        let Some(name) = self.vault.name_of(token).filter(|n| keyring_held(&snapshot.stored.file, n)) else {
            return false;
        };
        self.rewrite_active(
            &format!("replaced the token file by the name of `{name}` (mirror_token_file = false)"),
            |edit| {
                (edit.active.as_ref() == Some(token) && keyring_held(edit.stored, &name))
                    .then(|| ActiveChange::Name(name.clone()))
            },
        )
    }

    /// When the token file is gone but the section of the keyring token last active is still
    /// there, writes the token file again (under the lock, re-checked there). Our own logouts remove the section in the same locked write that deletes
    /// the token file, so they are never undone. Returns whether it wrote the file.
    fn restore_active(&self) -> bool {
        let snapshot = self.snapshot();
        if !matches!(snapshot.active, Ok(None)) {
            return false;
        }
        let last = self.vault.last_active().filter(|(n, _)| keyring_held(&snapshot.stored.file, n));
        let Some((name, token)) = last else { return false };
        let done = format!("token file deleted by another program; restored `{name}` from the keyring");
        self.rewrite_active(&done, |edit| {
            (edit.active.is_none() && keyring_held(edit.stored, &name)).then(|| ActiveChange::Write(token.clone()))
        })
    }

    /// Changes the token file under the lock if `wanted` still asks for it there (the files may
    /// have moved on since the snapshot). Returns whether it did; logs it as `done`.
    fn rewrite_active(&self, done: &str, wanted: impl FnOnce(&disk::Edit<'_>) -> Option<ActiveChange>) -> bool {
        let result = disk::update(&self.paths, |edit| {
            let change = wanted(edit);
            let rewrite = change.is_some();
            edit.change = change.unwrap_or_default();
            Ok::<_, disk::StoreError>(rewrite)
        });
        match result {
            Ok((rewrite, _)) => {
                if rewrite {
                    tracing::info!(home = %self.paths.token.display(), "{done}");
                }
                rewrite
            }
            Err(e) => {
                tracing::warn!(home = %self.paths.token.display(), error = %e, "could not do this: {done}");
                false
            }
        }
    }

    /// The name of the stored token equal to `token`: a file section's `hf_token`, else a keyring
    /// section whose secret has been read.
    pub fn name_of(&self, snapshot: &Snapshot, token: &Token) -> Option<String> {
        crate::resolve::name_of(snapshot, token)
            .or_else(|| self.vault.name_of(token).filter(|n| keyring_held(&snapshot.stored.file, n)))
    }

    fn reload_files(&self) -> bool {
        self.dirty.store(false, Ordering::Release);
        let mut fresh = disk::read(&self.paths);
        self.fill_keyring_active(&mut fresh);
        let mut guard = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        let active_changed = guard.active != fresh.active || guard.keyring_active != fresh.keyring_active;
        let stored_changed = guard.stored != fresh.stored;
        if !active_changed && !stored_changed {
            return false;
        }
        if stored_changed {
            self.issuers.learn(&fresh.stored.file);
        }
        *guard = Arc::new(fresh);
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        drop(guard);
        if let Some(changes) = &self.changes {
            changes.notify_one();
        }
        // Sending fails only when nobody watches; that is fine.
        if active_changed {
            let _ = self.events.send(HomeEvent { kind: ChangeKind::Active, generation });
        }
        if stored_changed {
            let _ = self.events.send(HomeEvent { kind: ChangeKind::Stored, generation });
        }
        true
    }

    /// Without the mirror, the active token is the keyring secret named by the active-name file
    /// (read once, then from memory). A name whose section is gone or no longer keyring-held
    /// means nobody is active; a keyring that cannot answer is the active token's error, and the
    /// home stays dirty so the next request asks the keyring again (it may be unlocked by then).
    fn fill_keyring_active(&self, fresh: &mut Snapshot) {
        let Some(name) = &fresh.keyring_active else { return };
        if !keyring_held(&fresh.stored.file, name) {
            fresh.keyring_active = None;
            return;
        }
        fresh.active = match self.keyring().get(name) {
            Ok(token) => Ok(Some(token)),
            Err(e) => {
                self.mark_dirty();
                Err(e.to_string())
            }
        };
    }

    /// Records that a client of `endpoint` (with its OAuth client id) uses this home.
    /// A new one wakes the refresher: a section may now have somewhere to go.
    pub fn note_client(&self, endpoint: &str, client_id: &str) {
        if self.issuers.note_client(endpoint, client_id)
            && let Some(changes) = &self.changes
        {
            changes.notify_one();
        }
    }

    /// The endpoint that issued a section of this home, if known.
    pub fn issuer_of(&self, section: &crate::store::ini::Section) -> Option<crate::store::origin::Origin> {
        self.issuers.issuer_of(section)
    }

    /// The directories whose entries make up this home (one, except in staging mode).
    pub fn dirs(&self) -> Vec<std::path::PathBuf> {
        let mut dirs: Vec<_> = [&self.paths.token, &self.paths.stored_tokens]
            .iter()
            .filter_map(|p| p.parent().map(|d| d.to_path_buf()))
            .collect();
        dirs.dedup();
        dirs
    }
}

/// Is `name` a section of `stored` whose secret is in the keyring?
fn keyring_held(stored: &IniFile, name: &str) -> bool {
    stored.get(name).is_some_and(is_keyring_section)
}
