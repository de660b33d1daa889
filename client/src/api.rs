//! The API other Rust tools call to get a Hub token: ask hf-authd for the token it would give
//! this process (its environment, its working directory, the repository it is about), and when no
//! daemon runs, fall back to huggingface_hub's own order (`HF_TOKEN`, `HUGGING_FACE_HUB_TOKEN`, then
//! the token file), so a tool that adopts it works the same on machines without hf-authd.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hf_auth::api::Error> {
//! use hf_auth::api::HfAuth;
//! // Reads the process environment once; asks about one repository (routing rules apply).
//! let auth = HfAuth::from_env()?.repo("acme/private-model");
//! if let Some(resolved) = auth.token().await? {
//!     // hand resolved.token.expose() to your Hub client (hf-hub: HFClientBuilder::token)
//!     println!("token from {:?}, named {:?}", resolved.source, resolved.name);
//! }
//! # Ok(()) }
//! ```
//!
//! - **Daemon first, never started behind your back**: the library connects to a running
//!   daemon only; [`HfAuth::autostart`] opts in to starting one (as our own binaries do).
//! - **Bounded**: connecting and each call have timeouts ([`HfAuth::timeouts`]); a missing daemon
//!   is not an error ([`HfAuth::fallback`] decides what happens instead). A socket that is not the
//!   user's own ([`crate::connect::trust`]) is an error, never a silent fallback.
//! - **Blocking or async**: every call has a `_blocking` twin ([`blocking`]) that runs its own
//!   small runtime; call those from plain threads, not from inside a tokio runtime.
//! - What the fallback cannot do (the daemon does): OAuth refresh, keyring-held tokens without a
//!   token file, OIDC exchange, routing by name, repo or directory.

pub mod blocking;
pub mod fallback;

use crate::autostart::{self, StartError};
use crate::connect::{self, Client, ConnectError};
use hf_auth_proto::socket::SocketPathError;
use hf_auth_proto::{Access, ClientContext, Env, EnvVar, Token, pb};
use std::path::PathBuf;
use std::time::Duration;
use tokio_stream::{Stream, StreamExt};

/// Defaults for reaching the daemon: a local socket, an in-memory answer.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The caller's environment variable (it wins over stored tokens, as in huggingface_hub).
    Env(EnvVar),
    /// huggingface_hub's token file.
    File,
    /// The OS keyring, through the daemon (keyring storage without the token-file mirror).
    Keyring,
    /// Exchanged by the daemon for this CI job's OIDC id token (trusted publishing).
    Oidc,
}

/// A resolved token and what is known about it. `Debug` shows the token masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub token: Token,
    pub source: Source,
    /// True when hf-authd answered; false for the no-daemon fallback.
    pub from_daemon: bool,
    /// The stored token's name, when the daemon knows it.
    pub name: Option<String>,
    /// The owner's user name, when the daemon's whoami cache knows it.
    pub username: Option<String>,
    /// Unix seconds after which the token stops working (OAuth tokens), when known.
    pub expires_at: Option<i64>,
}

/// Why a call failed. A daemon that is simply not running is not among them when the fallback
/// is on (the default); see [`Error::is_no_daemon`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Socket(#[from] SocketPathError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Start(#[from] StartError),
    /// The daemon answered with an error (e.g. an unknown `token_name`).
    #[error("hf-authd: {}", .0.message())]
    Daemon(#[from] tonic::Status),
    #[error("cannot start an async runtime for a blocking call: {0}")]
    Runtime(std::io::Error),
}

impl Error {
    /// No daemon could be reached because none runs (and none was, or could be, started).
    pub fn is_no_daemon(&self) -> bool {
        matches!(
            self,
            Error::Connect(ConnectError::NotRunning { .. })
                | Error::Start(
                    StartError::Connect(ConnectError::NotRunning { .. })
                        | StartError::Disabled { .. }
                        | StartError::Spawn { .. }
                )
        )
    }
}

/// One tool's view: its environment and context, and how to reach the daemon.
#[derive(Clone, Debug)]
pub struct HfAuth {
    env: Env,
    ctx: ClientContext,
    socket: Option<PathBuf>,
    username: String,
    autostart: bool,
    fallback: bool,
    check_version: bool,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl HfAuth {
    /// This process's environment and working directory (read once, here).
    pub fn from_env() -> Result<Self, Error> {
        Ok(Self::new(Env::from_process()))
    }

    /// An environment given by hand (tests, tools that run on behalf of another environment).
    pub fn new(env: Env) -> Self {
        let ctx = ClientContext::from_env(&env);
        Self::with_context(env, ctx)
    }

    /// A context already captured (our binaries pass theirs).
    pub fn with_context(env: Env, ctx: ClientContext) -> Self {
        Self {
            env,
            ctx,
            socket: None,
            username: String::new(),
            autostart: false,
            fallback: true,
            check_version: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// The repository the token is for: `acme/x`, `datasets/acme/x`, `spaces/acme/x`.
    pub fn repo(self, repo: impl Into<String>) -> Self {
        self.repo_access(repo, Access::Unspecified)
    }

    /// The repository, and whether the caller will write to it (a token with write scope).
    pub fn repo_access(mut self, repo: impl Into<String>, access: Access) -> Self {
        self.ctx = self.ctx.for_repo(Some(repo.into()), access);
        self
    }

    /// A stored token by name (as `HF_AUTH_TOKEN_NAME`); the daemon refuses an unknown name.
    pub fn token_name(mut self, name: impl Into<String>) -> Self {
        self.ctx.routing.token_name = Some(name.into());
        self
    }

    /// git's account name: when a stored token belongs to it, that token is preferred.
    pub fn for_user(mut self, username: impl Into<String>) -> Self {
        self.username = username.into();
        self
    }

    /// Another socket than the one the environment names (`HF_AUTH_SOCKET`, …).
    pub fn socket(mut self, socket: impl Into<PathBuf>) -> Self {
        self.socket = Some(socket.into());
        self
    }

    /// Start hf-authd when it is not running (default: no; a library should not spawn daemons
    /// unasked). Also replaces a running daemon of another protocol version.
    pub fn autostart(mut self, yes: bool) -> Self {
        self.autostart = yes;
        self
    }

    /// With no daemon, use huggingface_hub's env/file order (default: yes). Off, a missing
    /// daemon is an [`Error`].
    pub fn fallback(mut self, yes: bool) -> Self {
        self.fallback = yes;
        self
    }

    /// Ask the daemon its protocol version before the first call (default: yes). git's helper
    /// turns it off: one round trip fewer per git operation, and a daemon of another version
    /// fails the call instead, which git falls through on.
    pub fn check_version(mut self, yes: bool) -> Self {
        self.check_version = yes;
        self
    }

    pub fn timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    pub fn context(&self) -> &ClientContext {
        &self.ctx
    }

    fn socket_path(&self) -> Result<PathBuf, Error> {
        match &self.socket {
            Some(s) => Ok(s.clone()),
            None => Ok(hf_auth_proto::socket::default_socket_path(&self.env)?),
        }
    }

    /// A checked, version-matched connection (started first when autostart is on). One
    /// connection, not re-dialled: after the daemon restarts, ask for a new client.
    pub async fn client(&self) -> Result<Client, Error> {
        self.dial(Some(self.request_timeout)).await
    }

    async fn dial(&self, request: Option<Duration>) -> Result<Client, Error> {
        let socket = self.socket_path()?;
        let quiet = |_: &str| {};
        Ok(match (self.autostart, self.check_version) {
            (true, true) => {
                autostart::connect_compatible(&self.env, &socket, self.connect_timeout, request, &quiet).await?
            }
            (true, false) => autostart::connect_or_start(&self.env, &socket, self.connect_timeout, request).await?,
            (false, check) => {
                let mut client = connect::connect(&socket, self.connect_timeout, request).await?;
                if check {
                    connect::handshake(&mut client, &socket).await?;
                }
                client
            }
        })
    }

    /// The token to use now, or `None` when not logged in.
    pub async fn token(&self) -> Result<Option<Resolved>, Error> {
        match self.token_from_daemon().await {
            Err(e) if self.fallback && e.is_no_daemon() => Ok(fallback::token(&self.ctx)),
            other => other,
        }
    }

    /// The daemon's answer only (no fallback, whatever [`HfAuth::fallback`] says).
    ///
    /// One round trip: `Resolve` is sent without a `Status` handshake first. Only when the answer
    /// lacks this version, in its `protocol` field or in the protocol header
    /// ([`hf_auth_proto::PROTOCOL_HEADER`], which errors carry, and answers did before the field),
    /// is the version checked — a daemon of another version would ignore routing — and with
    /// autostart, that daemon replaced, and the call made again.
    pub async fn token_from_daemon(&self) -> Result<Option<Resolved>, Error> {
        let request = pb::ResolveRequest { context: Some(self.ctx.to_pb()), username: self.username.clone() };
        let socket = self.socket_path()?;
        let request_timeout = Some(self.request_timeout);
        let mut client = match self.autostart {
            true => autostart::connect_or_start(&self.env, &socket, self.connect_timeout, request_timeout).await?,
            false => connect::connect(&socket, self.connect_timeout, request_timeout).await?,
        };
        match client.resolve(request.clone()).await {
            // The field, or the header a daemon of this version built before the field sent.
            Ok(answer)
                if answer.get_ref().protocol == hf_auth_proto::PROTOCOL_VERSION
                    || connect::is_ours(answer.metadata()) =>
            {
                return Ok(resolved(answer.into_inner()));
            }
            Err(status) if connect::is_ours(status.metadata()) => return Err(status.into()),
            _ => {}
        }
        let mut client = match self.autostart {
            true => {
                autostart::connect_compatible(&self.env, &socket, self.connect_timeout, request_timeout, &|_| {})
                    .await?
            }
            false => {
                // On a new connection: the first may be the one that failed (a connection is
                // never re-dialled).
                let mut client = connect::connect(&socket, self.connect_timeout, request_timeout).await?;
                connect::handshake(&mut client, &socket).await?;
                client
            }
        };
        Ok(resolved(client.resolve(request).await?.into_inner()))
    }

    /// Who the token belongs to (the daemon's cached answer when fresh). Needs a daemon.
    pub async fn whoami(&self) -> Result<pb::WhoAmIResponse, Error> {
        let mut client = self.client().await?;
        let request = pb::WhoAmIRequest { context: Some(self.ctx.to_pb()), token: String::new(), fresh: false };
        Ok(client.who_am_i(request).await?.into_inner())
    }

    /// Changes to this home's tokens, from any writer: first a snapshot, then one event per
    /// change. Events name tokens, never carry them; call [`HfAuth::token`] again on each. Needs a
    /// daemon; the stream has no timeout (it ends when the daemon stops).
    pub async fn watch(&self) -> Result<impl Stream<Item = Result<pb::WatchEvent, Error>> + use<>, Error> {
        // No per-call timeout on a stream that is meant to stay open.
        let mut client = self.dial(None).await?;
        let stream = client.watch(pb::WatchRequest { context: Some(self.ctx.to_pb()) }).await?.into_inner();
        Ok(stream.map(|item| item.map_err(Error::from)))
    }
}

fn resolved(r: pb::ResolveResponse) -> Option<Resolved> {
    let source = match pb::TokenSource::try_from(r.source).unwrap_or(pb::TokenSource::None) {
        pb::TokenSource::None => return None,
        pb::TokenSource::EnvHfToken => Source::Env(EnvVar::HfToken),
        pb::TokenSource::EnvHuggingFaceHubToken => Source::Env(EnvVar::HuggingFaceHubToken),
        pb::TokenSource::File => Source::File,
        pb::TokenSource::Keyring => Source::Keyring,
        pb::TokenSource::Oidc => Source::Oidc,
    };
    if r.token.is_empty() {
        return None;
    }
    let some = |s: String| (!s.is_empty()).then_some(s);
    Some(Resolved {
        token: Token::new(r.token),
        source,
        from_daemon: true,
        name: some(r.name),
        username: some(r.username),
        expires_at: (r.expires_at > 0).then_some(r.expires_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_and_token_name_go_into_the_context() {
        let env = Env::from_pairs([("HOME", "/home/u"), ("HF_AUTH_TOKEN_NAME", "from-env")]).with_cwd("/work");
        let auth = HfAuth::new(env.clone());
        let pb = auth.context().to_pb();
        assert_eq!((pb.token_name.as_deref(), pb.cwd.as_str(), pb.repo.as_str()), (Some("from-env"), "/work", ""));
        let pb =
            HfAuth::new(env).token_name("acme-write").repo_access("datasets/acme/x", Access::Write).context().to_pb();
        assert_eq!(pb.token_name.as_deref(), Some("acme-write"));
        assert_eq!(pb.repo, "datasets/acme/x");
        assert_eq!(pb.access, pb::Access::Write as i32);
    }
}
