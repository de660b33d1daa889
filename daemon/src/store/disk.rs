//! One home's two files as they are on disk: reading them with huggingface_hub's semantics and
//! changing them under its lock.
//!
//! Every read-modify-write of `stored_tokens` holds `flock(LOCK_EX)` on `stored_tokens.lock`
//! (the lock huggingface_hub takes for OAuth refresh) and re-reads the file inside the lock, so
//! neither program loses the other's sections. A file we cannot parse is never overwritten
//! silently: it is backed up beside itself first, and the outcome says where.

use super::ini::{self, IniFile, Section};
use super::legacy_json;
use crate::secure_fs::{self, FsError};
use hf_auth_proto::{HomePaths, Token};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// huggingface_hub's filelock timeout.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path} could not be read ({reason}); it was left untouched")]
    StoredUnreadable { path: PathBuf, reason: String },
    #[error(transparent)]
    Name(#[from] ini::NameError),
}

/// Why `stored_tokens` could not be taken at face value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredProblem {
    /// Not configparser-readable; huggingface_hub reads it as empty. The message never quotes values.
    Corrupt(String),
    /// The JSON layout another CLI (hfrs) writes at the same path; its tokens were imported.
    ForeignJson,
    /// Not a file we can read at all (directory, FIFO, another user's, too large).
    Unreadable(String),
}

impl std::fmt::Display for StoredProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Corrupt(why) => write!(
                f,
                "stored_tokens could not be parsed ({why}); its tokens are not listed. It is left as it is, and \
                 backed up beside itself before anything rewrites it."
            ),
            Self::ForeignJson => f.write_str(
                "stored_tokens is in another tool's JSON layout; its tokens are listed, and the next write backs \
                 it up and rewrites it in huggingface_hub's format.",
            ),
            Self::Unreadable(why) => write!(f, "stored_tokens cannot be read ({why}); nothing will be written to it."),
        }
    }
}

/// `stored_tokens` as read: the sections we could read, and what was wrong, if anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    pub file: IniFile,
    pub problem: Option<StoredProblem>,
}

/// Both files of a home as read at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub stored: Arc<Stored>,
    /// The active token: the cleaned token file, or (see `keyring_active`) a keyring secret; an
    /// error text when it cannot be read.
    pub active: Result<Option<Token>, String>,
    /// With no token file, the name in the active-name file ([`HomePaths::active_name_file`]):
    /// keyring storage without the mirror. The home fills `active` from the keyring.
    pub keyring_active: Option<String>,
    /// The whoami cache's key for `active` at the endpoint that asked first.
    pub active_owner_key: crate::hub::cache::KeyMemo,
}

impl Snapshot {
    pub fn new(stored: Arc<Stored>, active: Result<Option<Token>, String>, keyring_active: Option<String>) -> Self {
        Self { stored, active, keyring_active, active_owner_key: Default::default() }
    }
}

impl PartialEq for Snapshot {
    fn eq(&self, other: &Self) -> bool {
        self.stored == other.stored && self.active == other.active && self.keyring_active == other.keyring_active
    }
}

/// Reads both files. Never fails: problems are part of the answer.
pub fn read(paths: &HomePaths) -> Snapshot {
    // Under a shared lock when writers use one: both files from one moment, never the old
    // stored_tokens with the new token file. A writer holding it too long only costs consistency.
    let _shared = secure_fs::lock_shared_if_exists(&paths.lock_file(), Duration::from_secs(2));
    let active = read_active(paths);
    let keyring_active = if matches!(active, Ok(None)) { read_active_name(paths) } else { None };
    Snapshot::new(Arc::new(read_stored(paths).0), active, keyring_active)
}

/// The active-name file's name, exactly as written; absent, unreadable or empty → none.
fn read_active_name(paths: &HomePaths) -> Option<String> {
    secure_fs::read_text(&paths.active_name_file()).ok().flatten().filter(|n| !n.is_empty())
}

fn read_active(paths: &HomePaths) -> Result<Option<Token>, String> {
    match secure_fs::read_text(&paths.token) {
        Ok(text) => Ok(text.as_deref().and_then(Token::clean)),
        Err(e) => Err(e.to_string()),
    }
}

/// The parsed file plus the raw bytes when they must be backed up before any rewrite.
fn read_stored(paths: &HomePaths) -> (Stored, Option<Vec<u8>>) {
    let bytes = match secure_fs::read_small(&paths.stored_tokens) {
        Ok(None) => return (Stored::default(), None),
        Ok(Some(b)) => b,
        Err(e) => {
            return (
                Stored { file: IniFile::default(), problem: Some(StoredProblem::Unreadable(e.to_string())) },
                None,
            );
        }
    };
    match ini::parse_noting_defaults(&bytes) {
        // A hand-written [DEFAULT] is not written back (`ini::parse_noting_defaults`): keep the
        // original as a backup before any rewrite, so no token in it is lost.
        Ok((file, has_defaults)) => (Stored { file, problem: None }, has_defaults.then_some(bytes)),
        Err(parse_error) => match legacy_json::import(&bytes) {
            Some(file) => (Stored { file, problem: Some(StoredProblem::ForeignJson) }, Some(bytes)),
            None => (
                Stored { file: IniFile::default(), problem: Some(StoredProblem::Corrupt(parse_error.to_string())) },
                Some(bytes),
            ),
        },
    }
}

/// What an update does to the token file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ActiveChange {
    #[default]
    Keep,
    Write(Token),
    /// Keyring storage without the mirror: record the active token's name, delete the token file.
    Name(String),
    Delete,
}

/// What happened besides the requested change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Where an unparseable `stored_tokens` was copied before being rewritten.
    pub backup: Option<PathBuf>,
    pub stored_written: bool,
    /// Backups of `stored_tokens` a logout of everything deleted with it (they hold tokens too).
    pub removed_backups: Vec<PathBuf>,
}

/// The state an update closure sees and edits.
#[derive(Debug)]
pub struct Edit<'a> {
    pub stored: &'a mut IniFile,
    /// The token file's cleaned content before the edit.
    pub active: Option<Token>,
    /// With no token file, the active keyring token's name.
    pub active_name: Option<String>,
    pub change: ActiveChange,
    stored_dirty: bool,
    delete_stored: bool,
}

impl Edit<'_> {
    /// Marks `stored_tokens` for rewriting (the closure changed it).
    pub fn stored_changed(&mut self) {
        self.stored_dirty = true;
    }

    /// huggingface_hub's logout-all: delete `stored_tokens` rather than empty it.
    pub fn delete_stored(&mut self) {
        self.delete_stored = true;
    }
}

/// Runs one read-modify-write of a home under the lock. Blocking.
pub fn update<R, E: From<StoreError>>(
    paths: &HomePaths,
    f: impl FnOnce(&mut Edit<'_>) -> Result<R, E>,
) -> Result<(R, Outcome), E> {
    let _lock = secure_fs::lock_exclusive(&paths.lock_file(), LOCK_TIMEOUT).map_err(StoreError::from)?;
    let (stored, raw) = read_stored(paths);
    if let Some(StoredProblem::Unreadable(reason)) = &stored.problem {
        return Err(StoreError::StoredUnreadable { path: paths.stored_tokens.clone(), reason: reason.clone() }.into());
    }
    let mut file = stored.file;
    // An unreadable token file is replaced by a write, as Python's truncating write would; a
    // read-modify-write that depends on it only sees "no token".
    let active = read_active(paths).ok().flatten();
    let active_name = if active.is_none() { read_active_name(paths) } else { None };
    let mut edit = Edit {
        stored: &mut file,
        active,
        active_name,
        change: ActiveChange::Keep,
        stored_dirty: false,
        delete_stored: false,
    };
    let result = f(&mut edit)?;
    let (change, dirty, delete) = (edit.change, edit.stored_dirty, edit.delete_stored);
    let outcome = apply(paths, &file, raw, change, dirty, delete)?;
    Ok((result, outcome))
}

fn apply(
    paths: &HomePaths,
    file: &IniFile,
    raw: Option<Vec<u8>>,
    change: ActiveChange,
    dirty: bool,
    delete: bool,
) -> Result<Outcome, StoreError> {
    let mut outcome = Outcome::default();
    // Every file this update touches is checked first, so a refused one (a planted link, another
    // user's file or directory) leaves the others as they were.
    let mut targets = Vec::new();
    if dirty || delete {
        targets.push(paths.stored_tokens.clone());
    }
    if change != ActiveChange::Keep {
        targets.extend([paths.token.clone(), paths.active_name_file()]);
    }
    for target in &targets {
        secure_fs::check_target(target)?;
    }
    if delete {
        // Logout of everything: the file goes, and so do the copies earlier rewrites kept of it
        // (an unparseable file included: backing it up only to delete the backup would be moot).
        secure_fs::remove_if_exists(&paths.stored_tokens)?;
        outcome.removed_backups = secure_fs::remove_backups(&paths.stored_tokens)?;
    } else if dirty {
        if let Some(bytes) = raw {
            outcome.backup = Some(secure_fs::back_up(&paths.stored_tokens, &bytes)?);
        }
        // New names are validated where they are added (ops); names already in the file were
        // written by someone else and stay as they are, even ones we would not create.
        secure_fs::write_secret(&paths.stored_tokens, ini::render(file).as_bytes())?;
        outcome.stored_written = true;
    }
    // Each step leaves a consistent state if the next never happens: the token file, when there
    // is one, always wins over the active-name file.
    match change {
        ActiveChange::Keep => {}
        ActiveChange::Write(token) => {
            secure_fs::write_secret(&paths.token, token.expose().as_bytes())?;
            secure_fs::remove_if_exists(&paths.active_name_file())?;
        }
        ActiveChange::Name(name) => {
            secure_fs::write_secret(&paths.active_name_file(), name.as_bytes())?;
            secure_fs::remove_if_exists(&paths.token)?;
        }
        ActiveChange::Delete => {
            secure_fs::remove_if_exists(&paths.token)?;
            secure_fs::remove_if_exists(&paths.active_name_file())?;
        }
    }
    Ok(outcome)
}

/// `get_stored_tokens()[name]`, cleaned: what `switch` and `_set_active_token` use.
pub fn token_by_name(file: &IniFile, name: &str) -> Option<Token> {
    file.get(name).and_then(|s| s.get("hf_token")).and_then(Token::clean)
}

/// A section as huggingface_hub's `_save_token` writes it: `hf_token`, then `refresh_token`,
/// then `expires_at`, each only when present.
pub fn token_section(name: &str, token: &Token, refresh_token: Option<&str>, expires_at: Option<i64>) -> Section {
    let mut s = Section::new(name);
    s.set("hf_token", token.expose());
    if let Some(rt) = refresh_token {
        s.set("refresh_token", rt);
    }
    if let Some(at) = expires_at {
        s.set("expires_at", at.to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> (tempfile::TempDir, HomePaths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = HomePaths { token: dir.path().join("token"), stored_tokens: dir.path().join("stored_tokens") };
        (dir, paths)
    }

    fn change(paths: &HomePaths, change: ActiveChange) {
        update(paths, |edit| {
            edit.change = change;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    }

    #[test]
    fn the_token_file_and_the_active_name_never_both_say_who_is_active() {
        let (_dir, paths) = home();
        change(&paths, ActiveChange::Name("work".into()));
        let s = read(&paths);
        assert_eq!((s.active, s.keyring_active.as_deref()), (Ok(None), Some("work")));
        assert!(!paths.token.exists());

        change(&paths, ActiveChange::Write(Token::new("hf_x")));
        let s = read(&paths);
        assert_eq!((s.active, s.keyring_active), (Ok(Some(Token::new("hf_x"))), None));
        assert!(!paths.active_name_file().exists(), "a written token file replaces the name");

        // Another program's token file wins over a name we recorded.
        change(&paths, ActiveChange::Name("work".into()));
        std::fs::write(&paths.token, "hf_theirs").unwrap();
        let s = read(&paths);
        assert_eq!((s.active, s.keyring_active), (Ok(Some(Token::new("hf_theirs"))), None));
        update(&paths, |edit| {
            assert_eq!((edit.active.clone(), edit.active_name.clone()), (Some(Token::new("hf_theirs")), None));
            Ok::<_, StoreError>(())
        })
        .unwrap();

        change(&paths, ActiveChange::Delete);
        assert!(!paths.token.exists() && !paths.active_name_file().exists());
    }
}
