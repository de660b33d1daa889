//! The test harness: a real hf-authd (the library, in-process) on a temporary socket, homes in
//! temporary directories, and contexts built by hand (the process environment is never touched).

use hf_auth::connect::{self, Client};
use hf_auth_proto::{ClientContext, EnvVar, HomePaths, pb};
use hf_authd::config::Config;
use hf_authd::run::{self, Options};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A daemon serving on a socket in its own temporary directory.
#[derive(Debug)]
pub struct TestDaemon {
    pub socket: PathBuf,
    /// Where its audit log goes (`<tempdir>/state/hf-auth/audit.log`).
    pub audit_log: PathBuf,
    _dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestDaemon {
    pub async fn start() -> Self {
        Self::start_with(Config::default()).await
    }

    pub async fn start_with(config: Config) -> Self {
        Self::start_full(config, Vec::new()).await
    }

    /// A daemon that opens these homes at start, as `hf-authd` opens its own default home.
    pub async fn start_full(config: Config, preload: Vec<(HomePaths, String, String)>) -> Self {
        let dir = tempfile::Builder::new().prefix("hfa").tempdir().expect("tempdir");
        let socket = dir.path().join("run").join("hf-authd.sock");
        Self::launch(dir, socket, config, preload)
    }

    /// A daemon on a socket path of the caller's choosing (its directory must be private).
    pub async fn start_at(socket: &Path) -> Self {
        let dir = tempfile::Builder::new().prefix("hfa").tempdir().expect("tempdir");
        Self::launch(dir, socket.to_path_buf(), Config::default(), Vec::new())
    }

    fn launch(dir: TempDir, socket: PathBuf, config: Config, preload: Vec<(HomePaths, String, String)>) -> Self {
        let bound = run::bind(&socket).expect("bind the test socket");
        let (tx, rx) = oneshot::channel::<()>();
        let audit_path = dir.path().join("state").join("hf-auth").join("audit.log");
        let audit_log = Some(audit_path.clone());
        let opts = Options {
            socket: socket.clone(),
            config,
            idle_timeout: None,
            log_path: None,
            print_ready: false,
            preload,
            audit_log,
        };
        let task = tokio::spawn(run::run(opts, bound, async move {
            let _ = rx.await;
        }));
        Self { socket, audit_log: audit_path, _dir: dir, shutdown: Some(tx), task: Some(task) }
    }

    /// The forward socket beside the main one (present when `[forward] enabled`).
    pub fn forward_socket(&self) -> PathBuf {
        hf_auth_proto::socket::forward_socket_path(&self.socket)
    }

    pub async fn client(&self) -> Client {
        connect::connect(&self.socket, Duration::from_secs(5), Some(Duration::from_secs(30)))
            .await
            .expect("connect to the test daemon")
    }

    /// Graceful stop; returns the server's result.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A Hugging Face home in a temporary directory, and the context a client in it would send.
#[derive(Debug)]
pub struct TestHome {
    pub dir: TempDir,
    pub ctx: ClientContext,
}

impl TestHome {
    pub fn new(endpoint: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("hfhome").tempdir().expect("tempdir");
        let home = dir.path().join("hf");
        let ctx = ClientContext::new(
            HomePaths { token: home.join("token"), stored_tokens: home.join("stored_tokens") },
            endpoint.to_owned(),
        );
        Self { dir, ctx }
    }

    pub fn hf_home(&self) -> &Path {
        self.ctx.paths.token.parent().expect("token path has a directory")
    }

    pub fn context(&self) -> Option<pb::ClientContext> {
        Some(self.ctx.to_pb())
    }

    /// The context of a client with `HF_TOKEN` (or the legacy variable) set.
    pub fn context_with_env(&self, value: &str, var: EnvVar) -> Option<pb::ClientContext> {
        let mut ctx = self.ctx.clone();
        ctx.env_token = Some((value.to_owned(), var));
        Some(ctx.to_pb())
    }

    pub fn offline_context(&self) -> Option<pb::ClientContext> {
        let mut ctx = self.ctx.clone();
        ctx.offline = true;
        Some(ctx.to_pb())
    }

    pub fn token_file(&self) -> Option<Vec<u8>> {
        std::fs::read(&self.ctx.paths.token).ok()
    }

    pub fn stored_file(&self) -> Option<Vec<u8>> {
        std::fs::read(&self.ctx.paths.stored_tokens).ok()
    }

    pub fn write_stored(&self, bytes: &[u8]) {
        std::fs::create_dir_all(self.hf_home()).expect("mkdir");
        std::fs::write(&self.ctx.paths.stored_tokens, bytes).expect("write stored_tokens");
    }

    pub fn write_token(&self, bytes: &[u8]) {
        std::fs::create_dir_all(self.hf_home()).expect("mkdir");
        std::fs::write(&self.ctx.paths.token, bytes).expect("write token");
    }
}

/// Waits (bounded) until `check` holds, polling every few milliseconds; returns the time taken.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}
