//! Reaching hf-authd: one gRPC channel over the Unix socket, and the one place that classifies
//! a failure (not running → autostart; incompatible → replace; anything else → report).

use hf_auth_proto::pb::hf_auth_client::HfAuthClient;
use hf_auth_proto::{MAX_MESSAGE_BYTES, PROTOCOL_VERSION, pb};
use hyper_util::rt::TokioIo;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

pub type Client = HfAuthClient<Channel>;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No socket, or nobody listening on it: safe to start a daemon.
    #[error("hf-authd is not running (socket {socket})")]
    NotRunning { socket: PathBuf },
    /// Someone answers but speaks another protocol version.
    #[error("hf-authd at {socket} speaks protocol {theirs}, this client speaks {PROTOCOL_VERSION}")]
    Incompatible { socket: PathBuf, theirs: u32 },
    #[error("hf-authd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach hf-authd at {socket}: {reason}")]
    Other { socket: PathBuf, reason: String },
}

/// Opens a channel to the daemon at `socket`. `request_timeout` bounds each call on it.
pub async fn connect(
    socket: &Path,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
) -> Result<Client, ConnectError> {
    let path = socket.to_path_buf();
    // The URI is required by the API but unused: our connector always dials the socket.
    let mut endpoint = Endpoint::from_static("http://hf-authd.sock").connect_timeout(connect_timeout);
    if let Some(t) = request_timeout {
        endpoint = endpoint.timeout(t);
    }
    let connector = tower::service_fn(move |_: http::Uri| {
        let path = path.clone();
        async move { tokio::net::UnixStream::connect(path).await.map(TokioIo::new) }
    });
    let channel = match tokio::time::timeout(connect_timeout, endpoint.connect_with_connector(connector)).await {
        Err(_) => return Err(ConnectError::Timeout(connect_timeout)),
        Ok(Err(e)) => return Err(classify(socket, &e)),
        Ok(Ok(c)) => c,
    };
    Ok(HfAuthClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// Asks the daemon who it is; refuses one of another protocol version.
pub async fn handshake(client: &mut Client, socket: &Path) -> Result<pb::StatusResponse, ConnectError> {
    let status = client
        .status(pb::StatusRequest { context: None })
        .await
        .map_err(|s| ConnectError::Other { socket: socket.to_path_buf(), reason: s.message().to_owned() })?
        .into_inner();
    if status.protocol != PROTOCOL_VERSION {
        return Err(ConnectError::Incompatible { socket: socket.to_path_buf(), theirs: status.protocol });
    }
    Ok(status)
}

fn classify(socket: &Path, e: &(dyn std::error::Error + 'static)) -> ConnectError {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                    ConnectError::NotRunning { socket: socket.to_path_buf() }
                }
                _ => ConnectError::Other { socket: socket.to_path_buf(), reason: io.to_string() },
            };
        }
        source = err.source();
    }
    ConnectError::Other { socket: socket.to_path_buf(), reason: e.to_string() }
}
