//! Every access to the OS keyring (Secret Service on Linux, Keychain on macOS), and the
//! in-memory cache of the secrets read from it.
//!
//! One entry per home and token name: service `hf-auth`, user `<stored_tokens path>:<name>`,
//! e.g. `/home/me/.cache/huggingface/stored_tokens:work` (readable in Seahorse and in
//! `secret-tool search --all service hf-auth`; we never parse it back). The path is the home's
//! canonical `stored_tokens` path, so two homes never share an entry.
//!
//! In `stored_tokens` a keyring-held token keeps its section with the non-secret fields (such as
//! an OAuth token's `expires_at`) and the marker `storage = keyring` instead of `hf_token` and
//! `refresh_token` (see [`is_keyring_section`]). The entry holds the whole [`Secret`]: a plain
//! token as itself, an OAuth token with its refresh token as one small JSON object, so the two
//! always change together.
//!
//! The keyring crate's calls are blocking and, on a locked desktop, wait for an unlock prompt.
//! They run on one worker thread (see [`super::keyring_worker`]): a caller waits at most the
//! configured timeout, and fails at once while the keyring is stuck, overloaded or just failed,
//! so neither the async runtime nor the `stored_tokens` lock is held long by a hung keyring.
//! Failures are errors with a fix in the message: there is never a fallback to plain text.

use hf_auth_proto::{HomePaths, Token};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::ini::Section;
use super::keyring_worker::{Op, Worker};

/// The keyring service every entry is filed under.
pub const SERVICE: &str = "hf-auth";
/// The `stored_tokens` key marking a section whose secret is in the keyring.
pub const MARKER_KEY: &str = "storage";
pub const MARKER_VALUE: &str = "keyring";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error(
        "The OS keyring is not available: no Secret Service on the session bus (no D-Bus session?). Start \
         gnome-keyring/KWallet, or set storage = \"file\" in ~/.config/hf-auth/config.toml. ({0})"
    )]
    Unavailable(String),
    #[error("The keyring is locked; unlock it and retry. ({0})")]
    Locked(String),
    #[error(
        "The keyring did not answer within {0}s; it may be waiting for an unlock prompt. Raise \
         keyring_timeout_secs or unlock it."
    )]
    Timeout(u64),
    #[error("The keyring is busy: {0}. Try again shortly, or unlock it.")]
    Busy(String),
    #[error("The keyring failed {failures} time(s) in a row; not asking it again for {secs}s. (last error: {last})")]
    BackingOff { failures: u32, secs: u64, last: String },
    #[error("The keyring has no secret for token {0}; log in again with `hf-auth login`.")]
    Missing(String),
    #[error("The keyring returned a different secret for token {0} than was stored; nothing was changed.")]
    Mismatch(String),
    #[error("keyring error: {0}")]
    Other(String),
}

/// What one keyring entry holds: the access token and, for an OAuth token, its refresh token.
/// `Debug` shows neither (both are [`Token`]s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secret {
    pub token: Token,
    pub refresh: Option<Token>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct OAuthEntry {
    hf_token: String,
    refresh_token: String,
}

impl Secret {
    pub fn plain(token: Token) -> Self {
        Self { token, refresh: None }
    }

    /// The entry's text: the token itself, or `{"hf_token":…,"refresh_token":…}` (a Hub token
    /// never starts with `{`, so the two cannot be confused).
    fn encode(&self) -> String {
        match &self.refresh {
            None => self.token.expose().to_owned(),
            Some(rt) => serde_json::to_string(&OAuthEntry {
                hf_token: self.token.expose().to_owned(),
                refresh_token: rt.expose().to_owned(),
            })
            .unwrap_or_default(),
        }
    }

    fn decode(text: String) -> Self {
        if text.starts_with('{')
            && let Ok(e) = serde_json::from_str::<OAuthEntry>(&text)
        {
            return Self { token: Token::new(e.hf_token), refresh: Some(Token::new(e.refresh_token)) };
        }
        Self::plain(Token::new(text))
    }
}

/// A section whose secret is in the keyring: the marker, and no `hf_token` (a section Python
/// rewrote with a plain `hf_token` is a file section again).
pub fn is_keyring_section(section: &Section) -> bool {
    section.get("hf_token").is_none() && section.get(MARKER_KEY) == Some(MARKER_VALUE)
}

/// A keyring-held token's section as a login writes it: the marker, then `expires_at` if any.
pub fn section(name: &str, expires_at: Option<i64>) -> Section {
    let mut s = Section::new(name);
    s.set(MARKER_KEY, MARKER_VALUE);
    if let Some(at) = expires_at {
        s.set("expires_at", at.to_string());
    }
    s
}

/// The keyring `user` of a token of a home.
pub fn entry_user(paths: &HomePaths, name: &str) -> String {
    format!("{}:{name}", paths.stored_tokens.display())
}

/// Secrets already read from (or written to) the keyring for one home, and the keyring token
/// last seen active (restored when its token file disappears). Never logged (`Token` is redacted).
#[derive(Debug, Default)]
pub struct Vault {
    secrets: Mutex<HashMap<String, Secret>>,
    last_active: Mutex<Option<(String, Token)>>,
}

/// How the daemon uses the keyring: the bound on one call (a locked desktop keyring waits for an
/// unlock prompt), and whether activating a keyring-held token writes it to the token file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyringSettings {
    pub timeout: Duration,
    pub mirror_token_file: bool,
}

impl Default for KeyringSettings {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(5), mirror_token_file: true }
    }
}

impl Vault {
    /// Keyring access for the home at `paths` through this cache.
    pub fn keyring<'a>(&'a self, paths: &'a HomePaths, settings: KeyringSettings) -> Keyring<'a> {
        Keyring { paths, vault: self, settings }
    }

    /// The access token of `name`, if its secret has been read.
    pub fn cached(&self, name: &str) -> Option<Token> {
        lock(&self.secrets).get(name).map(|s| s.token.clone())
    }

    pub fn cached_secret(&self, name: &str) -> Option<Secret> {
        lock(&self.secrets).get(name).cloned()
    }

    pub fn remember(&self, name: &str, secret: &Secret) {
        lock(&self.secrets).insert(name.to_owned(), secret.clone());
    }

    pub fn forget(&self, name: &str) {
        lock(&self.secrets).remove(name);
        let mut last = lock(&self.last_active);
        if last.as_ref().is_some_and(|(n, _)| n == name) {
            *last = None;
        }
    }

    /// The name of a cached keyring secret equal to `token`.
    pub fn name_of(&self, token: &Token) -> Option<String> {
        lock(&self.secrets).iter().find(|(_, s)| s.token == *token).map(|(n, _)| n.clone())
    }

    pub fn last_active(&self) -> Option<(String, Token)> {
        lock(&self.last_active).clone()
    }

    pub fn set_last_active(&self, value: Option<(String, Token)>) {
        *lock(&self.last_active) = value;
    }
}

/// Keyring access for one home, bounded by the settings' timeout per call. Blocking: call it
/// from the blocking pool (or from inside a `disk::update` closure), never from async code.
#[derive(Debug, Clone, Copy)]
pub struct Keyring<'a> {
    pub paths: &'a HomePaths,
    pub vault: &'a Vault,
    pub settings: KeyringSettings,
}

impl Keyring<'_> {
    /// How activating the keyring-held token `name` changes the files: the token file gets the
    /// secret (the mirror), or only its name is recorded.
    pub fn activation(&self, name: &str, token: &Token) -> super::disk::ActiveChange {
        if self.settings.mirror_token_file {
            super::disk::ActiveChange::Write(token.clone())
        } else {
            super::disk::ActiveChange::Name(name.to_owned())
        }
    }

    /// The access token of `name`: from memory, else from the keyring.
    pub fn get(&self, name: &str) -> Result<Token, KeyringError> {
        self.get_secret(name).map(|s| s.token)
    }

    /// The whole secret of `name` (with an OAuth token's refresh token): from memory, else from
    /// the keyring.
    pub fn get_secret(&self, name: &str) -> Result<Secret, KeyringError> {
        if let Some(s) = self.vault.cached_secret(name) {
            return Ok(s);
        }
        let secret = self.read(name)?.ok_or_else(|| KeyringError::Missing(name.to_owned()))?;
        self.vault.remember(name, &secret);
        Ok(secret)
    }

    /// Stores the secret of `name`, then reads it back: a copy is only trusted once verified.
    pub fn put(&self, name: &str, secret: &Secret) -> Result<(), KeyringError> {
        let user = entry_user(self.paths, name);
        self.worker().call(&user, Op::Set(secret.encode()), self.settings.timeout)?.map_err(|e| classify(&e))?;
        match self.read(name)? {
            Some(back) if back == *secret => {
                self.vault.remember(name, secret);
                Ok(())
            }
            _ => Err(KeyringError::Mismatch(name.to_owned())),
        }
    }

    /// Deletes the entry of `name`; an entry already gone is fine.
    pub fn delete(&self, name: &str) -> Result<(), KeyringError> {
        let user = entry_user(self.paths, name);
        let result = self.worker().call(&user, Op::Delete, self.settings.timeout)?;
        self.vault.forget(name);
        match result {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(classify(&e)),
        }
    }

    /// The keyring's answer for `name`, bypassing the cache.
    fn read(&self, name: &str) -> Result<Option<Secret>, KeyringError> {
        let user = entry_user(self.paths, name);
        match self.worker().call(&user, Op::Get, self.settings.timeout)? {
            Ok(text) => Ok(text.map(Secret::decode)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(classify(&e)),
        }
    }

    fn worker(&self) -> &'static Worker {
        Worker::global()
    }
}

/// Sorts the keyring crate's errors into what the user can do about them. Its messages carry
/// no secrets (they describe the platform failure).
pub(super) fn classify(e: &keyring::Error) -> KeyringError {
    let text = match e {
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => inner.to_string(),
        other => other.to_string(),
    };
    let lower = text.to_lowercase();
    if matches!(e, keyring::Error::NoStorageAccess(_))
        || lower.contains("locked")
        || lower.contains("prompt")
        || lower.contains("dismissed")
    {
        KeyringError::Locked(text)
    } else if lower.contains("dbus")
        || lower.contains("d-bus")
        || lower.contains("secret service")
        || lower.contains("serviceunknown")
        || lower.contains("no such file")
        || lower.contains("connection refused")
    {
        KeyringError::Unavailable(text)
    } else {
        KeyringError::Other(text)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_and_markers() {
        let paths = HomePaths { token: "/h/token".into(), stored_tokens: "/h/stored_tokens".into() };
        assert_eq!(entry_user(&paths, "work"), "/h/stored_tokens:work");
        let mut s = Section::new("work");
        s.set(MARKER_KEY, MARKER_VALUE);
        assert!(is_keyring_section(&s));
        s.set("hf_token", "hf_x");
        assert!(!is_keyring_section(&s), "a plain hf_token (Python rewrote it) wins over the marker");
    }

    #[test]
    fn secrets_round_trip_and_plain_tokens_stay_plain() {
        let plain = Secret::plain(Token::new("hf_plain"));
        assert_eq!(plain.encode(), "hf_plain", "entries written before OAuth support read the same");
        assert_eq!(Secret::decode(plain.encode()), plain);
        let oauth = Secret { token: Token::new("hf_oauth_a\"b"), refresh: Some(Token::new("rt_1")) };
        assert_eq!(oauth.encode(), r#"{"hf_token":"hf_oauth_a\"b","refresh_token":"rt_1"}"#);
        assert_eq!(Secret::decode(oauth.encode()), oauth);
        assert_eq!(Secret::decode("{not json".into()), Secret::plain(Token::new("{not json")));
    }
}
