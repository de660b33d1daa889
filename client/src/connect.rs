//! Reaching hf-authd: one HTTP/2 connection over the Unix socket ([`transport`]), and the one
//! place that classifies a failure (not running → autostart; incompatible → replace; anything
//! else → report).
//!
//! It is also the one place that dials, so it is where the daemon is trusted: before a byte is
//! sent, the socket's directory and the listening process must be the user's own ([`trust`]);
//! and every first call (the handshake) has a bound, so a socket that accepts and never answers
//! gives a clear error instead of a hang.

mod cork;
pub mod transport;
pub mod trust;

use hf_auth_proto::pb::hf_auth_client::HfAuthClient;
use hf_auth_proto::{MAX_MESSAGE_BYTES, PROTOCOL_VERSION, pb};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use trust::Distrust;

pub type Client = HfAuthClient<transport::Connection>;

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

/// Opens a connection to the daemon at `socket`, after checking that the socket's directory and
/// the process listening on it are the user's own. `request_timeout` bounds each call on it. The
/// connection is not re-dialled: after the daemon stops or is replaced, connect again.
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
    let timeout = || ConnectError::Timeout { socket: socket.to_path_buf(), after: connect_timeout };
    tokio::time::timeout(connect_timeout, dial(socket, policy, request_timeout)).await.map_err(|_| timeout())?
}

async fn dial(
    socket: &Path,
    policy: trust::PeerPolicy,
    request_timeout: Option<Duration>,
) -> Result<Client, ConnectError> {
    let untrusted = |reason| ConnectError::Untrusted { socket: socket.to_path_buf(), reason };
    // Connect through the directory that was checked, not by its name again (`trust::check`).
    let Some(checked) = trust::check(socket).map_err(untrusted)? else {
        return Err(ConnectError::NotRunning { socket: socket.to_path_buf() });
    };
    let stream = tokio::net::UnixStream::connect(checked.dial_path()).await.map_err(|e| classify(socket, &e))?;
    checked.confirm().map_err(untrusted)?;
    drop(checked);
    // Before the HTTP/2 preface: the first byte would already go to whoever listens.
    trust::check_peer(&stream, policy).map_err(untrusted)?;
    let (stream, cork) = cork::Corked::new(stream);
    let (send, connection) = h2::client::Builder::new()
        .enable_push(false)
        .initial_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .max_header_list_size(MAX_HEADER_BYTES)
        .handshake(stream)
        .await
        .map_err(|e| ConnectError::Other { socket: socket.to_path_buf(), reason: e.to_string() })?;
    // Ends with the last clone of the client (or when the daemon closes the connection).
    tokio::spawn(async move {
        let _ = connection.await;
    });
    // The URI's authority is required by HTTP/2 but unused: the stream is already connected.
    let origin = http::Uri::from_static("http://hf-authd.sock");
    Ok(HfAuthClient::with_origin(transport::Connection::new(send, cork, request_timeout), origin)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// Flow-control window for each answer: room for the largest message and its gRPC prefix, so no
/// answer waits for a WINDOW_UPDATE.
const STREAM_WINDOW_BYTES: u32 = 2 * MAX_MESSAGE_BYTES as u32;
/// For the connection: several answers' worth, so one stream read slowly (a `Watch`) does not
/// hold up the others' answers.
const CONNECTION_WINDOW_BYTES: u32 = 8 * STREAM_WINDOW_BYTES;
/// Bound on an answer's headers or trailers (ours are a few hundred bytes).
const MAX_HEADER_BYTES: u32 = 16 * 1024;

/// Asks the daemon who it is, within [`HANDSHAKE_TIMEOUT`] (or the connection's own shorter bound).
pub async fn status(client: &mut Client, socket: &Path) -> Result<pb::StatusResponse, ConnectError> {
    let timeout = || ConnectError::Timeout { socket: socket.to_path_buf(), after: HANDSHAKE_TIMEOUT };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, client.status(pb::StatusRequest { context: None })).await {
        Err(_) => Err(timeout()),
        // The connection's own bound on each call may fire first: the same fact.
        Ok(Err(s)) if transport::is_timeout(&s) => Err(timeout()),
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

/// Dialling failed: nobody there (safe to start a daemon), or something else to report.
fn classify(socket: &Path, e: &io::Error) -> ConnectError {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ConnectError::NotRunning { socket: socket.to_path_buf() }
        }
        _ => ConnectError::Other { socket: socket.to_path_buf(), reason: e.to_string() },
    }
}
