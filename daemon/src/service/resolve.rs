//! `Resolve`: the token a caller gets, in the precedence `crate::route` documents — OIDC, the
//! env token, git's account, an explicit name, a rule, scope, the active token — and why.
//! Answers from memory except for OIDC (asks the Hub, then caches) and, within git's short
//! budget, whoami answers that scope or git's account need and the cache lacks.

use super::{context, home, pb_source};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::resolve::{self, Source};
use crate::route::{self, Level, RepoId, Why};
use crate::state::Daemon;
use crate::store::disk::Snapshot;
use crate::store::keyring;
use hf_auth_proto::{ClientContext, Token, pb};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Bound on asking the Hub about stored tokens while git waits (owner or scope).
const LOOKUP_BUDGET: Duration = Duration::from_millis(600);

pub(super) async fn resolve(daemon: &Arc<Daemon>, req: pb::ResolveRequest) -> Result<pb::ResolveResponse> {
    routed(daemon, &context(req.context)?, req.username).await
}

/// The token `ctx` gets (its answer, reasons included); `username` is git's account, if any.
pub(super) async fn routed(daemon: &Arc<Daemon>, ctx: &ClientContext, username: String) -> Result<pb::ResolveResponse> {
    let req = pb::ResolveRequest { context: None, username };
    if let Some(oidc) = &ctx.routing.oidc {
        let token = daemon.oidc.token(&daemon.hub, &ctx.endpoint, oidc, ctx.offline).await?;
        return Ok(pb::ResolveResponse {
            token: token.into_inner(),
            source: pb::TokenSource::Oidc as i32,
            reason: pb::RouteReason::Oidc as i32,
            ..Default::default()
        });
    }
    // The env token needs no home at all: skip even the lookup.
    if let Some((token, var)) = ctx.env_token_cleaned() {
        let known = daemon.homes.peek(&ctx.paths).map(|h| (h.snapshot(), h));
        let mut answer = answer(daemon, ctx, token, Source::Env(var), known.as_ref().map(|(s, h)| (s, &**h)));
        answer.reason = pb::RouteReason::Env as i32;
        return Ok(answer);
    }
    let home = home(daemon, ctx).await?;
    let snapshot = home.snapshot();
    let active = resolve::resolve(ctx, &snapshot)?;
    let repo = ctx.routing.repo.as_deref().and_then(RepoId::parse);
    // git asked for a specific account: that account's stored token, if there is one.
    if !req.username.is_empty()
        && let Some(token) = &active.token
        && daemon.whoami.peek(&ctx.endpoint, token).map(|w| w.name.clone()).as_deref() != Some(req.username.as_str())
        && let Some(other) = stored_token_of(daemon, ctx, &snapshot, &home, &req.username).await
    {
        let mut a = answer(daemon, ctx, other, Source::File, Some((&snapshot, &home)));
        a.username = req.username;
        a.reason = pb::RouteReason::Username as i32;
        return Ok(a);
    }
    let settings = daemon.routes.current();
    // Nothing to route by (no name, no repo, no rules): the active token, with no more work.
    let routes = ctx.routing.token_name.is_some() || repo.is_some() || !settings.rules.is_empty();
    let decision = if routes {
        decide(daemon, ctx, &snapshot, &home, repo.as_ref(), active.token.as_ref(), &settings).await?
    } else {
        route::Decision::default()
    };
    let mut answer = match &decision.pick {
        Some(pick) => {
            let token = stored_token(&home, &snapshot, &pick.name).await?;
            let in_keyring = snapshot.stored.file.get(&pick.name).is_some_and(keyring::is_keyring_section);
            let source = if in_keyring { Source::Keyring } else { Source::File };
            let mut a = answer(daemon, ctx, token, source, Some((&snapshot, &home)));
            a.name = pick.name.clone();
            let (reason, index, line) = match pick.why {
                Why::Name => (pb::RouteReason::Name, 0, 0),
                Why::Rule { index, line } => (pb::RouteReason::Rule, index, line),
                Why::Scope => (pb::RouteReason::Scope, 0, 0),
            };
            a.reason = reason as i32;
            a.rule_index = index as u32;
            a.rule_line = line as u32;
            a
        }
        None => match active.token {
            Some(token) => {
                let mut a = answer(daemon, ctx, token, active.source, Some((&snapshot, &home)));
                a.reason = pb::RouteReason::Active as i32;
                a
            }
            None => pb::ResolveResponse { source: pb_source(Source::None), ..Default::default() },
        },
    };
    answer.notes = decision.notes;
    Ok(answer)
}

/// Steps 2–5 of the precedence (`route::choose`), with the whoami answers scope needs.
async fn decide(
    daemon: &Arc<Daemon>,
    ctx: &ClientContext,
    snapshot: &Snapshot,
    home: &Home,
    repo: Option<&RepoId>,
    active: Option<&Token>,
    settings: &route::loaded::RouteSettings,
) -> Result<route::Decision> {
    let names: Vec<&str> = snapshot.stored.file.sections.iter().map(|s| s.name.as_str()).collect();
    let active_name = active.and_then(|t| home.name_of(snapshot, t));
    let levels = match (repo, settings.by_scope && ctx.routing.token_name.is_none()) {
        (Some(repo), true) => levels(daemon, ctx, snapshot, home, repo, active).await,
        _ => Levels::default(),
    };
    let request = route::Request {
        token_name: ctx.routing.token_name.as_deref(),
        repo,
        cwd: ctx.routing.cwd.as_deref(),
        access: ctx.routing.access,
    };
    let levels_of = |n: &str| levels.by_name.get(n).copied();
    let holdings = route::Holdings {
        names: &names,
        active: active_name.as_deref(),
        levels: &levels_of,
        active_level: levels.active,
    };
    route::choose(&request, &holdings, &settings.rules, settings.by_scope, "HF_AUTH_TOKEN_NAME / --token-name")
        .map_err(|e| Error::FailedPrecondition(e.to_string()))
}

/// The answer for `token`: its stored name, owner (when cached) and expiry.
fn answer(
    daemon: &Daemon,
    ctx: &ClientContext,
    token: Token,
    source: Source,
    home: Option<(&Arc<Snapshot>, &Home)>,
) -> pb::ResolveResponse {
    // The active token's key is the snapshot's to remember; any other token is hashed.
    let key = match home {
        Some((s, _)) if s.active.as_ref().is_ok_and(|a| a.as_ref() == Some(&token)) => {
            s.active_owner_key.key(&ctx.endpoint, &token)
        }
        _ => crate::hub::cache::WhoamiCache::key(&ctx.endpoint, &token),
    };
    let username = daemon.whoami.peek_key(&key).map(|w| w.name.clone()).unwrap_or_default();
    let name = home.and_then(|(s, h)| h.name_of(s, &token)).unwrap_or_default();
    // An OAuth token's section says when it stops working: git's helpers after ours must not
    // cache it past that (git-credential-hf sends it on as password_expiry_utc).
    let expires_at = home.and_then(|(s, _)| expiry_of(s, &name)).unwrap_or(0);
    pb::ResolveResponse {
        token: token.into_inner(),
        source: pb_source(source),
        name,
        username,
        expires_at,
        ..Default::default()
    }
}

/// The stored `expires_at` (unix seconds) of the section named `name`, when it has one.
fn expiry_of(snapshot: &Snapshot, name: &str) -> Option<i64> {
    let section = snapshot.stored.file.sections.iter().find(|s| !name.is_empty() && s.name == name)?;
    section.get("expires_at")?.trim().parse().ok().filter(|t: &i64| *t > 0)
}

/// The secret of the stored token `name`: its `hf_token`, or its keyring entry.
async fn stored_token(home: &Arc<Home>, snapshot: &Snapshot, name: &str) -> Result<Token> {
    let section = snapshot.stored.file.get(name).ok_or_else(|| Error::NotFound(format!("no stored token {name:?}")))?;
    if !keyring::is_keyring_section(section) {
        return section
            .get("hf_token")
            .and_then(Token::clean)
            .ok_or_else(|| Error::FailedPrecondition(format!("the stored token {name:?} is empty")));
    }
    if let Some(token) = home.vault.cached(name) {
        return Ok(token);
    }
    let (home, name) = (home.clone(), name.to_owned());
    Ok(tokio::task::spawn_blocking(move || home.keyring().get(&name)).await??)
}

/// The stored tokens' secrets a request may reveal to its endpoint (`crate::issuer::may_ask`):
/// file ones, and keyring ones already read (no keyring call on git's path).
fn askable_tokens(daemon: &Daemon, ctx: &ClientContext, snapshot: &Snapshot, home: &Home) -> Vec<(String, Token)> {
    let default_endpoint = &daemon.config.default_endpoint;
    snapshot
        .stored
        .file
        .sections
        .iter()
        .filter(|s| crate::issuer::may_ask(home.issuer_of(s).as_ref(), &ctx.endpoint, default_endpoint))
        .filter_map(|s| {
            let token = match keyring::is_keyring_section(s) {
                true => home.vault.cached(&s.name),
                false => s.get("hf_token").and_then(Token::clean),
            }?;
            Some((s.name.clone(), token))
        })
        .collect()
}

/// Asks the Hub (within [`LOOKUP_BUDGET`], concurrently) about the tokens whose whoami answer is
/// not cached; the answers land in the cache.
async fn look_up(daemon: &Arc<Daemon>, ctx: &ClientContext, tokens: impl Iterator<Item = Token>) {
    let lookups = tokens.filter(|t| daemon.whoami.peek(&ctx.endpoint, t).is_none()).map(|t| async move {
        let _ = daemon.whoami.get(&daemon.hub, &ctx.endpoint, &t, ctx.offline, false).await;
    });
    let _ = tokio::time::timeout(LOOKUP_BUDGET, futures_util::future::join_all(lookups)).await;
}

/// The stored token owned by `user`, using cached whoami answers (and, within the budget, asking
/// the Hub about tokens it has not seen yet). Only tokens the caller's endpoint issued are
/// candidates: git pointed at a mirror must not carry the mirror every stored token to try.
async fn stored_token_of(
    daemon: &Arc<Daemon>,
    ctx: &ClientContext,
    snapshot: &Snapshot,
    home: &Home,
    user: &str,
) -> Option<Token> {
    let tokens = askable_tokens(daemon, ctx, snapshot, home);
    let owner = |t: &Token| daemon.whoami.peek(&ctx.endpoint, t).is_some_and(|w| w.name == user);
    if let Some((_, t)) = tokens.iter().find(|(_, t)| owner(t)) {
        return Some(t.clone());
    }
    look_up(daemon, ctx, tokens.iter().map(|(_, t)| t.clone())).await;
    tokens.into_iter().find(|(_, t)| owner(t)).map(|(_, t)| t)
}

/// What each stored token, and the active one, may do at `repo`, from whoami answers.
#[derive(Debug, Default)]
struct Levels {
    by_name: HashMap<String, Level>,
    active: Option<Level>,
}

/// Scope needs whoami answers; missing ones are asked for within the budget, but only when they
/// could change the choice (the active token's is unknown, or it falls short).
async fn levels(
    daemon: &Arc<Daemon>,
    ctx: &ClientContext,
    snapshot: &Snapshot,
    home: &Home,
    repo: &RepoId,
    active: Option<&Token>,
) -> Levels {
    let tokens = askable_tokens(daemon, ctx, snapshot, home);
    let need = if ctx.routing.access == hf_auth_proto::Access::Write { Level::Write } else { Level::Read };
    let level_of = |t: &Token| daemon.whoami.peek(&ctx.endpoint, t).map(|w| route::scope::level(&w, repo));
    let settled = active.and_then(level_of).is_some_and(|l| l >= need);
    let missing = tokens.iter().any(|(_, t)| level_of(t).is_none()) || active.is_some_and(|t| level_of(t).is_none());
    if !settled && missing && !ctx.offline {
        let active_too = active.filter(|t| tokens.iter().any(|(_, s)| s == *t)).cloned();
        look_up(daemon, ctx, tokens.iter().map(|(_, t)| t.clone()).chain(active_too)).await;
    }
    Levels {
        by_name: tokens.iter().filter_map(|(n, t)| Some((n.clone(), level_of(t)?))).collect(),
        active: active.and_then(level_of),
    }
}
