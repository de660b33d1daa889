//! huggingface_hub's token operations on one home, each one read-modify-write under the lock:
//! `_save_token`, `_set_active_token`, `_logout_from_token`, logout-all and `auth_switch`.
//!
//! Sections marked as keyring-held ([`keyring::is_keyring_section`]) get their secret from the
//! keyring (switch) and lose their keyring entry with their section (logout); everything else is
//! huggingface_hub's behaviour unchanged.

use super::disk::{self, ActiveChange, Outcome, StoreError};
use super::ini::{self, Section};
use super::keyring::{self, Keyring, KeyringError};
use hf_auth_proto::{HomePaths, Token};

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// huggingface_hub's wording.
    #[error("Access token {name} not found in {}", .stored.display())]
    NotFound { name: String, stored: std::path::PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
}

fn not_found(name: &str, paths: &HomePaths) -> OpError {
    OpError::NotFound { name: name.to_owned(), stored: paths.stored_tokens.clone() }
}

/// `_save_token` (section replaced whole) then `_set_active_token` (re-read by name, cleaned).
pub fn save_and_activate(paths: &HomePaths, section: Section) -> Result<(Token, Outcome), OpError> {
    ini::validate_name(&section.name).map_err(StoreError::from)?;
    let name = section.name.clone();
    disk::update(paths, |edit| {
        edit.stored.upsert(section);
        edit.stored_changed();
        let active = disk::token_by_name(edit.stored, &name).ok_or_else(|| not_found(&name, paths))?;
        edit.change = ActiveChange::Write(active.clone());
        Ok(active)
    })
}

/// Keyring mode's `_save_token` + `_set_active_token`: the secret is already in the keyring
/// (verified); `stored_tokens` gets the marker section (with an OAuth token's `expires_at`) and
/// the token file the token (the mirror), or the active-name file its name. `origin`: the record
/// of who issued it.
pub fn save_keyring_and_activate(
    paths: &HomePaths,
    name: &str,
    token: &Token,
    expires_at: Option<i64>,
    origin: Option<&super::origin::Origin>,
    kr: &Keyring<'_>,
) -> Result<Outcome, OpError> {
    ini::validate_name(name).map_err(StoreError::from)?;
    let section = super::origin::Origin::apply(origin, keyring::section(name, expires_at));
    let ((), outcome) = disk::update(paths, |edit| {
        edit.stored.upsert(section);
        edit.stored_changed();
        edit.change = kr.activation(name, token);
        Ok::<_, OpError>(())
    })?;
    Ok(outcome)
}

/// The secret of a section: its `hf_token`, or the keyring's for a keyring section.
fn secret_of(section: &Section, kr: &Keyring<'_>) -> Result<Option<Token>, OpError> {
    if keyring::is_keyring_section(section) {
        return Ok(Some(kr.get(&section.name)?));
    }
    Ok(section.get("hf_token").and_then(Token::clean))
}

/// `_save_token` alone: the active token is left as it is.
pub fn save(paths: &HomePaths, section: Section) -> Result<Outcome, OpError> {
    ini::validate_name(&section.name).map_err(StoreError::from)?;
    let ((), outcome) = disk::update(paths, |edit| {
        edit.stored.upsert(section);
        edit.stored_changed();
        Ok::<_, OpError>(())
    })?;
    Ok(outcome)
}

/// `auth_switch`: writes the named token to the token file; `stored_tokens` is not rewritten.
/// A keyring token is read from the keyring (bounded by its timeout, so the lock is not held
/// forever by a keyring waiting for an unlock prompt), and without the mirror only its name is
/// recorded.
pub fn activate(paths: &HomePaths, name: &str, kr: &Keyring<'_>) -> Result<Token, OpError> {
    let (token, _) = disk::update(paths, |edit| {
        let section = edit.stored.get(name).ok_or_else(|| not_found(name, paths))?;
        let token = secret_of(section, kr)?.ok_or_else(|| not_found(name, paths))?;
        edit.change = match keyring::is_keyring_section(section) {
            true => kr.activation(name, &token),
            false => ActiveChange::Write(token.clone()),
        };
        Ok::<_, OpError>(token)
    })?;
    Ok(token)
}

/// What a logout removed.
#[derive(Debug, Default)]
pub struct Removed {
    /// The tokens that were stored (and active), for cache invalidation.
    pub tokens: Vec<Token>,
    /// The token file was deleted.
    pub active_deleted: bool,
    /// Backups of `stored_tokens` deleted with it (logout of everything).
    pub removed_backups: Vec<std::path::PathBuf>,
}

/// `_logout_from_token`: removes the section; deletes the token file when the section's raw
/// token is the active one. A missing name is an error (Python silently succeeds). A keyring
/// section's entry is deleted first: when the keyring cannot be reached nothing changes.
pub fn logout_one(paths: &HomePaths, name: &str, kr: &Keyring<'_>) -> Result<Removed, OpError> {
    let (removed, _) = disk::update(paths, |edit| {
        let section = edit.stored.remove(name).ok_or_else(|| not_found(name, paths))?;
        edit.stored_changed();
        let raw = if keyring::is_keyring_section(&section) {
            let secret = match kr.get(name) {
                Ok(t) => Some(t),
                Err(KeyringError::Missing(_)) => None,
                Err(e) => return Err(e.into()),
            };
            kr.delete(name)?;
            secret
        } else {
            section.get("hf_token").map(Token::new)
        };
        let active_deleted = (raw.is_some() && raw == edit.active) || edit.active_name.as_deref() == Some(name);
        if active_deleted {
            edit.change = ActiveChange::Delete;
        }
        Ok::<_, OpError>(Removed { tokens: raw.into_iter().collect(), active_deleted, removed_backups: Vec::new() })
    })?;
    Ok(removed)
}

/// Logout of everything: both files and the backups of `stored_tokens` deleted (the directory
/// stays), every keyring entry first.
pub fn logout_all(paths: &HomePaths, kr: &Keyring<'_>) -> Result<Removed, OpError> {
    let (mut removed, outcome) = disk::update(paths, |edit| {
        let mut tokens: Vec<Token> =
            edit.stored.sections.iter().filter_map(|s| s.get("hf_token").map(Token::new)).collect();
        for section in edit.stored.sections.iter().filter(|s| keyring::is_keyring_section(s)) {
            tokens.extend(kr.vault.cached(&section.name));
            kr.delete(&section.name)?;
        }
        tokens.extend(edit.active.clone());
        let active_deleted = edit.active.is_some() || edit.active_name.is_some();
        edit.delete_stored();
        edit.change = ActiveChange::Delete;
        Ok::<_, OpError>(Removed { tokens, active_deleted, removed_backups: Vec::new() })
    })?;
    removed.removed_backups = outcome.removed_backups;
    Ok(removed)
}
