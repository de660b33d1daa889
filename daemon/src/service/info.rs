//! Read-only operations: list, whoami, status (resolve has its own file). List answers from memory.

use super::{context, home, pb_source};
use crate::config::StorageMode;
use crate::error::{Error, Result};
use crate::refresh::Plan;
use crate::resolve::{self, Source};
use crate::state::Daemon;
use crate::store::keyring;
use hf_auth_proto::{PROTOCOL_VERSION, Token, pb};
use std::sync::Arc;

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
        // The token this caller would get (routing included: --token-name, rules, OIDC).
        let r = super::resolve::routed(daemon, &ctx, String::new()).await?;
        let source = match pb::TokenSource::try_from(r.source) {
            Ok(pb::TokenSource::EnvHfToken) => Source::Env(hf_auth_proto::EnvVar::HfToken),
            Ok(pb::TokenSource::EnvHuggingFaceHubToken) => Source::Env(hf_auth_proto::EnvVar::HuggingFaceHubToken),
            Ok(pb::TokenSource::Keyring) => Source::Keyring,
            Ok(pb::TokenSource::File) => Source::File,
            _ => Source::None,
        };
        (Some(Token::new(r.token)).filter(|t| !t.expose().is_empty()).ok_or(Error::NotLoggedIn)?, source)
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

/// How long `Status` waits for the audit log's writer at most.
const AUDIT_SYNC: std::time::Duration = std::time::Duration::from_millis(500);

pub(super) async fn status(daemon: &Arc<Daemon>, req: pb::StatusRequest) -> Result<pb::StatusResponse> {
    // `hf-auth audit` reads the log after this answer: every handout so far is in the file first.
    if daemon.audit.has_pending() {
        let d = daemon.clone();
        tokio::task::spawn_blocking(move || d.audit.sync(AUDIT_SYNC)).await?;
    }
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
    let routes = daemon.routes.current();
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
        routes: routes.rules.rules.iter().map(describe_rule).collect(),
        routes_error: routes.error.clone().unwrap_or_default(),
        route_by_scope: routes.by_scope,
        oidc_exchanges: daemon.oidc.exchanges(),
        homes_open: daemon.homes.len() as u32,
        watched_dirs: daemon.homes.watcher().watched_dirs() as u32,
        forward_socket_path: daemon.forward_socket.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        audit_log_path: daemon.audit.path().map(|p| p.display().to_string()).unwrap_or_default(),
        audit_dropped: daemon.audit.dropped(),
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

/// One rule as `status` shows it: `#1 (line 3): acme-write for repos acme/*, datasets/acme/*`.
fn describe_rule(r: &crate::route::Rule) -> String {
    let mut when = Vec::new();
    if !r.repos.is_empty() {
        when.push(format!("repos {}", r.repos.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")));
    }
    if !r.dirs.is_empty() {
        when.push(format!(
            "dirs {}",
            r.dirs.iter().map(|(d, _)| d.display().to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    format!("#{} (line {}): {} for {}", r.index, r.line, r.token, when.join(" and "))
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
