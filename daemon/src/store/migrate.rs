//! `storage migrate`: every stored token of a home moved between `stored_tokens` and the
//! keyring, one section at a time, so an interruption at any point loses nothing and a re-run
//! finishes the job.
//!
//! To the keyring, per section, under the lock: put the secret and read it back, then rewrite
//! the section without `hf_token` (the old copy) and with the marker. To the file: read the
//! secret, rewrite the section with `hf_token` (under the lock), then delete the keyring entry.
//! A re-run counts sections already moved as `already`; to the file it also deletes entries an
//! interrupted run left behind.
//!
//! OAuth sections (with a `refresh_token`) stay in the file: the refresher rewrites them in
//! place, and their refresh token is as secret as the access token, so moving only one of them
//! would be a half measure. They are counted in `left_in_file`.

use super::disk;
use super::ini::Section;
use super::keyring::{self, Keyring};
use super::ops::OpError;
use hf_auth_proto::{HomePaths, Token};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    pub moved: u32,
    pub already: u32,
    /// OAuth tokens kept in `stored_tokens` (to the keyring only).
    pub left_in_file: u32,
}

enum Step {
    Moved,
    Already,
    LeftInFile,
    Skipped,
}

/// The section as keyring mode stores it: the marker first, every non-secret field kept.
fn keyring_form(section: &Section) -> Section {
    let mut out = Section::new(&section.name);
    out.set(keyring::MARKER_KEY, keyring::MARKER_VALUE);
    for (k, v) in section.entries.iter().filter(|(k, _)| k != "hf_token" && k != keyring::MARKER_KEY) {
        out.set(k, v.clone());
    }
    out
}

/// The section as huggingface_hub writes it: `hf_token` first, then the other fields.
fn file_form(section: &Section, token: &Token) -> Section {
    let mut out = Section::new(&section.name);
    out.set("hf_token", token.expose());
    for (k, v) in section.entries.iter().filter(|(k, _)| k != "hf_token" && k != keyring::MARKER_KEY) {
        out.set(k, v.clone());
    }
    out
}

fn names(paths: &HomePaths) -> Vec<String> {
    disk::read(paths).stored.file.names().map(str::to_owned).collect()
}

fn tally(total: &mut Migrated, step: Step) {
    match step {
        Step::Moved => total.moved += 1,
        Step::Already => total.already += 1,
        Step::LeftInFile => total.left_in_file += 1,
        Step::Skipped => {}
    }
}

/// Moves every file-held secret into the keyring. Blocking.
pub fn to_keyring(paths: &HomePaths, kr: &Keyring<'_>) -> Result<Migrated, OpError> {
    let mut total = Migrated::default();
    for name in names(paths) {
        let (step, _) = disk::update(paths, |edit| {
            let Some(section) = edit.stored.get(&name).cloned() else { return Ok::<_, OpError>(Step::Skipped) };
            if keyring::is_keyring_section(&section) {
                return Ok(Step::Already);
            }
            if section.get("refresh_token").is_some() {
                return Ok(Step::LeftInFile);
            }
            let Some(raw) = section.get("hf_token") else { return Ok(Step::Skipped) };
            // The raw value, not the cleaned one: it is what the file held, byte for byte.
            kr.put(&name, &Token::new(raw))?;
            edit.stored.upsert(keyring_form(&section));
            edit.stored_changed();
            Ok(Step::Moved)
        })?;
        tally(&mut total, step);
    }
    Ok(total)
}

/// Moves every keyring-held secret back into `stored_tokens`. Blocking.
pub fn to_file(paths: &HomePaths, kr: &Keyring<'_>) -> Result<Migrated, OpError> {
    let mut total = Migrated::default();
    for name in names(paths) {
        let (step, _) = disk::update(paths, |edit| {
            let Some(section) = edit.stored.get(&name).cloned() else { return Ok::<_, OpError>(Step::Skipped) };
            if !keyring::is_keyring_section(&section) {
                return Ok(Step::Already);
            }
            let token = kr.get(&name)?;
            edit.stored.upsert(file_form(&section, &token));
            edit.stored_changed();
            Ok(Step::Moved)
        })?;
        // Only now that the file holds the secret is the keyring copy removed. For a section
        // already in the file this clears what an interrupted run left; a keyring that cannot be
        // reached then is no reason to fail a migration that has nothing left to move.
        match step {
            Step::Moved => kr.delete(&name)?,
            Step::Already => {
                if let Err(e) = kr.delete(&name) {
                    tracing::debug!(%name, error = %e, "could not check the keyring for a leftover entry");
                }
            }
            _ => {}
        }
        tally(&mut total, step);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_keep_the_non_secret_fields() {
        let mut s = Section::new("work");
        s.set("hf_token", "hf_secret");
        s.set("expires_at", "12");
        let k = keyring_form(&s);
        assert_eq!(k.entries, vec![("storage".into(), "keyring".into()), ("expires_at".into(), "12".into())]);
        assert!(keyring::is_keyring_section(&k));
        let f = file_form(&k, &Token::new("hf_secret"));
        assert_eq!(f, s);
    }
}
