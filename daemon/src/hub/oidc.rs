//! OIDC trusted publishing, as huggingface_hub 2.4.0 does it (`_oidc.py`,
//! `utils/_auth.py::_get_token_from_oidc`): a CI job's id token — `HF_OIDC_ID_TOKEN`, else minted
//! from GitHub Actions (`GET $ACTIONS_ID_TOKEN_REQUEST_URL?audience=<endpoint>` with its bearer) —
//! is exchanged at `POST {endpoint}/oauth/token` (RFC 8693, a JSON body) for a short-lived Hub
//! token scoped to `HF_OIDC_RESOURCE`.
//!
//! The exchanged token lives in memory only, cached per (endpoint, resource, id token) until it
//! expires (minus 5 minutes when the id token was minted, so a long job gets a fresh one; a
//! supplied id token cannot be re-minted, so its token is used for its whole life). Concurrent
//! requests for one key share one exchange. Any failure is an error, never a silent fallback to
//! another token (Python's rule).

use super::client::{HubClient, read_text, redact, shown_url, unreachable};
use hf_auth_proto::{Oidc, Token};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// huggingface_hub's `_OIDC_REFRESH_MARGIN`.
const MINTED_MARGIN: Duration = Duration::from_secs(300);
/// Entries kept at most (one per CI job that asks): the oldest is dropped first.
const MAX_ENTRIES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error(
        "OIDC Exchange failed. HF_OIDC_RESOURCE is set but no OIDC id token is available: not running in a supported CI provider (github, with `permissions: id-token: write`) and HF_OIDC_ID_TOKEN is not set. Set HF_OIDC_ID_TOKEN to the id token minted by your CI provider, or unset HF_OIDC_RESOURCE."
    )]
    NoIdToken,
    #[error("OIDC Exchange failed. {0}")]
    Failed(String),
    #[error(
        "OIDC Exchange failed. Cannot reach {0}: offline mode is enabled. To disable it, please unset the `HF_HUB_OFFLINE` environment variable."
    )]
    Offline(String),
}

#[derive(Deserialize)]
struct Minted {
    value: String,
}

#[derive(Deserialize)]
struct Exchanged {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Debug)]
struct Entry {
    token: Token,
    valid_until: Instant,
}

/// One key's token, behind the lock its single exchange is made under.
type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

/// The exchanged tokens, and one lock per key so that one exchange serves every waiting client.
#[derive(Debug, Default)]
pub struct OidcCache {
    slots: Mutex<HashMap<[u8; 32], (Instant, Slot)>>,
    exchanges: std::sync::atomic::AtomicU64,
}

fn key(endpoint: &str, oidc: &Oidc) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [endpoint, &oidc.resource, oidc.id_token.as_deref().unwrap_or_default()] {
        h.update(part.len().to_le_bytes());
        h.update(part.as_bytes());
    }
    if let Some((url, bearer)) = &oidc.github {
        h.update(b"github");
        h.update(url.as_bytes());
        h.update(bearer.as_bytes());
    }
    h.finalize().into()
}

impl OidcCache {
    /// Exchanges made so far (each a Hub request).
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The token for this caller's OIDC inputs at `endpoint`: cached, or exchanged now.
    pub async fn token(&self, hub: &HubClient, endpoint: &str, oidc: &Oidc, offline: bool) -> Result<Token, OidcError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if slots.len() >= MAX_ENTRIES && !slots.contains_key(&key(endpoint, oidc)) {
                let oldest = slots.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| *k);
                if let Some(k) = oldest {
                    slots.remove(&k);
                }
            }
            let (at, slot) = slots.entry(key(endpoint, oidc)).or_insert_with(|| (Instant::now(), Arc::default()));
            *at = Instant::now();
            slot.clone()
        };
        let mut entry = slot.lock().await;
        if let Some(e) = entry.as_ref()
            && Instant::now() < e.valid_until
        {
            return Ok(e.token.clone());
        }
        if offline {
            return Err(OidcError::Offline(format!("{}/oauth/token", shown_url(endpoint))));
        }
        let (subject, margin) = match (&oidc.id_token, &oidc.github) {
            (Some(id), _) => (id.clone(), Duration::ZERO),
            (None, Some((url, bearer))) => (mint_github(hub, url, bearer, endpoint).await?, MINTED_MARGIN),
            (None, None) => return Err(OidcError::NoIdToken),
        };
        self.exchanges.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let exchanged = exchange(hub, endpoint, &subject, &oidc.resource).await?;
        // A day at most, whatever the endpoint says (a huge value made `Instant + Duration` panic).
        let lifetime = Duration::from_secs(exchanged.expires_in.unwrap_or(3600).clamp(0, 86_400) as u64);
        let token = Token::new(exchanged.access_token);
        *entry = Some(Entry { token: token.clone(), valid_until: Instant::now() + lifetime.saturating_sub(margin) });
        Ok(token)
    }
}

async fn mint_github(hub: &HubClient, url: &str, bearer: &str, audience: &str) -> Result<String, OidcError> {
    hub.count_request();
    let response =
        hub.http().get(url).query(&[("audience", audience)]).bearer_auth(bearer).send().await.map_err(|e| {
            OidcError::Failed(format!("minting an id token from GitHub Actions: {}", unreachable(url, &e)))
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(OidcError::Failed(format!(
            "GitHub Actions answered HTTP {} when asked for an id token",
            status.as_u16()
        )));
    }
    let text = read_text(response)
        .await
        .map_err(|e| OidcError::Failed(format!("GitHub Actions' id token answer: {}", e.at(url))))?;
    let minted: Minted =
        serde_json::from_str(&text).map_err(|e| OidcError::Failed(format!("GitHub Actions' id token answer: {e}")))?;
    Ok(minted.value)
}

async fn exchange(hub: &HubClient, endpoint: &str, subject: &str, resource: &str) -> Result<Exchanged, OidcError> {
    let url = format!("{endpoint}/oauth/token");
    hub.count_request();
    let body = serde_json::json!({
        "grant_type": GRANT_TYPE,
        "subject_token_type": ID_TOKEN_TYPE,
        "subject_token": subject,
        "resource": resource,
    });
    let response = hub
        .http()
        .post(&url)
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| OidcError::Failed(unreachable(&url, &e).to_string()))?;
    let status = response.status();
    let text = read_text(response).await.map_err(|e| OidcError::Failed(e.at(&url).to_string()))?;
    if !status.is_success() {
        // The Hub's error body says why (a JSON `error`/`error_description`, or a message). The
        // Hub does not echo the id token back, but a proxy or another server may: never repeat it
        // (CI logs are often public, and the id token buys a Hub token while it lives).
        let detail: String = redact(&text, &[subject]).chars().take(300).collect();
        return Err(OidcError::Failed(format!("{} answered HTTP {}: {detail}", shown_url(&url), status.as_u16())));
    }
    serde_json::from_str(&text)
        .map_err(|e| OidcError::Failed(format!("{} answered without a token: {e}", shown_url(&url))))
}
