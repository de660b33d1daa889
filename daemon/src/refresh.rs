//! Proactive OAuth refresh: every stored section with `refresh_token` and `expires_at`, in every
//! home the daemon serves, is refreshed once it is inside the margin (a day, as huggingface_hub),
//! before any program needs it — including readers that cannot refresh, like `hf-hub` or a
//! script reading the token file.
//!
//! A refresh is huggingface_hub's, step for step, under its lock: re-read, adopt a refresh
//! another process already made, `POST /oauth/token`, rewrite the section (keeping the old
//! refresh token when the Hub does not rotate it), and rewrite the token file only if it still
//! holds the old access token. `invalid_grant` stops retrying that refresh token (the user must
//! log in again); other failures retry with backoff while the current token keeps being served.
//!
//! A keyring-held OAuth token (storage = "keyring") is refreshed the same way, its access and
//! refresh tokens read from and written back to its one keyring entry, and its section's
//! `expires_at` updated; huggingface_hub cannot refresh those (they have no `hf_token`), so the
//! daemon is the only refresher.
//!
//! A refresh goes only to the endpoint that issued the token, with the OAuth client id it was
//! issued to (its section's record), never to wherever the last client pointed; a section with
//! no known issuer follows the rule in `crate::issuer`, and a section with nowhere to go is not
//! scheduled at all (`list` shows no refresh).

use crate::home::Home;
use crate::issuer::{self, Target};
use crate::state::Daemon;
use crate::store::disk::{self, ActiveChange, token_section};
use crate::store::ini::Section;
use crate::store::keyring::{self, Secret};
use crate::store::origin::Origin;
use hf_auth_proto::Token;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Longest single sleep: after a suspend the monotonic clock lags the wall clock, so the loop
/// re-checks wall-clock deadlines at least this often.
const MAX_SLEEP: Duration = Duration::from_secs(600);
const FIRST_RETRY_SECS: i64 = 30;
/// Never refresh one section twice within this (huggingface_hub's recheck interval).
const MIN_SPACING_SECS: i64 = 300;
const MAX_RETRY_SECS: i64 = 3600;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Track {
    /// The last attempt failed for a reason that may pass; try again at `next_at`.
    Retrying { section_key: u64, attempts: u32, next_at: i64, error: String },
    /// `invalid_grant`: this refresh token is dead; only a new login helps.
    NeedsLogin { section_key: u64, error: String },
    /// Refreshed (by us, or by another process we adopted from) at `at`. With the lifetime the
    /// Hub gave, a token living less than the margin is refreshed at half-life, not in a loop.
    Refreshed { section_key: u64, at: i64, lifetime: Option<i64> },
}

/// What `list` and `status` show for one OAuth section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    Scheduled { at: i64 },
    Retrying { at: i64 },
    NeedsLogin,
}

#[derive(Debug)]
pub struct Refresher {
    tracks: Mutex<HashMap<(PathBuf, String), Track>>,
    kick: Notify,
    /// Where sections without a known issuer may be refreshed (`Config::default_endpoint`).
    default_endpoint: String,
}

/// One refreshable section, as stored.
struct Candidate {
    name: String,
    in_keyring: bool,
    /// What identifies this version of the section: its `hf_token` in the file, its `expires_at`
    /// for a keyring section. Changed under us means someone else refreshed it.
    stamp: String,
    section_key: u64,
    expires_at: i64,
    /// Where its refresh goes.
    target: Target,
    /// The record the section carried when planned (re-checked under the lock).
    record: Option<Origin>,
    /// Its issuer, recorded or remembered: written into the refreshed section.
    issuer: Option<Origin>,
}

fn stamp_key(stamp: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    stamp.hash(&mut h);
    h.finish()
}

/// What a section's refresh state is keyed on, so that a new login or another process's refresh
/// ends a `NeedsLogin` or `Retrying` track: its `expires_at`, which every login and refresh sets
/// anew. The same in the file and in the keyring, so a migration keeps the track. `None`: the
/// section is not refreshable (no expiry; in the file, no refresh token).
fn section_key(s: &Section) -> Option<u64> {
    let expires_at = s.get("expires_at")?;
    let refreshable = keyring::is_keyring_section(s) || s.get("refresh_token").is_some_and(|r| !r.is_empty());
    refreshable.then(|| stamp_key(expires_at))
}

/// A section's key when it can be refreshed: not a keyring secret known to have no refresh token.
fn refreshable_key(home: &Home, s: &Section) -> Option<u64> {
    let no_refresh = keyring::is_keyring_section(s)
        && home.vault.cached_secret(&s.name).is_some_and(|secret| secret.refresh.is_none());
    if no_refresh { None } else { section_key(s) }
}

fn candidates(home: &Home, default_endpoint: &str) -> Vec<Candidate> {
    let clients = home.issuers.clients();
    home.snapshot()
        .stored
        .file
        .sections
        .iter()
        .filter_map(|s| {
            let in_keyring = keyring::is_keyring_section(s);
            let stamp = if in_keyring { s.get("expires_at")? } else { s.get("hf_token")? };
            let issuer = home.issuer_of(s);
            Some(Candidate {
                name: s.name.clone(),
                in_keyring,
                stamp: stamp.to_owned(),
                section_key: refreshable_key(home, s)?,
                expires_at: s.get("expires_at")?.trim().parse().ok()?,
                target: issuer::refresh_target(issuer.as_ref(), &clients, default_endpoint)?,
                record: Origin::of(s),
                issuer,
            })
        })
        .collect()
}

impl Refresher {
    pub fn new(default_endpoint: &str) -> Self {
        Self { tracks: Mutex::default(), kick: Notify::new(), default_endpoint: default_endpoint.to_owned() }
    }

    /// Re-plans at once (a login stored a new OAuth token, a home changed).
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    fn track(&self, home: &Home, name: &str) -> Option<Track> {
        lock(&self.tracks).get(&(home.paths.token.clone(), name.to_owned())).cloned()
    }

    fn set_track(&self, home: &Home, name: &str, track: Option<Track>) {
        let key = (home.paths.token.clone(), name.to_owned());
        let mut tracks = lock(&self.tracks);
        match track {
            Some(t) => tracks.insert(key, t),
            None => tracks.remove(&key),
        };
    }

    /// The plan for a stored section; `None` when it is not refreshable, or has nowhere to go.
    pub fn plan(&self, home: &Home, section: &Section, margin: i64) -> Option<Plan> {
        let key = refreshable_key(home, section)?;
        issuer::refresh_target(home.issuer_of(section).as_ref(), &home.issuers.clients(), &self.default_endpoint)?;
        let expires_at: i64 = section.get("expires_at")?.trim().parse().ok()?;
        Some(match self.due(home, &section.name, key, expires_at, margin) {
            None => Plan::NeedsLogin,
            Some((at, true)) => Plan::Retrying { at },
            Some((at, false)) => Plan::Scheduled { at },
        })
    }

    /// When a section is next due, and whether that is a retry; `None`: never (needs login).
    fn due(&self, home: &Home, name: &str, key: u64, expires_at: i64, margin: i64) -> Option<(i64, bool)> {
        match self.track(home, name) {
            Some(Track::NeedsLogin { section_key, .. }) if section_key == key => None,
            Some(Track::Retrying { section_key, next_at, .. }) if section_key == key => Some((next_at, true)),
            Some(Track::Refreshed { section_key, at, lifetime }) if section_key == key => {
                // expires_at comes from the file, whatever it holds: saturate, never overflow.
                let margin = lifetime.map_or(margin, |l| margin.min(l / 2));
                Some((expires_at.saturating_sub(margin).max(at.saturating_add(MIN_SPACING_SECS)), false))
            }
            _ => Some((expires_at.saturating_sub(margin), false)),
        }
    }

    /// The daemon's refresh loop; ends when the daemon stops.
    pub async fn run(daemon: Arc<Daemon>) {
        let stopping = daemon.stopping();
        tokio::pin!(stopping);
        let changes = daemon.homes.changes();
        loop {
            let next = daemon.refresher.pass(&daemon).await;
            let sleep = match next {
                Some(at) => Duration::from_secs((at - unix_now()).max(1) as u64).min(MAX_SLEEP),
                // Nothing to refresh: sleep until something changes, without waking up.
                None => Duration::MAX,
            };
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = daemon.refresher.kick.notified() => {}
                () = changes.notified() => {}
                () = &mut stopping => return,
            }
        }
    }

    /// Refreshes what is due; returns the next wall-clock time anything will be.
    async fn pass(&self, daemon: &Arc<Daemon>) -> Option<i64> {
        let margin = daemon.config.refresh_margin_secs as i64;
        let mut next: Option<i64> = None;
        let homes = daemon.homes.all();
        // Homes the registry closed are forgotten here too, so tracks stay as bounded as homes.
        let open: std::collections::HashSet<&PathBuf> = homes.iter().map(|h| &h.paths.token).collect();
        lock(&self.tracks).retain(|(token_path, _), _| open.contains(token_path));
        for home in homes {
            for c in candidates(&home, &self.default_endpoint) {
                let Some((due, _)) = self.due(&home, &c.name, c.section_key, c.expires_at, margin) else { continue };
                if due > unix_now() {
                    next = Some(next.map_or(due, |n| n.min(due)));
                    continue;
                }
                let outcome = refresh(daemon, &home, &c).await;
                if let Some(retry_at) = self.record(&home, &c, outcome) {
                    next = Some(next.map_or(retry_at, |n| n.min(retry_at)));
                }
            }
        }
        next
    }

    /// Remembers an outcome; returns when to try again, if ever.
    fn record(&self, home: &Home, c: &Candidate, outcome: Outcome) -> Option<i64> {
        match outcome {
            Outcome::Refreshed { section_key, lifetime } => {
                self.set_track(home, &c.name, Some(Track::Refreshed { section_key, at: unix_now(), lifetime }));
                None
            }
            Outcome::Adopted { section_key } => {
                self.set_track(home, &c.name, Some(Track::Refreshed { section_key, at: unix_now(), lifetime: None }));
                None
            }
            Outcome::Gone => {
                self.set_track(home, &c.name, None);
                None
            }
            Outcome::InvalidGrant(error) => {
                tracing::warn!(name = %c.name, %error, "OAuth token could not be refreshed (session expired or revoked); run `hf-auth login`");
                self.set_track(home, &c.name, Some(Track::NeedsLogin { section_key: c.section_key, error }));
                None
            }
            Outcome::Failed(error) => {
                let attempts = match self.track(home, &c.name) {
                    Some(Track::Retrying { section_key, attempts, .. }) if section_key == c.section_key => attempts + 1,
                    _ => 1,
                };
                let delay = (FIRST_RETRY_SECS << (attempts - 1).min(10)).min(MAX_RETRY_SECS);
                let next_at = unix_now() + delay;
                tracing::warn!(name = %c.name, %error, attempts, retry_in_secs = delay, "could not refresh OAuth token; will retry");
                self.set_track(
                    home,
                    &c.name,
                    Some(Track::Retrying { section_key: c.section_key, attempts, next_at, error }),
                );
                Some(next_at)
            }
        }
    }
}

#[derive(Debug)]
enum Outcome {
    /// Refreshed; the (possibly rotated) refresh token's key and the new token's lifetime.
    Refreshed {
        section_key: u64,
        lifetime: Option<i64>,
    },
    /// Another process (huggingface_hub) refreshed it first; we adopt its result.
    Adopted {
        section_key: u64,
    },
    /// The section is gone or no longer due.
    Gone,
    InvalidGrant(String),
    Failed(String),
}

async fn refresh(daemon: &Arc<Daemon>, home: &Arc<Home>, c: &Candidate) -> Outcome {
    let Target { endpoint, client_id } = c.target.clone();
    let (daemon2, home2) = (daemon.clone(), home.clone());
    let (name, planned, in_keyring) = (c.name.clone(), c.stamp.clone(), c.in_keyring);
    let (record, issuer) = (c.record.clone(), c.issuer.clone());
    let margin = daemon.config.refresh_margin_secs as i64;
    let runtime = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        let kr = home2.keyring();
        // The network call happens inside the lock, as in huggingface_hub, so that of several
        // processes racing on one expiring token exactly one asks the Hub.
        let r = disk::update(&home2.paths, |edit| {
            let Some(section) = edit.stored.get(&name).cloned() else {
                return Ok::<_, disk::StoreError>(Outcome::Gone);
            };
            if keyring::is_keyring_section(&section) != in_keyring || Origin::of(&section) != record {
                // Migrated, or logged in again elsewhere, meanwhile: planned again from the new form.
                return Ok(Outcome::Gone);
            }
            let stamp = if in_keyring { section.get("expires_at") } else { section.get("hf_token") };
            if stamp != Some(planned.as_str()) {
                return Ok(Outcome::Adopted { section_key: section_key(&section).unwrap_or_default() });
            }
            let Some(expires_at) = section.get("expires_at").and_then(|e| e.trim().parse::<i64>().ok()) else {
                return Ok(Outcome::Gone);
            };
            if expires_at.saturating_sub(margin) > unix_now() {
                return Ok(Outcome::Gone);
            }
            let (old, rt) = if in_keyring {
                match kr.get_secret(&name) {
                    Ok(Secret { token, refresh: Some(rt) }) => (Some(token), rt.expose().to_owned()),
                    Ok(_) => return Ok(Outcome::Gone),
                    Err(e) => return Ok(Outcome::Failed(e.to_string())),
                }
            } else {
                let Some(rt) = section.get("refresh_token") else { return Ok(Outcome::Gone) };
                (Token::clean(&planned), rt.to_owned())
            };
            let answer = runtime.block_on(daemon2.hub.refresh_token(&endpoint, &client_id, &rt));
            let token = match answer {
                Ok(t) => t,
                Err(crate::hub::oauth::RefreshError::InvalidGrant { error, description }) => {
                    return Ok(Outcome::InvalidGrant(format!("{error} - {description}")));
                }
                Err(e) => return Ok(Outcome::Failed(e.to_string())),
            };
            let new = Token::new(token.access_token);
            let new_rt = token.refresh_token.unwrap_or(rt);
            let expires_at = token.expires_in.map(|s| unix_now().saturating_add(s));
            let refreshed = if in_keyring {
                let secret = Secret { token: new.clone(), refresh: Some(Token::new(new_rt.clone())) };
                if let Err(e) = kr.put(&name, &secret) {
                    // The Hub may have rotated the refresh token: say so loudly.
                    tracing::error!(%name, error = %e, "the token was refreshed but the keyring could not store it");
                    return Ok(Outcome::Failed(e.to_string()));
                }
                keyring::section(&name, expires_at)
            } else {
                token_section(&name, &new, Some(&new_rt), expires_at)
            };
            // The record stays (or comes back, when huggingface_hub's refresh dropped it); a
            // section that never had one stays as huggingface_hub writes it.
            let refreshed = Origin::apply(issuer.as_ref(), refreshed);
            let key = section_key(&refreshed).unwrap_or_default();
            edit.stored.upsert(refreshed);
            edit.stored_changed();
            if edit.active.is_some() && edit.active == old {
                edit.change = ActiveChange::Write(new.clone());
            }
            if let Some(old) = &old {
                daemon2.whoami.invalidate(&endpoint, old);
            }
            Ok(Outcome::Refreshed { section_key: key, lifetime: token.expires_in })
        });
        home2.reload();
        r
    })
    .await;
    match result {
        Ok(Ok((outcome, _))) => {
            if matches!(outcome, Outcome::Refreshed { .. }) {
                tracing::info!(name = %c.name, "access token refreshed");
            }
            outcome
        }
        Ok(Err(e)) => Outcome::Failed(e.to_string()),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}
