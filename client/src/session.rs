//! One invocation's context: the caller's environment (read once), its Hub context, the output
//! settings and the socket; and the daemon connection made from them.

use crate::autostart;
use crate::compatible;
use crate::connect::Client;
use crate::failure::Failure;
use crate::output::Out;
use hf_auth_proto::{ClientContext, Env, pb};
use std::path::PathBuf;
use std::time::Duration;

/// Generous enough for a Hub round trip (whoami has a 10 s timeout of its own).
pub const HUB_CALL_TIMEOUT: Duration = Duration::from_secs(30);
pub const LOCAL_CALL_TIMEOUT: Duration = Duration::from_secs(10);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Session {
    pub env: Env,
    pub ctx: ClientContext,
    pub out: Out,
    pub socket: PathBuf,
}

impl Session {
    pub fn new(env: Env, out: Out) -> Result<Self, Failure> {
        let socket = hf_auth_proto::socket::default_socket_path(&env).map_err(|e| Failure::msg(e.to_string()))?;
        Ok(Self { ctx: ClientContext::from_env(&env), env, out, socket })
    }

    /// This session, with the token choice of a command's flags (`--token-name`, `--repo`, `--write`).
    pub fn choosing(&self, args: &crate::cli::ChoiceArgs) -> Self {
        let mut s = self.clone();
        if let Some(name) = &args.name.token_name {
            s.ctx.routing.token_name = Some(name.clone());
        }
        if let Some(repo) = &args.repo {
            let access = if args.write { hf_auth_proto::Access::Write } else { hf_auth_proto::Access::Read };
            s.ctx = s.ctx.for_repo(Some(repo.clone()), access);
        }
        s
    }

    pub fn context(&self) -> Option<pb::ClientContext> {
        Some(self.ctx.to_pb())
    }

    /// One call without a `Status` handshake first: `call` runs on a plain connection, and only
    /// when the answer does not carry our protocol version ([`hf_auth_proto::PROTOCOL_HEADER`]: an
    /// older or newer daemon, or an error) is the handshake done — replacing that daemon — and the
    /// call made again. The common case is one round trip.
    pub async fn call_once<T, F, Fut>(&self, request_timeout: Option<Duration>, call: F) -> Result<T, Failure>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let client = autostart::connect_or_start(&self.env, &self.socket, CONNECT_TIMEOUT, request_timeout).await?;
        match call(client).await {
            Ok(response) if compatible::is_ours(response.metadata()) => return Ok(response.into_inner()),
            Err(status) if compatible::is_ours(status.metadata()) => return Err(status.into()),
            _ => {}
        }
        let client = self.client(request_timeout).await?;
        Ok(call(client).await?.into_inner())
    }

    /// A connection to the daemon, started if needed, of our protocol version (see
    /// [`crate::compatible`]: another version's daemon is replaced, a service-managed one named).
    pub async fn client(&self, request_timeout: Option<Duration>) -> Result<Client, Failure> {
        let out = &self.out;
        let replacing = |theirs| out.info(&format!("Replacing hf-authd (protocol {theirs}) with this version's."));
        Ok(compatible::connect(&self.env, &self.socket, CONNECT_TIMEOUT, request_timeout, replacing).await?)
    }

    pub fn log_path(&self) -> PathBuf {
        autostart::log_path(&self.env)
    }
}
