//! The gRPC server: our service plus `grpc.health.v1` and reflection, v1 and v1alpha (so `grpcurl
//! -unix` and Python's `grpcio-reflection` work),
//! the peer-uid check on every request, bounded message sizes, and bounded connections
//! (`conns`: a cap, a handshake timeout, no spinning on EMFILE; HTTP/2 keepalive).
//!
//! As in mini-redis, the caller hands in the listener and the shutdown future: `main` passes
//! signals, tests pass a oneshot. Nothing here binds or sleeps.

use crate::service::Service;
use crate::state::Daemon;
use hf_auth_proto::pb::hf_auth_server::HfAuthServer;
use hf_auth_proto::{FILE_DESCRIPTOR_SET, MAX_MESSAGE_BYTES};
use std::future::Future;
use std::sync::Arc;
use tokio::net::UnixListener;
use tonic::transport::Server;
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Status};

/// Serves until `shutdown` resolves or a client calls `Shutdown`; in-flight requests finish.
pub async fn serve(
    daemon: Arc<Daemon>,
    listener: UnixListener,
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
        .layer(tonic::service::InterceptorLayer::new(move |req: Request<()>| check_peer(req, owner)))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(crate::conns::incoming(listener, crate::conns::Limits::from_fd_limit()), shutdown)
        .await?;
    Ok(())
}

/// The HTTP/2 server settings hf-authd serves with (the benchmarks' bare tonic baseline uses
/// the same).
pub fn builder() -> Server {
    Server::builder()
        // Peers that went away without closing are noticed and their connections closed.
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)))
        .http2_max_header_list_size(16 * 1024)
        .max_frame_size(Some(16 * 1024))
        .concurrency_limit_per_connection(256)
}

/// Only the daemon's own user may talk to it (ssh-agent's rule; git's credential-cache lacks it).
fn check_peer(req: Request<()>, owner: u32) -> Result<Request<()>, Status> {
    let peer = req.extensions().get::<UdsConnectInfo>().and_then(|i| i.peer_cred).map(|c| c.uid());
    match peer {
        Some(uid) if uid == owner => Ok(req),
        Some(uid) => {
            tracing::warn!(peer_uid = uid, "refused a request from another user");
            Err(Status::permission_denied(format!(
                "hf-authd serves uid {owner} only; this request came from uid {uid}"
            )))
        }
        None => Err(Status::permission_denied("hf-authd could not identify the peer of this connection")),
    }
}
