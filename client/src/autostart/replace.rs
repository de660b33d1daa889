//! A connection of our protocol version: a daemon that speaks another one is asked to shut down
//! and replaced by ours, unless a service manager runs it (it would start the same old binary
//! again), in which case the caller is told how to restart it there.

use super::{StartError, connect_or_start};
use crate::connect::{self, Client, ConnectError};
use hf_auth_proto::{Env, pb};
use std::path::Path;
use std::time::Duration;

/// Connects (starting the daemon when needed), then makes sure it speaks our protocol.
/// `note` hears about a replacement ("Replacing hf-authd …"); the library passes a no-op.
pub async fn connect_compatible(
    env: &Env,
    socket: &Path,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
    note: &(dyn Fn(&str) + Send + Sync),
) -> Result<Client, StartError> {
    let mut client = connect_or_start(env, socket, connect_timeout, request_timeout).await?;
    match connect::handshake(&mut client, socket).await {
        Ok(_) => Ok(client),
        Err(ConnectError::Incompatible { theirs, service_managed: true, .. }) => {
            Err(StartError::ServiceManaged { socket: socket.to_path_buf(), theirs, hint: service_restart_hint() })
        }
        // A forwarded daemon (hf-auth ssh) is the other machine's to replace, and refuses Shutdown.
        Err(ConnectError::Incompatible { theirs, .. })
            if hf_auth_proto::socket::forward_marker_path(socket).exists() =>
        {
            Err(StartError::ForwardedIncompatible { socket: socket.to_path_buf(), theirs })
        }
        Err(ConnectError::Incompatible { theirs, .. }) => {
            note(&format!("Replacing hf-authd (protocol {theirs}) with this version's."));
            let _ = client.shutdown(pb::ShutdownRequest {}).await;
            drop(client);
            wait_until_stopped(socket).await;
            let mut client = connect_or_start(env, socket, connect_timeout, request_timeout).await?;
            connect::handshake(&mut client, socket).await?;
            Ok(client)
        }
        Err(e) => Err(e.into()),
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
