//! The `hfauth.v1.HfAuth` gRPC service: decodes each request's context, runs one operation
//! (one file each), and encodes the answer. Errors become statuses in `crate::error` only.

mod account;
mod device;
mod info;
mod resolve;
mod storage;
mod watch;

use crate::error::{Error, Result};
use crate::forward;
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

/// A write operation: refused when remote (`crate::forward`), else run as usual.
macro_rules! write_op {
    ($self:ident, $req:ident, $name:literal, $op:path) => {{
        $self.daemon.note_request();
        forward::refuse_if_remote(&$self.daemon, &$req, $name)?;
        let req = $req.into_inner();
        $op(&$self.daemon, req).await.map(versioned).map_err(versioned_error)
    }};
}

/// A read operation: a remote caller's context is replaced by the daemon's own (`forward::localize`).
macro_rules! read_op {
    ($self:ident, $req:ident, $op:path) => {{
        $self.daemon.note_request();
        let remote = forward::is_remote(&$req);
        let mut req = $req.into_inner();
        if remote {
            req.context = forward::localize(&$self.daemon, req.context).map_err(Status::from)?;
        }
        $op(&$self.daemon, req).await.map(versioned).map_err(versioned_error)
    }};
}

#[tonic::async_trait]
impl HfAuth for Service {
    type DeviceLoginStream = EventStream<pb::DeviceLoginEvent>;
    type WatchStream = EventStream<pb::WatchEvent>;

    async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        write_op!(self, request, "login", account::login)
    }

    async fn device_login(
        &self,
        request: Request<pb::DeviceLoginRequest>,
    ) -> Result<Response<Self::DeviceLoginStream>, Status> {
        write_op!(self, request, "login", device::device_login)
    }

    async fn logout(&self, request: Request<pb::LogoutRequest>) -> Result<Response<pb::LogoutResponse>, Status> {
        write_op!(self, request, "logout", account::logout)
    }

    async fn switch(&self, request: Request<pb::SwitchRequest>) -> Result<Response<pb::SwitchResponse>, Status> {
        write_op!(self, request, "switch", account::switch)
    }

    async fn list(&self, request: Request<pb::ListRequest>) -> Result<Response<pb::ListResponse>, Status> {
        let remote = forward::is_remote(&request);
        let mut list = read_op!(self, request, info::list)?;
        // `[forward] token`: a remote caller sees only the token it can get.
        if remote && let Some(only) = forward::visible_token(&self.daemon) {
            list.get_mut().tokens.retain(|t| t.name == only);
        }
        Ok(list)
    }

    async fn resolve(&self, request: Request<pb::ResolveRequest>) -> Result<Response<pb::ResolveResponse>, Status> {
        let remote = forward::is_remote(&request);
        // Inline, not on the heap: the audit line takes it to the writer thread.
        // Without any credentials written into the endpoint (`crate::hub::client::shown_url`).
        let endpoint: compact_str::CompactString = request
            .get_ref()
            .context
            .as_ref()
            .map(|c| crate::hub::client::shown_url(c.endpoint.trim_end_matches('/')))
            .unwrap_or_default()
            .as_ref()
            .into();
        self.daemon.note_request();
        // The peer stays borrowed from the request's extensions while the message moves on.
        let (_, extensions, mut req) = request.into_parts();
        let peer = forward::peer(&extensions);
        let answer = async {
            if remote {
                forward::localize_resolve(&self.daemon, &mut req)?;
            }
            resolve::resolve(&self.daemon, req).await
        }
        .await
        // The version as a field, not the header: see `pb::ResolveResponse::protocol`.
        .map(|answer| Response::new(pb::ResolveResponse { protocol: hf_auth_proto::PROTOCOL_VERSION, ..answer }))
        .map_err(versioned_error);
        match &answer {
            Ok(a) if !a.get_ref().token.is_empty() => self.daemon.audit.handout("Resolve", peer, a.get_ref(), endpoint),
            Err(e) if remote && e.code() == tonic::Code::PermissionDenied => {
                self.daemon.audit.refusal("Resolve", peer, e.message())
            }
            _ => {}
        }
        answer
    }

    async fn who_am_i(&self, request: Request<pb::WhoAmIRequest>) -> Result<Response<pb::WhoAmIResponse>, Status> {
        read_op!(self, request, info::whoami)
    }

    async fn forget_who_am_i(
        &self,
        request: Request<pb::ForgetWhoAmIRequest>,
    ) -> Result<Response<pb::ForgetWhoAmIResponse>, Status> {
        read_op!(self, request, forget_whoami)
    }

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        read_op!(self, request, watch::watch)
    }

    async fn status(&self, request: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        let remote = forward::is_remote(&request);
        let mut status = read_op!(self, request, info::status)?;
        if remote {
            // The paths of this machine's homes mean nothing there, and are not its business.
            let s = status.get_mut();
            s.forwarded = true;
            s.homes.clear();
            s.log_path.clear();
            s.audit_log_path.clear();
        }
        Ok(status)
    }

    async fn migrate_storage(
        &self,
        request: Request<pb::MigrateStorageRequest>,
    ) -> Result<Response<pb::MigrateStorageResponse>, Status> {
        write_op!(self, request, "storage migrate", storage::migrate_storage)
    }

    async fn shutdown(&self, request: Request<pb::ShutdownRequest>) -> Result<Response<pb::ShutdownResponse>, Status> {
        write_op!(self, request, "shutdown", shutdown)
    }
}

async fn forget_whoami(daemon: &Arc<Daemon>, req: pb::ForgetWhoAmIRequest) -> Result<pb::ForgetWhoAmIResponse> {
    let ctx = context(req.context)?;
    let forgotten = daemon.whoami.invalidate(&ctx.endpoint, &Token::new(req.token));
    Ok(pb::ForgetWhoAmIResponse { forgotten })
}

async fn shutdown(daemon: &Arc<Daemon>, _req: pb::ShutdownRequest) -> Result<pb::ShutdownResponse> {
    tracing::info!("shutdown requested by a client");
    daemon.shutdown.notify_one();
    Ok(pb::ShutdownResponse {})
}
