//! The gRPC server: our service plus `grpc.health.v1` and reflection, v1 and v1alpha (so `grpcurl
//! -unix` and Python's `grpcio-reflection` work), the peer-uid check on every request (the owner
//! only on the main socket; the owner and `[forward] allow_uids` on the forward socket, whose
//! requests it marks remote: `crate::forward`), bounded message sizes, and bounded connections
//! (`conns`: a cap, a handshake timeout, no spinning on EMFILE; HTTP/2 keepalive).
//!
//! As in mini-redis, the caller hands in the listener and the shutdown future: `main` passes
//! signals, tests pass a oneshot. Nothing here binds or sleeps.

use crate::conns::{Origin, PeerInfo};
use crate::service::Service;
use crate::state::Daemon;
use hf_auth_proto::pb::hf_auth_server::HfAuthServer;
use hf_auth_proto::{FILE_DESCRIPTOR_SET, MAX_MESSAGE_BYTES};
use std::future::Future;
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio_stream::StreamExt;
use tonic::transport::Server;
use tonic::{Request, Status};
use tower::layer::util::{Identity, Stack};
use tower::util::MapRequestLayer;

/// Serves until `shutdown` resolves or a client calls `Shutdown`; in-flight requests finish.
pub async fn serve(
    daemon: Arc<Daemon>,
    listener: UnixListener,
    forward: Option<UnixListener>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<HfAuthServer<Service>>().await;
    // Both reflection versions: grpcurl and grpc-go speak v1, Python's grpcio-reflection (1.85)
    // and older tools only v1alpha; the descriptors are the same.
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let service = HfAuthServer::new(Service::new(daemon.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let owner = crate::secure_fs::my_uid();
    let checker = daemon.clone();
    let limits = crate::conns::Limits::from_fd_limit();
    let local = crate::conns::incoming(listener, limits, Origin::Local);
    // The forward socket's connections get their own, smaller cap: a flood through a forward
    // must not crowd out the owner's own programs.
    let forwarded = forward.map(|l| {
        let limits = crate::conns::Limits { max: (limits.max / 4).max(8), ..limits };
        crate::conns::incoming(l, limits, Origin::Forwarded)
    });
    type Incoming = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = std::io::Result<crate::conns::Conn>> + Send>>;
    let incoming: Incoming = match forwarded {
        Some(f) => Box::pin(local.merge(f)),
        None => Box::pin(local),
    };
    let stop = daemon.clone();
    let shutdown = async move {
        tokio::select! {
            () = shutdown => {}
            () = stop.shutdown.notified() => {}
        }
        // End open streams so the graceful shutdown does not wait on them forever.
        stop.begin_stopping();
    };
    builder()
        .layer(tonic::service::InterceptorLayer::new(move |req: Request<()>| check_peer(req, owner, &checker)))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}

/// The async runtime hf-authd serves on (the benchmarks' bare tonic baseline uses the same):
/// two workers, so one slow request never holds up the rest. A current-thread runtime measured
/// the same within this machine's noise (BENCHMARKS.md), so the safer one stays.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    crate::malloc::one_arena();
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("hf-authd").enable_all().build()
}

/// Runs `main`, the daemon's whole life, as a task on `runtime`'s workers rather than on the
/// thread that calls `block_on`. There, the accept loop ran on the main thread: each new
/// connection woke it from the worker that saw the listener ready, and the connection's task
/// then woke a worker again: two cross-thread wake-ups before the first byte was read, for every
/// one-shot client (BENCHMARKS.md, "Round 2"). On a worker, the worker that sees the listener
/// ready accepts, and runs the new connection's task next.
pub fn run_on_workers<F>(runtime: &tokio::runtime::Runtime, main: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime.block_on(async move {
        match tokio::spawn(main).await {
            Ok(output) => output,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only a runtime shutting down cancels it, and nothing shuts this one down early.
            Err(e) => panic!("the daemon's main task was cancelled: {e}"),
        }
    })
}

/// Requests one connection carries at once: HTTP/2's stream limit and the concurrency limit are
/// one number, so no stream waits outside the request budget (`crate::request_budget`) holding
/// its headers. High, because a client that opens many streams at once on a new connection,
/// before it has the limit, has the ones past it refused (a thousand concurrent calls on one
/// channel are a test here).
pub const MAX_STREAMS: u32 = 1024;

/// The server [`builder`] makes: tonic's, with every request body counted against
/// [`crate::request_budget`].
pub type Builder = Server<Stack<MapRequestLayer<fn(BudgetedRequest) -> BudgetedRequest>, Identity>>;
type BudgetedRequest = http::Request<tonic::body::Body>;

/// The HTTP/2 server settings hf-authd serves with (the benchmarks' bare tonic baseline uses
/// the same), and the one budget for request messages still arriving.
pub fn builder() -> Builder {
    Server::builder()
        // Peers that went away without closing are noticed and their connections closed.
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)))
        .http2_max_header_list_size(16 * 1024)
        .max_frame_size(Some(16 * 1024))
        // tonic leaves hyper's limit on streams unset (none at all), and streams past the
        // concurrency limit waited outside the budget below, each holding its headers.
        .max_concurrent_streams(Some(MAX_STREAMS))
        .concurrency_limit_per_connection(MAX_STREAMS as usize)
        .layer(MapRequestLayer::new(crate::request_budget::budgeted as fn(BudgetedRequest) -> BudgetedRequest))
}

/// Only the daemon's own user may talk to it (ssh-agent's rule; git's credential-cache lacks it);
/// on the forward socket, also the uids `[forward] allow_uids` names. Forwarded requests leave
/// here marked [`crate::forward::Remote`].
fn check_peer(mut req: Request<()>, owner: u32, daemon: &Daemon) -> Result<Request<()>, Status> {
    // Read in place (no clone of the peer, with its executable's name, per request).
    let Some((Some(uid), origin)) = req.extensions().get::<PeerInfo>().map(|p| (p.uid, p.origin)) else {
        return Err(Status::permission_denied("hf-authd could not identify the peer of this connection"));
    };
    match origin {
        Origin::Local if uid == owner => Ok(req),
        Origin::Local => {
            tracing::warn!(peer_uid = uid, "refused a request from another user");
            Err(Status::permission_denied(format!(
                "hf-authd serves uid {owner} only; this request came from uid {uid}"
            )))
        }
        Origin::Forwarded if crate::forward::uid_allowed(daemon, owner, uid) => {
            req.extensions_mut().insert(crate::forward::Remote);
            Ok(req)
        }
        Origin::Forwarded => {
            tracing::warn!(peer_uid = uid, "refused a forwarded request from a uid [forward] allow_uids lacks");
            let peer = req.extensions().get::<PeerInfo>();
            daemon.audit.refusal("(any)", peer, &format!("uid {uid} is not allowed on the forward socket"));
            Err(Status::permission_denied(format!(
                "hf-authd's forward socket serves uid {owner} and [forward] allow_uids {:?} only; this request came from uid {uid}",
                daemon.config.forward.allow_uids
            )))
        }
    }
}
