//! `storage migrate`: every stored token of a home moved between `stored_tokens` and the
//! keyring, one section at a time, so an interruption at any point loses nothing and a re-run
//! finishes the job.
//!
//! To the keyring, per section, under the lock: put the secret (an OAuth token with its refresh
//! token) and read it back, then rewrite the section without `hf_token`/`refresh_token` (the old
//! copies) and with the marker. To the file: read the secret, rewrite the section with them
//! (under the lock), then delete the keyring entry. A re-run counts sections already moved as
//! `already`; to the file it also deletes entries an interrupted run left behind.

use super::disk::{self, ActiveChange};
use super::ini::Section;
use super::keyring::{self, Keyring, Secret};
use super::ops::OpError;
use hf_auth_proto::{HomePaths, Token};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    pub moved: u32,
    pub already: u32,
}

enum Step {
    Moved,
    Already,
    Skipped,
}

/// The secret keys of a section in the file; the keyring holds them instead.
const SECRET_KEYS: [&str; 2] = ["hf_token", "refresh_token"];

fn is_carried(key: &str) -> bool {
    !SECRET_KEYS.contains(&key) && key != keyring::MARKER_KEY
}

/// The section as keyring mode stores it: the marker first, every non-secret field kept.
fn keyring_form(section: &Section) -> Section {
    let mut out = Section::new(&section.name);
    out.set(keyring::MARKER_KEY, keyring::MARKER_VALUE);
    for (k, v) in section.entries.iter().filter(|(k, _)| is_carried(k)) {
        out.set(k, v.clone());
    }
    out
}

/// The section as huggingface_hub writes it: `hf_token`, `refresh_token`, then the other fields.
fn file_form(section: &Section, secret: &Secret) -> Section {
    let mut out = Section::new(&section.name);
    out.set("hf_token", secret.token.expose());
    if let Some(rt) = &secret.refresh {
        out.set("refresh_token", rt.expose());
    }
    for (k, v) in section.entries.iter().filter(|(k, _)| is_carried(k)) {
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
            let Some(raw) = section.get("hf_token") else { return Ok(Step::Skipped) };
            // The raw values, not cleaned ones: what the file held, byte for byte.
            let secret = Secret { token: Token::new(raw), refresh: section.get("refresh_token").map(Token::new) };
            kr.put(&name, &secret)?;
            // Without the mirror, the active token leaves the token file too: only its name stays.
            if !kr.settings.mirror_token_file && edit.active.is_some() && edit.active == Token::clean(raw) {
                edit.change = ActiveChange::Name(name.clone());
            }
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
            let secret = kr.get_secret(&name)?;
            // Active by name only (no mirror): the token file holds it again, as file storage has it.
            if edit.active_name.as_deref() == Some(name.as_str())
                && let Some(token) = Token::clean(secret.token.expose())
            {
                edit.change = ActiveChange::Write(token);
            }
            edit.stored.upsert(file_form(&section, &secret));
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
        let f = file_form(&k, &Secret::plain(Token::new("hf_secret")));
        assert_eq!(f, s);
    }

    #[test]
    fn oauth_sections_move_both_secrets_and_come_back_in_python_order() {
        let mut s = Section::new("oauth-alice");
        s.set("hf_token", "hf_oauth");
        s.set("refresh_token", "rt");
        s.set("expires_at", "99");
        let k = keyring_form(&s);
        assert_eq!(k.entries, vec![("storage".into(), "keyring".into()), ("expires_at".into(), "99".into())]);
        let secret = Secret { token: Token::new("hf_oauth"), refresh: Some(Token::new("rt")) };
        assert_eq!(file_form(&k, &secret), s);
    }
}
