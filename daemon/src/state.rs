//! The daemon's shared state: the homes it serves, the Hub client and whoami cache, its
//! settings, and the figures `Status` reports.

use crate::config::{Config, StorageMode};
use crate::homes::Homes;
use crate::hub::{HubClient, WhoamiCache};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::Notify;

#[derive(Debug)]
pub struct Daemon {
    pub config: Config,
    /// The `[[route]]` rules in force (reloaded when config.toml changes).
    pub routes: crate::route::loaded::LoadedRules,
    /// The daemon's own default home, once open: rules may name only the tokens it stores.
    own_home: std::sync::OnceLock<Arc<crate::home::Home>>,
    /// Where new logins keep their secret: starts as `config.storage`, changed by `storage migrate`.
    storage: std::sync::RwLock<StorageMode>,
    pub homes: Arc<Homes>,
    pub hub: HubClient,
    pub whoami: WhoamiCache,
    /// Tokens exchanged for CI id tokens (OIDC trusted publishing): memory only.
    pub oidc: crate::hub::oidc::OidcCache,
    pub refresher: crate::refresh::Refresher,
    pub started: Instant,
    pub socket_path: PathBuf,
    /// The forward socket, when `[forward] enabled` (see `crate::forward`).
    pub forward_socket: Option<PathBuf>,
    /// Who got which token (see `crate::audit`).
    pub audit: crate::audit::Audit,
    pub log_path: Option<PathBuf>,
    /// Socket-activated by a service manager, which owns its lifecycle.
    pub service_managed: bool,
    /// Woken by the `Shutdown` RPC; the server's shutdown future waits on it.
    pub shutdown: Notify,
    /// Flips to true when the daemon begins stopping; open streams end on it.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Written by every request, on every worker: kept off the lines of the fields above.
    activity: Activity,
    /// Open server streams (Watch, DeviceLogin): the daemon is not idle while any is open.
    open_streams: AtomicU64,
}

impl Daemon {
    pub fn new(config: Config, socket_path: PathBuf) -> anyhow::Result<Arc<Self>> {
        if config.storage == StorageMode::Keyring && !config.mirror_token_file {
            tracing::warn!(
                "mirror_token_file = false: the active token is not written to the token file, so \
                 huggingface_hub, transformers and hf-hub readers will not find it; they need \
                 HF_TOKEN=\"$(hf-auth token)\". git and hf-auth itself are unaffected."
            );
        }
        let keyring_settings = config.keyring_settings();
        let max_open_homes = config.max_open_homes;
        let routes = crate::route::loaded::LoadedRules::new(&config, config.home_dir.as_deref(), None);
        Ok(Arc::new(Self {
            routes,
            own_home: std::sync::OnceLock::new(),
            storage: std::sync::RwLock::new(config.storage),
            whoami: WhoamiCache::new(config.whoami_ttl()),
            oidc: Default::default(),
            refresher: crate::refresh::Refresher::new(&config.default_endpoint),
            config,
            homes: Homes::new(keyring_settings, max_open_homes),
            hub: HubClient::new()?,
            started: Instant::now(),
            socket_path,
            forward_socket: None,
            audit: crate::audit::Audit::disabled(),
            log_path: None,
            service_managed: false,
            shutdown: Notify::new(),
            stopping: tokio::sync::watch::Sender::new(false),
            activity: Activity { requests: AtomicU64::new(0), last_request_ms: AtomicU64::new(crate::clock::now_ms()) },
            open_streams: AtomicU64::new(0),
        }))
    }

    pub fn with_log_path(mut self: Arc<Self>, path: Option<PathBuf>) -> Arc<Self> {
        if let Some(me) = Arc::get_mut(&mut self) {
            me.log_path = path;
        }
        self
    }

    /// Where the forward socket is (set before serving).
    pub fn with_forward_socket(mut self: Arc<Self>, path: Option<PathBuf>) -> Arc<Self> {
        if let Some(me) = Arc::get_mut(&mut self) {
            me.forward_socket = path;
        }
        self
    }

    /// The audit log to write to (set before serving).
    pub fn with_audit(mut self: Arc<Self>, audit: crate::audit::Audit) -> Arc<Self> {
        if let Some(me) = Arc::get_mut(&mut self) {
            me.audit = audit;
        }
        self
    }

    /// The daemon's own default home, once open (what forwarded requests are answered from).
    pub fn own_home(&self) -> Option<&Arc<crate::home::Home>> {
        self.own_home.get()
    }

    /// Records the daemon's own home and checks the rules against its tokens.
    pub fn set_own_home(&self, home: Arc<crate::home::Home>) {
        let _ = self.own_home.set(home);
        self.reload_routes();
    }

    /// Re-reads the routing rules from config.toml (a config given by value: compiles it again).
    /// Blocking. Bad rules are reported and the previous ones stay.
    pub fn reload_routes(&self) {
        // Asked during the reload (under its lock), so the stored tokens are as fresh as the file.
        let known = |name: &str| {
            self.own_home.get().is_none_or(|h| h.snapshot().stored.file.sections.iter().any(|s| s.name == name))
        };
        let home = self.config.home_dir.as_deref();
        match &self.config.source {
            Some(path) => {
                self.routes.reload(path, home, Some(&known));
            }
            None => self.routes.recompile(&self.config, home, Some(&known)),
        }
    }

    /// Where new logins keep their secret now.
    pub fn storage(&self) -> StorageMode {
        *self.storage.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_storage(&self, mode: StorageMode) {
        *self.storage.write().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    pub fn begin_stopping(&self) {
        self.stopping.send_replace(true);
    }

    /// Resolves when the daemon begins stopping.
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stopping.subscribe();
        async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
        }
    }

    pub fn with_service_managed(mut self: Arc<Self>, managed: bool) -> Arc<Self> {
        if let Some(me) = Arc::get_mut(&mut self) {
            me.service_managed = managed;
        }
        self
    }

    pub fn note_request(&self) {
        self.activity.requests.fetch_add(1, Ordering::Relaxed);
        crate::clock::advance(&self.activity.last_request_ms, crate::clock::now_ms());
    }

    pub fn requests_served(&self) -> u64 {
        self.activity.requests.load(Ordering::Relaxed)
    }

    /// How long since the last request, or `None` while a stream is open.
    pub fn idle_for(&self) -> Option<std::time::Duration> {
        if self.open_streams.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = self.activity.last_request_ms.load(Ordering::Relaxed);
        Some(std::time::Duration::from_millis(crate::clock::now_ms().saturating_sub(last)))
    }

    /// Counts an open stream until the guard drops.
    pub fn stream_guard(self: &Arc<Self>) -> StreamGuard {
        self.open_streams.fetch_add(1, Ordering::Relaxed);
        StreamGuard(self.clone())
    }
}

/// The request counters, alone on their cache line (two, for CPUs that fetch lines in pairs): a
/// worker's write there does not take away the other worker's copy of the `Daemon` fields every
/// request reads.
#[derive(Debug)]
#[repr(align(128))]
struct Activity {
    requests: AtomicU64,
    /// [`crate::clock::now_ms`] of the last request, or of the start (for --idle-timeout).
    last_request_ms: AtomicU64,
}

#[derive(Debug)]
pub struct StreamGuard(Arc<Daemon>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::Relaxed);
        self.0.note_request();
    }
}
