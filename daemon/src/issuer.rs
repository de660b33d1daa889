//! Where a stored token may be sent: the one rule for refreshes and for the multi-account owner
//! lookup, so that a client pointing `HF_ENDPOINT` at another Hub (a mirror, a typo, an attacker's
//! proxy) never receives a refresh token, nor a stored token that Hub did not issue.
//!
//! A section's issuer is, in order: its record (`hf_auth_endpoint`, see `store::origin`); else
//! the record it had when its refresh token was last seen (huggingface_hub's own refresh rewrites
//! the section without our keys but keeps, unless the Hub rotates it, the same refresh token —
//! and a refresh token belongs to the Hub that issued it); else unknown. An unknown issuer is
//! taken to be the configured `default_endpoint` (huggingface_hub's default), and such a token
//! goes there only on behalf of a client of that endpoint: it is refreshed only once a client
//! whose own `HF_ENDPOINT` is the default endpoint has used the home (the daemon's own default
//! home counts when the daemon's environment names it), and the owner lookup asks only the
//! default endpoint about it. A whoami answer from an endpoint is no proof that it issued a token
//! (a proxy answers for any token it forwards), so it is never used as one.

use crate::store::ini::{IniFile, Section};
use crate::store::keyring;
use crate::store::origin::Origin;
use hf_auth_proto::context::DEFAULT_OAUTH_CLIENT_ID;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

/// Distinct (endpoint, client id) pairs remembered per home; the oldest is forgotten first.
const MAX_CLIENTS: usize = 8;

/// Where to send a refresh: the endpoint, and the OAuth client id to name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub endpoint: String,
    pub client_id: String,
}

/// The endpoint a refresh of a section with this issuer goes to, given the clients that have
/// used the home; `None`: nowhere (yet).
pub fn refresh_target(issuer: Option<&Origin>, clients: &[(String, String)], default_endpoint: &str) -> Option<Target> {
    let client_at = |endpoint: &str| clients.iter().rev().find(|(e, _)| same(e, endpoint)).map(|(_, c)| c.clone());
    match issuer {
        Some(o) => Some(Target {
            endpoint: o.endpoint.clone(),
            // A record without a client id (hand-written, or a plain token's): the id of a client
            // of that endpoint, else huggingface_hub's. An id is no secret; a wrong one fails.
            client_id: o
                .client_id
                .clone()
                .or_else(|| client_at(&o.endpoint))
                .unwrap_or_else(|| DEFAULT_OAUTH_CLIENT_ID.to_owned()),
        }),
        None => client_at(default_endpoint)
            .map(|client_id| Target { endpoint: default_endpoint.trim_end_matches('/').to_owned(), client_id }),
    }
}

/// May a client of `caller` have a stored token with this issuer sent to its endpoint by the
/// owner lookup?
pub fn may_ask(issuer: Option<&Origin>, caller: &str, default_endpoint: &str) -> bool {
    match issuer {
        Some(o) => same(&o.endpoint, caller),
        None => same(caller, default_endpoint),
    }
}

fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// What one home remembers about issuers and clients, in memory only.
#[derive(Debug, Default)]
pub struct Memory {
    /// SHA-256 of a refresh token → the record its section carried.
    by_refresh_token: Mutex<HashMap<[u8; 32], Origin>>,
    /// (endpoint, OAuth client id) of clients that used the home, most recent last.
    clients: RwLock<Vec<(String, String)>>,
}

fn digest(refresh_token: &str) -> [u8; 32] {
    Sha256::digest(refresh_token.as_bytes()).into()
}

/// A file section's refresh token (keyring sections keep theirs in the keyring, where only we
/// write, so their record is never dropped by huggingface_hub).
fn refresh_token(s: &Section) -> Option<&str> {
    if keyring::is_keyring_section(s) { None } else { s.get("refresh_token").filter(|r| !r.is_empty()) }
}

impl Memory {
    /// The issuer of a section: its record, else the one remembered for its refresh token.
    pub fn issuer_of(&self, s: &Section) -> Option<Origin> {
        Origin::of(s).or_else(|| {
            let rt = refresh_token(s)?;
            lock(&self.by_refresh_token).get(&digest(rt)).cloned()
        })
    }

    /// Learns the records of a freshly read file. Kept: what the file's refresh tokens still
    /// need (so the map never outgrows the file).
    pub fn learn(&self, file: &IniFile) {
        let mut map = lock(&self.by_refresh_token);
        let mut fresh = HashMap::new();
        for s in &file.sections {
            let Some(rt) = refresh_token(s) else { continue };
            let key = digest(rt);
            match Origin::of(s) {
                Some(o) => {
                    fresh.insert(key, o);
                }
                None => {
                    if let Some(o) = map.get(&key) {
                        fresh.insert(key, o.clone());
                    }
                }
            }
        }
        *map = fresh;
    }

    /// Records that a client of `endpoint` with `client_id` uses the home; returns whether that
    /// pair is new (a refresh may have become possible). Cheap when known (the hot path calls it).
    pub fn note_client(&self, endpoint: &str, client_id: &str) -> bool {
        let known = |c: &Vec<(String, String)>| c.iter().any(|(e, i)| e == endpoint && i == client_id);
        if known(&self.clients.read().unwrap_or_else(|e| e.into_inner())) {
            return false;
        }
        let mut clients = self.clients.write().unwrap_or_else(|e| e.into_inner());
        clients.retain(|(e, i)| !(e == endpoint && i == client_id));
        clients.push((endpoint.to_owned(), client_id.to_owned()));
        if clients.len() > MAX_CLIENTS {
            clients.remove(0);
        }
        true
    }

    pub fn clients(&self) -> Vec<(String, String)> {
        self.clients.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const DEFAULT: &str = "https://huggingface.co";
    const MIRROR: &str = "https://mirror.example";

    fn origin(endpoint: &str, client_id: Option<&str>) -> Option<Origin> {
        Origin::new(endpoint, client_id)
    }

    fn clients(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(e, c)| (e.to_string(), c.to_string())).collect()
    }

    #[rstest]
    // Recorded: always the issuer, with its client id, whoever uses the home.
    #[case(origin("https://issuer.example", Some("cid")), &[(MIRROR, "m")], Some(("https://issuer.example", "cid")))]
    #[case(origin("https://issuer.example", Some("cid")), &[], Some(("https://issuer.example", "cid")))]
    // Recorded without a client id: a client of that endpoint lends its own, else the default.
    #[case(origin("https://issuer.example", None), &[(MIRROR, "m"), ("https://issuer.example/", "i")], Some(("https://issuer.example", "i")))]
    #[case(origin("https://issuer.example", None), &[(MIRROR, "m")], Some(("https://issuer.example", DEFAULT_OAUTH_CLIENT_ID)))]
    // Unrecorded: the default endpoint, only for a client of it.
    #[case(None, &[(MIRROR, "m")], None)]
    #[case(None, &[], None)]
    #[case(None, &[(MIRROR, "m"), (DEFAULT, "d")], Some((DEFAULT, "d")))]
    fn refresh_targets(
        #[case] issuer: Option<Origin>,
        #[case] seen: &[(&str, &str)],
        #[case] expected: Option<(&str, &str)>,
    ) {
        let target = refresh_target(issuer.as_ref(), &clients(seen), DEFAULT);
        assert_eq!(target.as_ref().map(|t| (t.endpoint.as_str(), t.client_id.as_str())), expected);
    }

    #[rstest]
    #[case(origin(MIRROR, None), MIRROR, true)]
    #[case(origin(MIRROR, None), "https://mirror.example/", true)]
    #[case(origin(MIRROR, None), DEFAULT, false)]
    #[case(origin(DEFAULT, None), MIRROR, false)]
    #[case(None, DEFAULT, true)]
    #[case(None, MIRROR, false)]
    fn owner_lookups(#[case] issuer: Option<Origin>, #[case] caller: &str, #[case] allowed: bool) {
        assert_eq!(may_ask(issuer.as_ref(), caller, DEFAULT), allowed);
    }

    fn section(rt: &str, record: Option<&str>) -> Section {
        let mut s = Section::new("oauth-alice");
        s.set("hf_token", "hf_x");
        s.set("refresh_token", rt);
        if let Some(e) = record {
            Origin::new(e, Some("cid")).unwrap().write_to(&mut s);
        }
        s
    }

    fn file(sections: Vec<Section>) -> IniFile {
        IniFile { sections }
    }

    #[test]
    fn a_dropped_record_is_kept_by_its_refresh_token_until_it_changes() {
        let m = Memory::default();
        m.learn(&file(vec![section("rt1", Some(MIRROR))]));
        // huggingface_hub refreshed: new access token, same refresh token, no record.
        let rewritten = section("rt1", None);
        m.learn(&file(vec![rewritten.clone()]));
        assert_eq!(m.issuer_of(&rewritten).map(|o| o.endpoint), Some(MIRROR.to_owned()));
        // Rotated, or logged in again: unknown.
        let rotated = section("rt2", None);
        m.learn(&file(vec![rotated.clone()]));
        assert_eq!(m.issuer_of(&rotated), None);
        // And the old one is forgotten once the file no longer has it.
        assert_eq!(m.issuer_of(&rewritten), None);
    }

    #[test]
    fn clients_are_bounded_and_most_recent_last() {
        let m = Memory::default();
        for i in 0..20 {
            m.note_client(&format!("https://e{i}"), "c");
        }
        assert!(!m.note_client("https://e19", "c"), "known");
        assert!(m.note_client("https://e5", "c"), "forgotten, so new again");
        let seen = m.clients();
        assert_eq!(seen.len(), MAX_CLIENTS);
        assert_eq!(seen.last().unwrap().0, "https://e5");
    }
}
