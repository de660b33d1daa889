//! Operations that change a home: login with a token, logout, switch (spec §4.1, §4.3, §4.4).

use super::{blocking, context, home};
use crate::config::StorageMode;
use crate::error::{Error, Result};
use crate::resolve::{self, Source};
use crate::state::Daemon;
use crate::store::origin::Origin;
use crate::store::{disk, ini, keyring, ops};
use hf_auth_proto::{ClientContext, Token, pb};
use std::sync::Arc;

pub(super) async fn login(daemon: &Arc<Daemon>, req: pb::LoginRequest) -> Result<pb::LoginResponse> {
    let ctx = context(req.context)?;
    let token = checked_token(req.token)?;
    // Validated with a fresh answer: a login must prove the token works now.
    let (who, _) = daemon
        .whoami
        .get(&daemon.hub, &ctx.endpoint, &token, ctx.offline, true)
        .await
        .map_err(|error| Error::Hub { error, token_source: Source::None })?;
    let name = who.token_name();
    ini::validate_name(&name)?;
    // Where it was validated, unless that is the default endpoint (where a token without a record
    // is taken to come from): the file stays byte for byte what huggingface_hub writes.
    let origin = (!same_endpoint(&ctx.endpoint, &daemon.config.default_endpoint))
        .then(|| Origin::new(&ctx.endpoint, None))
        .flatten();
    let (outcome, storage) = save_and_activate(daemon, &ctx, &name, &token, None, None, origin).await?;
    Ok(pb::LoginResponse {
        backup_path: outcome.backup.map(|p| p.display().to_string()).unwrap_or_default(),
        token_name: name,
        role: who.token_role.clone().unwrap_or_default(),
        username: who.name.clone(),
        stored_tokens_path: ctx.paths.stored_tokens.display().to_string(),
        token_path: ctx.paths.token.display().to_string(),
        shadowed_by_env: env_var(&ctx),
        expires_in: 0,
        will_refresh: false,
        storage: storage as i32,
    })
}

/// A pasted token, checked before it goes anywhere. huggingface_hub sends it unstripped and
/// crashes on an illegal header; we say what is wrong instead.
fn checked_token(raw: String) -> Result<Token> {
    if raw.is_empty() {
        return Err(Error::InvalidArgument("No token provided.".into()));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::InvalidArgument(
            "The token contains spaces, line breaks or control characters; copy it again without them.".into(),
        ));
    }
    let token = Token::new(raw);
    if token.is_org_token() {
        return Err(Error::InvalidArgument(
            "You must use your personal account token, not an organization token.".into(),
        ));
    }
    Ok(token)
}

fn same_endpoint(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Saves a token under `name` and makes it active, then refreshes the in-memory home. In keyring
/// mode the secret goes to the keyring (verified) before any file is touched; a failing keyring
/// fails the login and nothing is written. `origin` is recorded in its section.
pub(crate) async fn save_and_activate(
    daemon: &Arc<Daemon>,
    ctx: &ClientContext,
    name: &str,
    token: &Token,
    refresh_token: Option<String>,
    expires_at: Option<i64>,
    origin: Option<Origin>,
) -> Result<(disk::Outcome, pb::Storage)> {
    let home = home(daemon, ctx).await?;
    let paths = ctx.paths.clone();
    let (name, token) = (name.to_owned(), token.clone());
    let keyring_mode = daemon.storage() == StorageMode::Keyring;
    let outcome = blocking(move || {
        let kr = home.keyring();
        let was_keyring = home.snapshot().stored.file.get(&name).is_some_and(keyring::is_keyring_section);
        let outcome = if keyring_mode {
            ini::validate_name(&name)?;
            let secret = keyring::Secret { token: token.clone(), refresh: refresh_token.map(Token::new) };
            kr.put(&name, &secret)?;
            ops::save_keyring_and_activate(&paths, &name, &token, expires_at, origin.as_ref(), &kr)?
        } else {
            let section = disk::token_section(&name, &token, refresh_token.as_deref(), expires_at);
            let section = Origin::apply(origin.as_ref(), section);
            let (_, outcome) = ops::save_and_activate(&paths, section)?;
            if was_keyring && let Err(e) = kr.delete(&name) {
                tracing::warn!(%name, error = %e, "could not delete the replaced keyring entry");
            }
            outcome
        };
        home.reload();
        Ok(outcome)
    })
    .await?;
    if let Some(backup) = &outcome.backup {
        tracing::warn!(backup = %backup.display(), "stored_tokens could not be written back whole; backed it up before rewriting");
    }
    // The cache is keyed by token: the answer that just validated this token stays right, and
    // git-credential-hf uses it for the username at once.
    let storage = if keyring_mode { pb::Storage::Keyring } else { pb::Storage::File };
    Ok((outcome, storage))
}

pub(super) async fn logout(daemon: &Arc<Daemon>, req: pb::LogoutRequest) -> Result<pb::LogoutResponse> {
    let ctx = context(req.context)?;
    let home = home(daemon, &ctx).await?;
    let snapshot = home.snapshot();
    let resolved = resolve::resolve(&ctx, &snapshot).ok().and_then(|r| r.token);
    let name = req.token_name.filter(|n| !n.is_empty());
    let all = name.is_none();
    if resolved.is_none() && snapshot.stored.file.is_empty() && snapshot.stored.problem.is_none() {
        // Backups left by earlier rewrites still hold tokens: a logout of everything takes them.
        let stored = ctx.paths.stored_tokens.clone();
        let backups = blocking(move || Ok(crate::secure_fs::list_backups(&stored).unwrap_or_default())).await?;
        if !all || backups.is_empty() {
            return Ok(pb::LogoutResponse { not_logged_in: true, ..Default::default() });
        }
    }
    let paths = ctx.paths.clone();
    let removed = blocking(move || {
        let kr = home.keyring();
        let removed = match &name {
            None => ops::logout_all(&paths, &kr)?,
            Some(name) => ops::logout_one(&paths, name, &kr)?,
        };
        home.reload();
        Ok(removed)
    })
    .await?;
    for token in &removed.tokens {
        daemon.whoami.invalidate(&ctx.endpoint, token);
    }
    Ok(pb::LogoutResponse {
        not_logged_in: false,
        all,
        active_deleted: removed.active_deleted,
        still_logged_in_by_env: env_var(&ctx),
        removed_backups: removed.removed_backups.iter().map(|p| p.display().to_string()).collect(),
    })
}

pub(super) async fn switch(daemon: &Arc<Daemon>, req: pb::SwitchRequest) -> Result<pb::SwitchResponse> {
    let ctx = context(req.context)?;
    let home = home(daemon, &ctx).await?;
    let name = req.token_name;
    let paths = ctx.paths.clone();
    let token = blocking(move || {
        let token = ops::activate(&paths, &name, &home.keyring())?;
        home.reload();
        Ok(token)
    })
    .await?;
    // Nothing to invalidate: cached answers are per token, and the token did not change.
    let overridden_by_env = match ctx.env_token_cleaned() {
        Some((env_token, var)) if env_token != token => var.name().to_owned(),
        _ => String::new(),
    };
    Ok(pb::SwitchResponse { token_path: ctx.paths.token.display().to_string(), overridden_by_env })
}

/// The env variable in force, as huggingface_hub names it in its notes.
fn env_var(ctx: &ClientContext) -> String {
    ctx.env_token_cleaned().map(|(_, var)| var.name().to_owned()).unwrap_or_default()
}
