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
}

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
        let empty = Snapshot { stored: Default::default(), active: Ok(None), keyring_active: None };
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
        }
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
    /// In keyring mode a token file deleted by another program (its keyring section still there)
    /// is written again from the keyring's secret (see [`Home::restore_active`]); without the
    /// mirror, a token file holding a keyring-held token is replaced by its name (see
    /// [`Home::unmirror`]).
    pub fn reload(&self) -> bool {
        // One reload at a time: a read that started later publishes later, so an older read
        // can never overwrite a newer one (a client's acknowledged write would vanish).
        let _one = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let changed = self.reload_files();
        let rewritten = if self.keyring_settings.mirror_token_file { self.restore_active() } else { self.unmirror() };
        if rewritten {
            self.reload_files();
        }
        changed
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

    /// Follows which keyring token is active; when the token file is gone but the section of the
    /// keyring token last active is still there, writes the token file again (under the lock,
    /// re-checked there). Our own logouts remove the section in the same locked write that deletes
    /// the token file, so they are never undone. Returns whether it wrote the file.
    fn restore_active(&self) -> bool {
        let snapshot = self.snapshot();
        match &snapshot.active {
            Ok(Some(token)) => {
                let name = self.vault.name_of(token).filter(|n| keyring_held(&snapshot.stored.file, n));
                self.vault.set_last_active(name.map(|n| (n, token.clone())));
                false
            }
            Ok(None) => {
                let last = self.vault.last_active().filter(|(n, _)| keyring_held(&snapshot.stored.file, n));
                let Some((name, token)) = last else { return false };
                let done = format!("token file deleted by another program; restored `{name}` from the keyring");
                self.rewrite_active(&done, |edit| {
                    (edit.active.is_none() && keyring_held(edit.stored, &name))
                        .then(|| ActiveChange::Write(token.clone()))
                })
            }
            Err(_) => false,
        }
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
