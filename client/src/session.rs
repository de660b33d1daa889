//! One invocation's context: the caller's environment (read once), its Hub context, the output
//! settings and the socket; and the daemon connection made from them.

use crate::autostart;
use crate::connect::{self, Client, ConnectError};
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

    /// A connection to the daemon, started if needed, of our protocol version (an older or
    /// newer daemon is asked to shut down and replaced, unless a service manager runs it: it
    /// would start the same old binary again, so the user is told how to restart it there).
    pub async fn client(&self, request_timeout: Option<Duration>) -> Result<Client, Failure> {
        let mut client = autostart::connect_or_start(&self.env, &self.socket, CONNECT_TIMEOUT, request_timeout).await?;
        match connect::handshake(&mut client, &self.socket).await {
            Ok(_) => Ok(client),
            Err(ConnectError::Incompatible { theirs, service_managed: true, .. }) => Err(Failure::msg(format!(
                "hf-authd at {} speaks protocol {theirs}, this client speaks {}; it is run by your service manager, \
                 which would start the same version again. Restart it there: {}",
                self.socket.display(),
                hf_auth_proto::PROTOCOL_VERSION,
                service_restart_hint()
            ))),
            // A forwarded daemon (hf-auth ssh) is the other machine's to replace, and refuses Shutdown.
            Err(ConnectError::Incompatible { theirs, .. })
                if hf_auth_proto::socket::forward_marker_path(&self.socket).exists() =>
            {
                Err(Failure::msg(format!(
                    "the hf-authd forwarded here by `hf-auth ssh` ({}) speaks protocol {theirs}, this client speaks {}; install the same hf-auth version on both machines",
                    self.socket.display(),
                    hf_auth_proto::PROTOCOL_VERSION
                )))
            }
            Err(ConnectError::Incompatible { theirs, .. }) => {
                self.out.info(&format!("Replacing hf-authd (protocol {theirs}) with this version's."));
                let _ = client.shutdown(pb::ShutdownRequest {}).await;
                drop(client);
                wait_until_stopped(&self.socket).await;
                let mut client =
                    autostart::connect_or_start(&self.env, &self.socket, CONNECT_TIMEOUT, request_timeout).await?;
                connect::handshake(&mut client, &self.socket).await?;
                Ok(client)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn log_path(&self) -> PathBuf {
        autostart::log_path(&self.env)
    }
}

/// How to restart a service-managed daemon (after an upgrade installed a new binary).
pub fn service_restart_hint() -> &'static str {
    if cfg!(target_os = "macos") {
        "launchctl kickstart -k gui/$(id -u)/co.huggingface.hf-authd"
    } else {
        "systemctl --user restart hf-authd.service"
    }
}

/// Waits (bounded) until nothing answers on the socket any more.
pub async fn wait_until_stopped(socket: &std::path::Path) -> bool {
    let mut pause = Duration::from_millis(2);
    for _ in 0..40 {
        if tokio::net::UnixStream::connect(socket).await.is_err() {
            return true;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
    false
}
