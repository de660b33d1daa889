//! Reaching hf-authd: one gRPC channel over the Unix socket, and the one place that classifies
//! a failure (not running → autostart; incompatible → replace; anything else → report).
//!
//! It is also the one place that dials, so it is where the daemon is trusted: before a byte is
//! sent, the socket's directory and the listening process must be the user's own ([`trust`]);
//! and every first call (the handshake) has a bound, so a socket that accepts and never answers
//! gives a clear error instead of a hang.

pub mod trust;

use hf_auth_proto::pb::hf_auth_client::HfAuthClient;
use hf_auth_proto::{MAX_MESSAGE_BYTES, PROTOCOL_VERSION, pb};
use hyper_util::rt::TokioIo;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};
pub use trust::Distrust;

pub type Client = HfAuthClient<Channel>;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No socket, or nobody listening on it: safe to start a daemon.
    #[error("hf-authd is not running (socket {socket})")]
    NotRunning { socket: PathBuf },
    /// Someone answers but speaks another protocol version. `service_managed`: a service manager
    /// started it (and would start the same binary again if it stopped).
    #[error("hf-authd at {socket} speaks protocol {theirs}, this client speaks {PROTOCOL_VERSION}")]
    Incompatible { socket: PathBuf, theirs: u32, service_managed: bool },
    /// The socket or the process behind it is not the user's own: nothing was sent.
    #[error("refusing to use the hf-authd socket {socket}: {reason}")]
    Untrusted { socket: PathBuf, reason: Distrust },
    #[error(
        "hf-authd at {socket} did not answer within {after:?}; if it is hung, end it (`kill $(cat {socket}.pid)`) and try again"
    )]
    Timeout { socket: PathBuf, after: Duration },
    #[error("cannot reach hf-authd at {socket}: {reason}")]
    Other { socket: PathBuf, reason: String },
}

/// Bound on the first call to a daemon (Status): a local, in-memory answer.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a channel to the daemon at `socket`, after checking that the socket's directory and the
/// process listening on it are the user's own. `request_timeout` bounds each call on it.
pub async fn connect(
    socket: &Path,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
) -> Result<Client, ConnectError> {
    connect_with(socket, trust::PeerPolicy::OwnerOrRoot, connect_timeout, request_timeout).await
}

/// [`connect`], accepting listeners as `policy` says (see [`trust::PeerPolicy`]).
pub async fn connect_with(
    socket: &Path,
    policy: trust::PeerPolicy,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
) -> Result<Client, ConnectError> {
    trust::check_path(socket).map_err(|reason| ConnectError::Untrusted { socket: socket.to_path_buf(), reason })?;
    let path = socket.to_path_buf();
    // The URI is required by the API but unused: our connector always dials the socket.
    let mut endpoint = Endpoint::from_static("http://hf-authd.sock").connect_timeout(connect_timeout);
    if let Some(t) = request_timeout {
        endpoint = endpoint.timeout(t);
    }
    let connector = tower::service_fn(move |_: http::Uri| {
        let path = path.clone();
        async move {
            let stream = tokio::net::UnixStream::connect(path).await?;
            // Before the HTTP/2 preface: the first byte would already go to whoever listens.
            trust::check_peer(&stream, policy).map_err(io::Error::other)?;
            Ok::<_, io::Error>(TokioIo::new(stream))
        }
    });
    let channel = match tokio::time::timeout(connect_timeout, endpoint.connect_with_connector(connector)).await {
        Err(_) => return Err(ConnectError::Timeout { socket: socket.to_path_buf(), after: connect_timeout }),
        Ok(Err(e)) => return Err(classify(socket, &e)),
        Ok(Ok(c)) => c,
    };
    Ok(HfAuthClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// Asks the daemon who it is, within [`HANDSHAKE_TIMEOUT`] (or the channel's own shorter bound).
pub async fn status(client: &mut Client, socket: &Path) -> Result<pb::StatusResponse, ConnectError> {
    let timeout = || ConnectError::Timeout { socket: socket.to_path_buf(), after: HANDSHAKE_TIMEOUT };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, client.status(pb::StatusRequest { context: None })).await {
        Err(_) => Err(timeout()),
        // The channel's request timeout (tower's) may fire first: the same fact.
        Ok(Err(s)) if s.code() == tonic::Code::Cancelled && s.message().contains("Timeout expired") => Err(timeout()),
        Ok(Err(s)) => Err(ConnectError::Other { socket: socket.to_path_buf(), reason: s.message().to_owned() }),
        Ok(Ok(r)) => Ok(r.into_inner()),
    }
}

/// Asks the daemon who it is; refuses one of another protocol version.
pub async fn handshake(client: &mut Client, socket: &Path) -> Result<pb::StatusResponse, ConnectError> {
    let status = status(client, socket).await?;
    if status.protocol != PROTOCOL_VERSION {
        return Err(ConnectError::Incompatible {
            socket: socket.to_path_buf(),
            theirs: status.protocol,
            service_managed: status.service_managed,
        });
    }
    Ok(status)
}

/// The protocol version a daemon's answer says it speaks (`None`: no header, an old daemon).
pub fn protocol_of(metadata: &tonic::metadata::MetadataMap) -> Option<u32> {
    metadata.get(hf_auth_proto::PROTOCOL_HEADER)?.to_str().ok()?.parse().ok()
}

/// Is this answer (or error) from a daemon of our protocol version?
pub fn is_ours(metadata: &tonic::metadata::MetadataMap) -> bool {
    protocol_of(metadata) == Some(PROTOCOL_VERSION)
}

fn classify(socket: &Path, e: &(dyn std::error::Error + 'static)) -> ConnectError {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            // io::Error hides its payload from `source()`: look inside for our own refusal.
            if let Some(reason) = io.get_ref().and_then(|e| e.downcast_ref::<Distrust>()) {
                return ConnectError::Untrusted { socket: socket.to_path_buf(), reason: reason.clone() };
            }
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
