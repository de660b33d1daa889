//! One invocation's context: the caller's environment (read once), its Hub context, the output
//! settings and the socket; and the daemon connection made from them.

use crate::api::HfAuth;
use crate::autostart;
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

    /// A connection to the daemon, started if needed, of our protocol version (see
    /// [`autostart::replace`]).
    pub async fn client(&self, request_timeout: Option<Duration>) -> Result<Client, Failure> {
        let out = self.out.clone();
        let note = move |text: &str| out.info(text);
        Ok(autostart::connect_compatible(&self.env, &self.socket, CONNECT_TIMEOUT, request_timeout, &note).await?)
    }

    /// The library API ([`crate::api`]) for this invocation: same context, autostart on, no
    /// fallback to the token files (a command reports a daemon it cannot reach).
    pub fn api(&self) -> HfAuth {
        HfAuth::with_context(self.env.clone(), self.ctx.clone())
            .socket(self.socket.clone())
            .autostart(true)
            .fallback(false)
            .timeouts(CONNECT_TIMEOUT, LOCAL_CALL_TIMEOUT)
    }

    pub fn log_path(&self) -> PathBuf {
        autostart::log_path(&self.env)
    }
}

pub use autostart::{service_restart_hint, wait_until_stopped};
