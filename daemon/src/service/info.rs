//! Read-only operations: resolve, list, whoami, status. Resolve and list answer from memory.

use super::{context, home, pb_source};
use crate::config::StorageMode;
use crate::error::{Error, Result};
use crate::refresh::Plan;
use crate::resolve::{self, Source};
use crate::state::Daemon;
use crate::store::keyring;
use hf_auth_proto::{PROTOCOL_VERSION, Token, pb};
use std::sync::Arc;

pub(super) async fn resolve(daemon: &Arc<Daemon>, req: pb::ResolveRequest) -> Result<pb::ResolveResponse> {
    let ctx = context(req.context)?;
    // The env token needs no home at all: skip even the lookup.
    let (token, source, snapshot) = match ctx.env_token_cleaned() {
        Some((token, var)) => (Some(token), Source::Env(var), daemon.homes.peek(&ctx.paths).map(|h| (h.snapshot(), h))),
        None => {
            let home = home(daemon, &ctx).await?;
            let snapshot = home.snapshot();
            let r = resolve::resolve(&ctx, &snapshot)?;
            (r.token, r.source, Some((snapshot, home)))
        }
    };
    let Some(mut token) = token else {
        return Ok(pb::ResolveResponse { source: pb_source(source), ..Default::default() });
    };
    let mut username = daemon.whoami.peek(&ctx.endpoint, &token).map(|w| w.name.clone());
    // git asked for a specific account: answer with that account's stored token, if there is one.
    if !req.username.is_empty()
        && username.as_deref() != Some(req.username.as_str())
        && let Some((snapshot, home)) = &snapshot
        && let Some(other) = stored_token_of(daemon, &ctx, snapshot, home, &req.username).await
    {
        token = other;
        username = Some(req.username.clone());
    }
    let name = snapshot.as_ref().and_then(|(s, h)| h.name_of(s, &token)).unwrap_or_default();
    // An OAuth token's section says when it stops working: git's helpers after ours must not
    // cache it past that (git-credential-hf sends it on as password_expiry_utc).
    let expires_at = snapshot.as_ref().and_then(|(s, _)| expiry_of(s, &name)).unwrap_or(0);
    Ok(pb::ResolveResponse {
        token: token.into_inner(),
        source: pb_source(source),
        name,
        username: username.unwrap_or_default(),
        expires_at,
    })
}

/// The stored `expires_at` (unix seconds) of the section named `name`, when it has one.
fn expiry_of(snapshot: &crate::store::disk::Snapshot, name: &str) -> Option<i64> {
    let section = snapshot.stored.file.sections.iter().find(|s| !name.is_empty() && s.name == name)?;
    section.get("expires_at")?.trim().parse().ok().filter(|t: &i64| *t > 0)
}

/// Bound on asking the Hub who owns stored tokens while git waits.
const OWNER_LOOKUP_BUDGET: std::time::Duration = std::time::Duration::from_millis(600);

/// The stored token owned by `user`, using cached whoami answers (and, within a short budget,
/// asking the Hub about tokens it has not seen yet). Only tokens the caller's endpoint issued are
/// candidates (`crate::issuer::may_ask`): git pointed at a mirror must not carry the mirror every
/// stored token to try.
async fn stored_token_of(
    daemon: &Arc<Daemon>,
    ctx: &hf_auth_proto::ClientContext,
    snapshot: &crate::store::disk::Snapshot,
    home: &crate::home::Home,
    user: &str,
) -> Option<Token> {
    let default_endpoint = &daemon.config.default_endpoint;
    // Keyring secrets count once read (git waits here: no keyring call on this path).
    let tokens: Vec<Token> = snapshot
        .stored
        .file
        .sections
        .iter()
        .filter(|s| crate::issuer::may_ask(home.issuer_of(s).as_ref(), &ctx.endpoint, default_endpoint))
        .filter_map(|s| match keyring::is_keyring_section(s) {
            true => home.vault.cached(&s.name),
            false => s.get("hf_token").and_then(Token::clean),
        })
        .collect();
    let cached = tokens.iter().find(|t| daemon.whoami.peek(&ctx.endpoint, t).is_some_and(|w| w.name == user));
    if let Some(t) = cached {
        return Some(t.clone());
    }
    let lookups = tokens.into_iter().filter(|t| daemon.whoami.peek(&ctx.endpoint, t).is_none()).map(|t| async move {
        let owner = daemon.whoami.get(&daemon.hub, &ctx.endpoint, &t, ctx.offline, false).await.ok()?;
        (owner.0.name == user).then_some(t)
    });
    let found = tokio::time::timeout(OWNER_LOOKUP_BUDGET, futures_util::future::join_all(lookups)).await.ok()?;
    found.into_iter().flatten().next()
}

pub(super) async fn list(daemon: &Arc<Daemon>, req: pb::ListRequest) -> Result<pb::ListResponse> {
    let ctx = context(req.context)?;
    let home = home(daemon, &ctx).await?;
    warm_keyring(&home).await;
    let snapshot = home.snapshot();
    let margin = daemon.config.refresh_margin_secs as i64;
    // As `hf auth list`: the star compares with get_token(), env included; an unreadable token
    // file just means nothing is starred.
    let current = resolve::resolve(&ctx, &snapshot).ok().and_then(|r| r.token);
    let tokens = snapshot
        .stored
        .file
        .sections
        .iter()
        .map(|s| {
            let in_keyring = keyring::is_keyring_section(s);
            let secret = if in_keyring { home.vault.cached(&s.name) } else { None };
            let raw = match &secret {
                Some(t) => Some(t.expose()),
                None => s.get("hf_token"),
            };
            let (refresh_state, next_refresh_at) = match daemon.refresher.plan(&home, s, margin) {
                None => (pb::RefreshState::None, 0),
                Some(Plan::Scheduled { at }) => (pb::RefreshState::Scheduled, at),
                Some(Plan::Retrying { at }) => (pb::RefreshState::Retrying, at),
                Some(Plan::NeedsLogin) => (pb::RefreshState::NeedsLogin, 0),
            };
            pb::StoredToken {
                name: s.name.clone(),
                masked: match (raw, in_keyring) {
                    (Some(raw), _) => hf_auth_proto::token::mask(raw),
                    // The keyring could not be read just now (the secret is still there).
                    (None, true) => "<in keyring>".to_owned(),
                    (None, false) => "<not set>".to_owned(),
                },
                has_token: raw.is_some() || in_keyring,
                active: raw.is_some() && raw == current.as_ref().map(Token::expose),
                expires_at: s.get("expires_at").unwrap_or_default().to_owned(),
                refresh_state: refresh_state as i32,
                next_refresh_at,
                storage: if in_keyring { pb::Storage::Keyring } else { pb::Storage::File } as i32,
            }
        })
        .collect();
    Ok(pb::ListResponse {
        tokens,
        env_token_var: ctx.env_token_cleaned().map(|(_, v)| v.name().to_owned()).unwrap_or_default(),
        stored_tokens_path: ctx.paths.stored_tokens.display().to_string(),
        stored_tokens_problem: snapshot.stored.problem.as_ref().map(ToString::to_string).unwrap_or_default(),
    })
}

pub(super) async fn whoami(daemon: &Arc<Daemon>, req: pb::WhoAmIRequest) -> Result<pb::WhoAmIResponse> {
    let ctx = context(req.context)?;
    let (token, source) = if req.token.is_empty() {
        let resolved = match ctx.env_token_cleaned() {
            Some((t, var)) => resolve::Resolution { token: Some(t), source: Source::Env(var) },
            None => resolve::resolve(&ctx, &home(daemon, &ctx).await?.snapshot())?,
        };
        (resolved.token.ok_or(Error::NotLoggedIn)?, resolved.source)
    } else {
        (Token::new(req.token), Source::None)
    };
    let (who, fresh) = daemon
        .whoami
        .get(&daemon.hub, &ctx.endpoint, &token, ctx.offline, req.fresh)
        .await
        .map_err(|error| Error::Hub { error, token_source: source })?;
    Ok(pb::WhoAmIResponse {
        name: who.name.clone(),
        fullname: who.fullname.clone(),
        email: who.email.clone(),
        orgs: who
            .orgs
            .iter()
            .map(|o| pb::Org { name: o.name.clone(), fullname: o.fullname.clone(), role_in_org: o.role_in_org.clone() })
            .collect(),
        auth_type: who.auth_type.clone(),
        token_display_name: who.token_display_name.clone().unwrap_or_default(),
        token_role: who.token_role.clone().unwrap_or_default(),
        cached: fresh.cached,
        stale: fresh.stale,
        fetched_at: fresh.fetched_at,
        source: pb_source(source),
        raw_json: who.raw_json.clone(),
    })
}

pub(super) async fn status(daemon: &Arc<Daemon>, req: pb::StatusRequest) -> Result<pb::StatusResponse> {
    // The caller's own view first (it may open its home, which the list below then includes).
    let caller = match req.context {
        Some(ctx) => {
            let ctx = context(Some(ctx))?;
            let home = home(daemon, &ctx).await?;
            warm_keyring(&home).await;
            let snapshot = home.snapshot();
            resolve::resolve(&ctx, &snapshot).ok().map(|r| {
                let name = r.token.as_ref().and_then(|t| home.name_of(&snapshot, t)).unwrap_or_default();
                let in_keyring = snapshot.stored.file.get(&name).is_some_and(keyring::is_keyring_section);
                (r.source, name, in_keyring)
            })
        }
        None => None,
    };
    let homes = if caller.is_some() { recent_homes(daemon) } else { Vec::new() };
    let mut response = pb::StatusResponse {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol: PROTOCOL_VERSION,
        pid: std::process::id(),
        uptime_ms: daemon.started.elapsed().as_millis() as u64,
        socket_path: daemon.socket_path.display().to_string(),
        homes,
        whoami_cache_entries: daemon.whoami.len() as u64,
        whoami_cache_hits: daemon.whoami.hits(),
        whoami_cache_misses: daemon.whoami.misses(),
        hub_requests: daemon.hub.request_count(),
        requests_served: daemon.requests_served(),
        configured_storage: match daemon.storage() {
            StorageMode::File => pb::Storage::File,
            StorageMode::Keyring => pb::Storage::Keyring,
        } as i32,
        log_path: daemon.log_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        service_managed: daemon.service_managed,
        homes_open: daemon.homes.len() as u32,
        watched_dirs: daemon.homes.watcher().watched_dirs() as u32,
        ..Default::default()
    };
    if let Some((source, name, in_keyring)) = caller {
        response.active_source = pb_source(source);
        response.active_name = name;
        response.active_storage = match (source, in_keyring) {
            (Source::File, true) | (Source::Keyring, _) => pb::Storage::Keyring as i32,
            (Source::File, false) => pb::Storage::File as i32,
            _ => 0,
        };
    }
    Ok(response)
}

/// The most recently used open homes, as many as fit in a quarter of the message limit (a CI
/// runner may have thousands open; `homes_open` says how many there are).
fn recent_homes(daemon: &Daemon) -> Vec<pb::HomeStatus> {
    let mut all = daemon.homes.all();
    all.sort_unstable_by_key(|h| std::cmp::Reverse(h.last_used()));
    let watched = daemon.homes.watcher().is_active();
    let mut budget = hf_auth_proto::MAX_MESSAGE_BYTES / 4;
    all.iter()
        .map(|h| pb::HomeStatus {
            token_path: h.paths.token.display().to_string(),
            stored_tokens_path: h.paths.stored_tokens.display().to_string(),
            stored_tokens: h.snapshot().stored.file.sections.len() as u32,
            watched,
        })
        .take_while(|h| {
            let size = prost::Message::encoded_len(h) + 4;
            budget = budget.saturating_sub(size);
            budget > 0
        })
        .collect()
}

/// Reads into memory the keyring secrets of a home not read yet (masks, the active name, and the
/// token file's restore need them). Best effort: a keyring that cannot answer just leaves them
/// unread (`list` then shows `<in keyring>`).
pub(super) async fn warm_keyring(home: &Arc<crate::home::Home>) {
    let snapshot = home.snapshot();
    let missing: Vec<String> = snapshot
        .stored
        .file
        .sections
        .iter()
        .filter(|s| keyring::is_keyring_section(s) && home.vault.cached(&s.name).is_none())
        .map(|s| s.name.clone())
        .collect();
    if missing.is_empty() {
        return;
    }
    let h = home.clone();
    let _ = tokio::task::spawn_blocking(move || {
        let kr = h.keyring();
        for name in missing {
            match kr.get(&name) {
                Ok(_) => {}
                Err(e @ keyring::KeyringError::Missing(_)) => {
                    tracing::warn!(%name, error = %e, "keyring entry missing")
                }
                Err(e) => {
                    tracing::warn!(%name, error = %e, "could not read a token from the keyring");
                    // A locked, absent or slow keyring would fail the same way for every other name.
                    break;
                }
            }
        }
        // Follow the active keyring token now that its secret is known.
        h.reload();
        h.schedule_repair();
    })
    .await;
}
