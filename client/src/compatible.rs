//! Reaching a daemon of our protocol version: the handshake, and replacing a daemon of another
//! (asked to shut down, then started anew) — unless a service manager runs it, which would start
//! the same old binary again: then the error names the command that restarts it there.

use crate::autostart::{self, StartError};
use crate::connect::{self, Client, ConnectError};
use hf_auth_proto::{Env, pb};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CompatError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(
        "hf-authd at {socket} speaks protocol {theirs}, this client speaks {ours}; it is run by your service manager, which would start the same version again. Restart it there: {hint}",
        socket = .socket.display(), ours = hf_auth_proto::PROTOCOL_VERSION, hint = service_restart_hint()
    )]
    ServiceManaged { socket: std::path::PathBuf, theirs: u32 },
}

/// A connection to the daemon at `socket`, started if needed, of our protocol version.
/// `replacing` is told the other version before a daemon is replaced (the CLI says so).
pub async fn connect(
    env: &Env,
    socket: &Path,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
    replacing: impl FnOnce(u32),
) -> Result<Client, CompatError> {
    let mut client = autostart::connect_or_start(env, socket, connect_timeout, request_timeout).await?;
    match connect::handshake(&mut client, socket).await {
        Ok(_) => Ok(client),
        Err(ConnectError::Incompatible { theirs, service_managed: true, .. }) => {
            Err(CompatError::ServiceManaged { socket: socket.to_path_buf(), theirs })
        }
        Err(ConnectError::Incompatible { theirs, .. }) => {
            replacing(theirs);
            let _ = client.shutdown(pb::ShutdownRequest {}).await;
            drop(client);
            wait_until_stopped(socket).await;
            let mut client = autostart::connect_or_start(env, socket, connect_timeout, request_timeout).await?;
            connect::handshake(&mut client, socket).await?;
            Ok(client)
        }
        Err(e) => Err(e.into()),
    }
}

/// Is this answer (or error) from a daemon of our protocol version?
pub fn is_ours(metadata: &tonic::metadata::MetadataMap) -> bool {
    connect::protocol_of(metadata) == Some(hf_auth_proto::PROTOCOL_VERSION)
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
pub async fn wait_until_stopped(socket: &Path) -> bool {
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
