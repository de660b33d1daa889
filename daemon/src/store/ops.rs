//! huggingface_hub's token operations on one home, each one read-modify-write under the lock:
//! `_save_token`, `_set_active_token`, `_logout_from_token`, logout-all and `auth_switch`.

use super::disk::{self, ActiveChange, Outcome, StoreError};
use super::ini::{self, Section};
use hf_auth_proto::{HomePaths, Token};

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// huggingface_hub's wording.
    #[error("Access token {name} not found in {}", .stored.display())]
    NotFound { name: String, stored: std::path::PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
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
pub fn activate(paths: &HomePaths, name: &str) -> Result<Token, OpError> {
    let (token, _) = disk::update(paths, |edit| {
        let token = disk::token_by_name(edit.stored, name).ok_or_else(|| not_found(name, paths))?;
        edit.change = ActiveChange::Write(token.clone());
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
}

/// `_logout_from_token`: removes the section; deletes the token file when the section's raw
/// token is the active one. A missing name is an error (Python silently succeeds).
pub fn logout_one(paths: &HomePaths, name: &str) -> Result<Removed, OpError> {
    let (removed, _) = disk::update(paths, |edit| {
        let section = edit.stored.remove(name).ok_or_else(|| not_found(name, paths))?;
        edit.stored_changed();
        let raw = section.get("hf_token").map(Token::new);
        let active_deleted = raw.is_some() && raw == edit.active;
        if active_deleted {
            edit.change = ActiveChange::Delete;
        }
        Ok::<_, OpError>(Removed { tokens: raw.into_iter().collect(), active_deleted })
    })?;
    Ok(removed)
}

/// Logout of everything: both files deleted (the directory stays).
pub fn logout_all(paths: &HomePaths) -> Result<Removed, OpError> {
    let (removed, _) = disk::update(paths, |edit| {
        let mut tokens: Vec<Token> =
            edit.stored.sections.iter().filter_map(|s| s.get("hf_token").map(Token::new)).collect();
        tokens.extend(edit.active.clone());
        let active_deleted = edit.active.is_some();
        edit.delete_stored();
        edit.change = ActiveChange::Delete;
        Ok::<_, OpError>(Removed { tokens, active_deleted })
    })?;
    Ok(removed)
}
