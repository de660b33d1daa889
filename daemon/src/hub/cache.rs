//! The whoami cache, shared by every client of the daemon.
//!
//! The Hub rate-limits `/api/whoami-v2` hard, so a thousand `whoami` calls in a minute must
//! make one request. Entries are keyed by a SHA-256 of (endpoint, token), never the token;
//! concurrent misses for one key wait for a single request (single flight). A 401 is kept only
//! briefly. When the Hub is rate-limiting or unreachable, an expired answer is served, marked stale.

use super::client::{HubClient, HubError};
use super::whoami::WhoAmI;
use hf_auth_proto::Token;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
pub const UNAUTHORIZED_TTL: Duration = Duration::from_secs(10);
/// Distinct tokens remembered at most; the oldest answer goes first.
const MAX_ENTRIES: usize = 1024;

pub type Key = [u8; 32];

/// One whoami key kept with the endpoint and token it was made from, so it is only ever used
/// for them: a home's snapshot keeps one for its active token, which nearly every `Resolve`
/// looks the owner of up (a SHA-256 each time, else). It holds the token no longer than the
/// snapshot holding it does.
#[derive(Debug, Default)]
pub struct KeyMemo(OnceLock<(Box<str>, Token, Key)>);

impl KeyMemo {
    /// [`WhoamiCache::key`] of `endpoint` and `token`: remembered the first time, read after
    /// that for the same two (any others are hashed as usual).
    pub fn key(&self, endpoint: &str, token: &Token) -> Key {
        if let Some((e, t, key)) = self.0.get()
            && **e == *endpoint
            && t == token
        {
            return *key;
        }
        let key = WhoamiCache::key(endpoint, token);
        let _ = self.0.set((endpoint.into(), token.clone(), key));
        key
    }
}

/// A copy starts empty: whoever copies a snapshot may change its token.
impl Clone for KeyMemo {
    fn clone(&self) -> Self {
        Self::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    pub cached: bool,
    pub stale: bool,
    /// Unix seconds when the Hub gave this answer.
    pub fetched_at: i64,
}

#[derive(Clone, Debug)]
enum Answer {
    Ok { who: Arc<WhoAmI>, at: Instant, unix: i64 },
    Unauthorized { at: Instant },
}

#[derive(Debug, Default)]
struct Slot {
    answer: Mutex<Option<Answer>>,
    /// Held while one request for this key is in flight.
    flight: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
pub struct WhoamiCache {
    ttl: Duration,
    slots: Mutex<HashMap<Key, Arc<Slot>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl WhoamiCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, slots: Mutex::default(), hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    pub fn key(endpoint: &str, token: &Token) -> Key {
        let mut h = Sha256::new();
        h.update(endpoint.as_bytes());
        h.update([0]);
        h.update(token.expose().as_bytes());
        h.finalize().into()
    }

    /// Who `token` belongs to, from the cache when fresh, else from the Hub.
    pub async fn get(
        &self,
        hub: &HubClient,
        endpoint: &str,
        token: &Token,
        offline: bool,
        fresh: bool,
    ) -> Result<(Arc<WhoAmI>, Freshness), HubError> {
        let slot = self.slot(Self::key(endpoint, token));
        if !fresh && let Some(answer) = self.usable(&slot) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return answer;
        }
        let _flight = slot.flight.lock().await;
        // Someone else may have asked the Hub while we waited.
        if !fresh && let Some(answer) = self.usable(&slot) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return answer;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        match hub.whoami(endpoint, token, offline).await {
            Ok(who) => {
                let who = Arc::new(who);
                let unix = unix_now();
                *lock(&slot.answer) = Some(Answer::Ok { who: who.clone(), at: Instant::now(), unix });
                Ok((who, Freshness { cached: false, stale: false, fetched_at: unix }))
            }
            Err(HubError::Unauthorized) => {
                *lock(&slot.answer) = Some(Answer::Unauthorized { at: Instant::now() });
                Err(HubError::Unauthorized)
            }
            Err(e) if e.is_transient() => match lock(&slot.answer).clone() {
                Some(Answer::Ok { who, unix, .. }) => {
                    Ok((who, Freshness { cached: true, stale: true, fetched_at: unix }))
                }
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// A cached answer that is still good, if any.
    fn usable(&self, slot: &Slot) -> Option<Result<(Arc<WhoAmI>, Freshness), HubError>> {
        match lock(&slot.answer).as_ref()? {
            Answer::Ok { who, at, unix } if at.elapsed() < self.ttl => {
                Some(Ok((who.clone(), Freshness { cached: true, stale: false, fetched_at: *unix })))
            }
            Answer::Unauthorized { at } if at.elapsed() < UNAUTHORIZED_TTL => Some(Err(HubError::Unauthorized)),
            _ => None,
        }
    }

    /// The cached answer for a token regardless of age, without asking the Hub.
    pub fn peek(&self, endpoint: &str, token: &Token) -> Option<Arc<WhoAmI>> {
        // Hashed before the lock is taken: every `Resolve` peeks, on every worker.
        self.peek_key(&Self::key(endpoint, token))
    }

    /// [`Self::peek`] by the key (from a [`KeyMemo`]).
    pub fn peek_key(&self, key: &Key) -> Option<Arc<WhoAmI>> {
        let slots = lock(&self.slots);
        let slot = slots.get(key)?;
        match lock(&slot.answer).as_ref()? {
            Answer::Ok { who, .. } => Some(who.clone()),
            Answer::Unauthorized { .. } => None,
        }
    }

    /// Forgets whatever is known about `token` at `endpoint`.
    pub fn invalidate(&self, endpoint: &str, token: &Token) -> bool {
        let key = Self::key(endpoint, token);
        lock(&self.slots).remove(&key).is_some()
    }

    pub fn len(&self) -> usize {
        lock(&self.slots).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    fn slot(&self, key: Key) -> Arc<Slot> {
        let mut slots = lock(&self.slots);
        if slots.len() >= MAX_ENTRIES && !slots.contains_key(&key) {
            evict_oldest(&mut slots);
        }
        slots.entry(key).or_default().clone()
    }
}

fn evict_oldest(slots: &mut HashMap<Key, Arc<Slot>>) {
    let oldest = slots
        .iter()
        .min_by_key(|(_, s)| match lock(&s.answer).as_ref() {
            Some(Answer::Ok { at, .. } | Answer::Unauthorized { at }) => Some(*at),
            None => None,
        })
        .map(|(k, _)| *k);
    if let Some(k) = oldest {
        slots.remove(&k);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_memo_answers_for_the_endpoint_and_token_it_was_made_from_only() {
        let (a, b) = (Token::new("hf_aaaaaaaaaaaaaaaa"), Token::new("hf_bbbbbbbbbbbbbbbb"));
        let (hub, mirror) = ("https://huggingface.co", "https://mirror.example");
        let memo = KeyMemo::default();
        assert_eq!(memo.key(hub, &a), WhoamiCache::key(hub, &a));
        // Remembered, and never handed to another token or endpoint.
        assert_eq!(memo.key(hub, &a), WhoamiCache::key(hub, &a));
        assert_eq!(memo.key(hub, &b), WhoamiCache::key(hub, &b));
        assert_eq!(memo.key(mirror, &a), WhoamiCache::key(mirror, &a));
        assert_ne!(WhoamiCache::key(hub, &a), WhoamiCache::key(hub, &b));
        assert_ne!(WhoamiCache::key(hub, &a), WhoamiCache::key(mirror, &a));
        // A copy remembers nothing: its snapshot may get another token.
        assert!(memo.clone().0.get().is_none());
        assert!(memo.0.get().is_some_and(|(e, t, _)| **e == *hub && *t == a));
    }
}
