//! The baseline for `Resolve`: a bare tonic server of the same service, whose `Resolve` returns a
//! fixed answer of the same size as hf-authd's, run as a separate process (this bench binary again,
//! `--bare-tonic-server PATH`) with hf-authd's runtime (multi-thread, 2 workers) and server
//! settings (`hf_authd::server::builder`) and hf-authd's accept loop (`hf_authd::conns`). What
//! hf-authd costs above it is its own work: context decoding, the home lookup, routing, the
//! interceptor.

use crate::setup::TOKEN;
use hf_auth_proto::pb::{self, hf_auth_server::HfAuth, hf_auth_server::HfAuthServer};
use std::path::Path;
use std::pin::Pin;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

pub const FLAG: &str = "--bare-tonic-server";

type Empty<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[derive(Debug, Default)]
struct Bare;

fn no<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("bare baseline: Resolve only"))
}

#[tonic::async_trait]
impl HfAuth for Bare {
    type DeviceLoginStream = Empty<pb::DeviceLoginEvent>;
    type WatchStream = Empty<pb::WatchEvent>;

    async fn resolve(&self, request: Request<pb::ResolveRequest>) -> Result<Response<pb::ResolveResponse>, Status> {
        // Decode what hf-authd decodes, answer what it answers (same token, name and source).
        let _ = request.into_inner();
        Ok(Response::new(pb::ResolveResponse {
            token: TOKEN.to_owned(),
            source: pb::TokenSource::File as i32,
            reason: pb::RouteReason::Active as i32,
            ..Default::default()
        }))
    }
    async fn login(&self, _: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        no()
    }
    async fn device_login(
        &self,
        _: Request<pb::DeviceLoginRequest>,
    ) -> Result<Response<Self::DeviceLoginStream>, Status> {
        no()
    }
    async fn logout(&self, _: Request<pb::LogoutRequest>) -> Result<Response<pb::LogoutResponse>, Status> {
        no()
    }
    async fn switch(&self, _: Request<pb::SwitchRequest>) -> Result<Response<pb::SwitchResponse>, Status> {
        no()
    }
    async fn list(&self, _: Request<pb::ListRequest>) -> Result<Response<pb::ListResponse>, Status> {
        no()
    }
    async fn who_am_i(&self, _: Request<pb::WhoAmIRequest>) -> Result<Response<pb::WhoAmIResponse>, Status> {
        no()
    }
    async fn forget_who_am_i(
        &self,
        _: Request<pb::ForgetWhoAmIRequest>,
    ) -> Result<Response<pb::ForgetWhoAmIResponse>, Status> {
        no()
    }
    async fn watch(&self, _: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        no()
    }
    async fn status(&self, _: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        no()
    }
    async fn migrate_storage(
        &self,
        _: Request<pb::MigrateStorageRequest>,
    ) -> Result<Response<pb::MigrateStorageResponse>, Status> {
        no()
    }
    async fn shutdown(&self, _: Request<pb::ShutdownRequest>) -> Result<Response<pb::ShutdownResponse>, Status> {
        no()
    }
}

/// Server side: serves `socket` until killed.
pub fn serve(socket: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::UnixListener::bind(socket)?;
        println!("ready");
        let service = HfAuthServer::new(Bare)
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
