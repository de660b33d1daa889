//! A stand-in `hfauth.v1.HfAuth` server for tests and benchmarks: `Resolve`, `Status` and
//! `Shutdown` answer what the caller says, every other call is UNIMPLEMENTED. The handshake tests
//! play an old daemon with it; the benchmarks' bare tonic baseline is one.

use hf_auth_proto::pb::{self, hf_auth_server::HfAuth};
use std::pin::Pin;
use tonic::{Request, Response, Status};

type Answer<T> = Box<dyn Fn() -> Result<T, Status> + Send + Sync>;
type Stream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The three calls it answers; build it with [`StubDaemon::new`] and the `with_*` methods.
pub struct StubDaemon {
    resolve: Answer<pb::ResolveResponse>,
    /// Sent with each Resolve answer as the protocol header, when set.
    resolve_header: Option<u32>,
    status: Answer<pb::StatusResponse>,
    shutdown: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for StubDaemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubDaemon").finish_non_exhaustive()
    }
}

impl Default for StubDaemon {
    fn default() -> Self {
        Self::new()
    }
}

impl StubDaemon {
    /// Answers nothing (every call UNIMPLEMENTED) until told otherwise.
    pub fn new() -> Self {
        Self {
            resolve: Box::new(|| Err(no())),
            resolve_header: None,
            status: Box::new(|| Err(no())),
            shutdown: Box::new(|| {}),
        }
    }

    /// Resolve's answers carry `hf-auth-protocol: <version>`, as hf-authd's did before the
    /// answer had a `protocol` field.
    pub fn with_resolve_header(mut self, version: u32) -> Self {
        self.resolve_header = Some(version);
        self
    }

    pub fn with_resolve(mut self, f: impl Fn() -> Result<pb::ResolveResponse, Status> + Send + Sync + 'static) -> Self {
        self.resolve = Box::new(f);
        self
    }

    pub fn with_status(mut self, f: impl Fn() -> Result<pb::StatusResponse, Status> + Send + Sync + 'static) -> Self {
        self.status = Box::new(f);
        self
    }

    /// Called on `Shutdown` (which then answers OK).
    pub fn on_shutdown(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.shutdown = Box::new(f);
        self
    }
}

fn no() -> Status {
    Status::unimplemented("not served by this stand-in")
}

fn nothing<T>() -> Result<Response<T>, Status> {
    Err(no())
}

#[tonic::async_trait]
impl HfAuth for StubDaemon {
    type DeviceLoginStream = Stream<pb::DeviceLoginEvent>;
    type WatchStream = Stream<pb::WatchEvent>;

    async fn resolve(&self, request: Request<pb::ResolveRequest>) -> Result<Response<pb::ResolveResponse>, Status> {
        // Decoded as any server decodes it; the answer is the caller's.
        drop(request.into_inner());
        let mut answer = (self.resolve)().map(Response::new)?;
        if let Some(version) = self.resolve_header {
            answer.metadata_mut().insert(hf_auth_proto::PROTOCOL_HEADER, version.into());
        }
        Ok(answer)
    }
    async fn status(&self, _: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        (self.status)().map(Response::new)
    }
    async fn shutdown(&self, _: Request<pb::ShutdownRequest>) -> Result<Response<pb::ShutdownResponse>, Status> {
        (self.shutdown)();
        Ok(Response::new(pb::ShutdownResponse {}))
    }
    async fn login(&self, _: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        nothing()
    }
    async fn device_login(
        &self,
        _: Request<pb::DeviceLoginRequest>,
    ) -> Result<Response<Self::DeviceLoginStream>, Status> {
        nothing()
    }
    async fn logout(&self, _: Request<pb::LogoutRequest>) -> Result<Response<pb::LogoutResponse>, Status> {
        nothing()
    }
    async fn switch(&self, _: Request<pb::SwitchRequest>) -> Result<Response<pb::SwitchResponse>, Status> {
        nothing()
    }
    async fn list(&self, _: Request<pb::ListRequest>) -> Result<Response<pb::ListResponse>, Status> {
        nothing()
    }
    async fn who_am_i(&self, _: Request<pb::WhoAmIRequest>) -> Result<Response<pb::WhoAmIResponse>, Status> {
        nothing()
    }
    async fn forget_who_am_i(
        &self,
        _: Request<pb::ForgetWhoAmIRequest>,
    ) -> Result<Response<pb::ForgetWhoAmIResponse>, Status> {
        nothing()
    }
    async fn watch(&self, _: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        nothing()
    }
    async fn migrate_storage(
        &self,
        _: Request<pb::MigrateStorageRequest>,
    ) -> Result<Response<pb::MigrateStorageResponse>, Status> {
        nothing()
    }
}
