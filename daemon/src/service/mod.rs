//! The `hfauth.v1.HfAuth` gRPC service: decodes each request's context, runs one operation
//! (one file each), and encodes the answer. Errors become statuses in `crate::error` only.

mod account;
mod device;
mod info;
mod resolve;
mod storage;
mod watch;

use crate::error::{Error, Result};
use crate::home::Home;
use crate::state::Daemon;
use hf_auth_proto::pb::{self, hf_auth_server::HfAuth};
use hf_auth_proto::{ClientContext, Token};
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

pub type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[derive(Debug, Clone)]
pub struct Service {
    daemon: Arc<Daemon>,
}

impl Service {
    pub fn new(daemon: Arc<Daemon>) -> Self {
        Self { daemon }
    }
}

/// The request's context, validated.
fn context(ctx: Option<pb::ClientContext>) -> Result<ClientContext> {
    let ctx = ctx.ok_or_else(|| Error::InvalidArgument("request has no client context".into()))?;
    ClientContext::from_pb(ctx).map_err(|e| Error::InvalidArgument(e.to_string()))
}

/// The home for a context: from memory when open, else opened off the async runtime.
async fn home(daemon: &Arc<Daemon>, ctx: &ClientContext) -> Result<Arc<Home>> {
    let home = match daemon.homes.peek(&ctx.paths) {
        Some(home) => {
            if home.is_dirty() {
                let h = home.clone();
                tokio::task::spawn_blocking(move || h.reload()).await?;
            }
            home
        }
        None => {
            let homes = daemon.homes.clone();
            let paths = ctx.paths.clone();
            let home = tokio::task::spawn_blocking(move || homes.get(&paths)).await?;
            // A home with keyring tokens: read their secrets in the background, so the active
            // one is known (and its token file restorable) without waiting for a `list`.
            let h = home.clone();
            tokio::spawn(async move { info::warm_keyring(&h).await });
            home
        }
    };
    home.note_client(&ctx.endpoint, &ctx.oauth_client_id);
    Ok(home)
}

/// Runs a blocking store operation on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await?
}

fn pb_source(source: crate::resolve::Source) -> i32 {
    use crate::resolve::Source;
    use hf_auth_proto::EnvVar;
    (match source {
        Source::None => pb::TokenSource::None,
        Source::Env(EnvVar::HfToken) => pb::TokenSource::EnvHfToken,
        Source::Env(EnvVar::HuggingFaceHubToken) => pb::TokenSource::EnvHuggingFaceHubToken,
        Source::File => pb::TokenSource::File,
        Source::Keyring => pb::TokenSource::Keyring,
    }) as i32
}

static VERSION: std::sync::LazyLock<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> =
    std::sync::LazyLock::new(|| hf_auth_proto::PROTOCOL_VERSION.into());

/// A response carrying the protocol header ([`hf_auth_proto::PROTOCOL_HEADER`]).
fn versioned<T>(message: T) -> Response<T> {
    let mut response = Response::new(message);
    response.metadata_mut().insert(hf_auth_proto::PROTOCOL_HEADER, VERSION.clone());
    response
}

/// An error status carrying the protocol header too: the client then knows the error is this
/// version's answer, not an older daemon's.
fn versioned_error(e: Error) -> Status {
    let mut status = Status::from(e);
    status.metadata_mut().insert(hf_auth_proto::PROTOCOL_HEADER, VERSION.clone());
    status
}

macro_rules! unary {
    ($self:ident, $req:ident, $op:path) => {{
        $self.daemon.note_request();
        let req = $req.into_inner();
        $op(&$self.daemon, req).await.map(versioned).map_err(versioned_error)
    }};
}

#[tonic::async_trait]
impl HfAuth for Service {
    type DeviceLoginStream = EventStream<pb::DeviceLoginEvent>;
    type WatchStream = EventStream<pb::WatchEvent>;

    async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        unary!(self, request, account::login)
    }

    async fn device_login(
        &self,
        request: Request<pb::DeviceLoginRequest>,
    ) -> Result<Response<Self::DeviceLoginStream>, Status> {
        self.daemon.note_request();
        device::device_login(&self.daemon, request.into_inner()).await.map(Response::new).map_err(Status::from)
    }

    async fn logout(&self, request: Request<pb::LogoutRequest>) -> Result<Response<pb::LogoutResponse>, Status> {
        unary!(self, request, account::logout)
    }

    async fn switch(&self, request: Request<pb::SwitchRequest>) -> Result<Response<pb::SwitchResponse>, Status> {
        unary!(self, request, account::switch)
    }

    async fn list(&self, request: Request<pb::ListRequest>) -> Result<Response<pb::ListResponse>, Status> {
        unary!(self, request, info::list)
    }

    async fn resolve(&self, request: Request<pb::ResolveRequest>) -> Result<Response<pb::ResolveResponse>, Status> {
        unary!(self, request, resolve::resolve)
    }

    async fn who_am_i(&self, request: Request<pb::WhoAmIRequest>) -> Result<Response<pb::WhoAmIResponse>, Status> {
        unary!(self, request, info::whoami)
    }

    async fn forget_who_am_i(
        &self,
        request: Request<pb::ForgetWhoAmIRequest>,
    ) -> Result<Response<pb::ForgetWhoAmIResponse>, Status> {
        self.daemon.note_request();
        let req = request.into_inner();
        let ctx = context(req.context).map_err(Status::from)?;
        let forgotten = self.daemon.whoami.invalidate(&ctx.endpoint, &Token::new(req.token));
        Ok(Response::new(pb::ForgetWhoAmIResponse { forgotten }))
    }

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        self.daemon.note_request();
        watch::watch(&self.daemon, request.into_inner()).await.map(Response::new).map_err(Status::from)
    }

    async fn status(&self, request: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        unary!(self, request, info::status)
    }

    async fn migrate_storage(
        &self,
        request: Request<pb::MigrateStorageRequest>,
    ) -> Result<Response<pb::MigrateStorageResponse>, Status> {
        unary!(self, request, storage::migrate_storage)
    }

    async fn shutdown(&self, _request: Request<pb::ShutdownRequest>) -> Result<Response<pb::ShutdownResponse>, Status> {
        self.daemon.note_request();
        tracing::info!("shutdown requested by a client");
        self.daemon.shutdown.notify_one();
        Ok(Response::new(pb::ShutdownResponse {}))
    }
}
