//! The baseline for `Resolve`: a bare tonic server of the same service, whose `Resolve` returns a
//! fixed answer of the same size as hf-authd's, run as a separate process (this bench binary again,
//! `--bare-tonic-server PATH`) with hf-authd's runtime (`hf_authd::server::runtime`) and server
//! settings (`hf_authd::server::builder`) and hf-authd's accept loop (`hf_authd::conns`, on a
//! worker: `hf_authd::server::run_on_workers`). What hf-authd costs above it is its own work:
//! context decoding, the home lookup, routing, the interceptor.

use crate::setup::TOKEN;
use hf_auth_proto::pb::{self, hf_auth_server::HfAuthServer};
use hf_auth_tests::stub_daemon::StubDaemon;
use std::path::Path;

pub const FLAG: &str = "--bare-tonic-server";

/// Server side: serves `socket` until killed.
pub fn serve(socket: &Path) -> anyhow::Result<()> {
    let runtime = hf_authd::server::runtime()?;
    let socket = socket.to_path_buf();
    hf_authd::server::run_on_workers(&runtime, async move {
        let listener = tokio::net::UnixListener::bind(&socket)?;
        println!("ready");
        // Decode what hf-authd decodes, answer what it answers (same token and source).
        let bare = StubDaemon::new().with_resolve(|| {
            Ok(pb::ResolveResponse {
                token: TOKEN.to_owned(),
                source: pb::TokenSource::File as i32,
                reason: pb::RouteReason::Active as i32,
                protocol: hf_auth_proto::PROTOCOL_VERSION,
                ..Default::default()
            })
        });
        let service = HfAuthServer::new(bare)
            .max_decoding_message_size(hf_auth_proto::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(hf_auth_proto::MAX_MESSAGE_BYTES);
        let incoming = hf_authd::conns::incoming(
            listener,
            hf_authd::conns::Limits::from_fd_limit(),
            hf_authd::conns::Origin::Local,
        );
        hf_authd::server::builder().add_service(service).serve_with_incoming(incoming).await?;
        Ok(())
    })
}
