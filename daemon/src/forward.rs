//! What a request that came through the forward socket may do (`[forward]` in config.toml).
//!
//! Such a request is **remote**: it comes from another machine (`hf-auth ssh` carried the socket
//! there) or a container (the socket bind-mounted in). So:
//! - who: the peer uid must be the daemon's owner or one of `allow_uids` (checked per request in
//!   `server.rs`, like the main socket's owner-only rule);
//! - where: the caller's paths name files on another machine, so they are ignored — every answer
//!   comes from the daemon's own default home; its cwd, env token and OIDC variables are dropped
//!   for the same reason;
//! - what: read-only (Resolve, WhoAmI, List, Watch, Status, ForgetWhoAmI); everything that
//!   changes tokens or the daemon is refused with [`read_only`];
//! - which token: `[forward] token`, when set, is the only one it gets, whatever name or git
//!   account the request asks for.

use crate::conns::{Origin, PeerInfo};
use crate::error::{Error, Result};
use crate::state::Daemon;
use hf_auth_proto::pb;
use tonic::Request;

/// Marks a request that arrived on the forward socket (set by the server's peer check).
#[derive(Clone, Copy, Debug)]
pub struct Remote;

/// Is this request remote?
pub fn is_remote<T>(req: &Request<T>) -> bool {
    req.extensions().get::<Remote>().is_some()
}

/// The connection's peer, as accepted, from a request's extensions (borrowed there, so the
/// message itself can move on).
pub fn peer(extensions: &tonic::Extensions) -> Option<&PeerInfo> {
    extensions.get::<PeerInfo>()
}

/// Whether a peer on the forward socket may be served at all.
pub fn uid_allowed(daemon: &Daemon, owner: u32, uid: u32) -> bool {
    uid == owner || daemon.config.forward.allow_uids.contains(&uid)
}

/// The refusal for an operation a remote caller may not run.
pub fn read_only(op: &str) -> tonic::Status {
    tonic::Status::permission_denied(format!(
        "{op} is not available through a forwarded hf-authd (hf-auth ssh or a container): it is \
         read-only there. Run it on the machine where hf-authd runs."
    ))
}

/// Refuses `op` for a remote request (and writes the refusal to the audit log).
pub fn refuse_if_remote<T>(daemon: &Daemon, req: &Request<T>, op: &'static str) -> Result<(), tonic::Status> {
    if !is_remote(req) {
        return Ok(());
    }
    daemon.audit.refusal(op, peer(req.extensions()), "read-only through the forward socket");
    tracing::info!(op, "refused a write operation from a forwarded connection");
    Err(read_only(op))
}

/// The context a remote request is answered with: the daemon's own default home (the caller's
/// paths are another machine's), no cwd, env token or OIDC, and `[forward] token` when set.
/// `None` (the version handshake sends no context) stays `None`.
pub fn localize(daemon: &Daemon, ctx: Option<pb::ClientContext>) -> Result<Option<pb::ClientContext>> {
    let Some(mut ctx) = ctx else { return Ok(None) };
    let home = daemon.own_home().ok_or_else(|| {
        Error::FailedPrecondition("this hf-authd has no default home to answer forwarded requests from".into())
    })?;
    ctx.token_path = home.paths.token.to_string_lossy().into_owned();
    ctx.stored_tokens_path = home.paths.stored_tokens.to_string_lossy().into_owned();
    ctx.env_token = None;
    ctx.env_token_var = pb::EnvTokenVar::Unspecified as i32;
    ctx.cwd.clear();
    ctx.oidc = None;
    if let Some(only) = &daemon.config.forward.token {
        match ctx.token_name.as_deref().filter(|n| !n.is_empty()) {
            Some(asked) if asked != only => {
                return Err(Error::PermissionDenied(format!(
                    "only the token {only:?} is forwarded ([forward] token in hf-authd's config.toml); {asked:?} was asked for"
                )));
            }
            _ => ctx.token_name = Some(only.clone()),
        }
    }
    Ok(Some(ctx))
}

/// [`localize`] for `Resolve`, whose git account (`username`) picks that account's stored token
/// ahead of any name: with `[forward] token` set the account is dropped, or a remote `git push
/// https://alice@…` would get alice's other tokens.
pub fn localize_resolve(daemon: &Daemon, req: &mut pb::ResolveRequest) -> Result<()> {
    req.context = localize(daemon, req.context.take())?;
    if daemon.config.forward.token.is_some() {
        req.username.clear();
    }
    Ok(())
}

/// The name a remote `List` may show, when `[forward] token` limits it to one.
pub fn visible_token(daemon: &Daemon) -> Option<&str> {
    daemon.config.forward.token.as_deref()
}

impl Origin {
    /// The request extension for this origin, if any.
    pub fn marker(self) -> Option<Remote> {
        (self == Origin::Forwarded).then_some(Remote)
    }
}
