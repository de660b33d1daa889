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
    /// Where new logins keep their secret: starts as `config.storage`, changed by `storage migrate`.
    storage: std::sync::RwLock<StorageMode>,
    pub homes: Arc<Homes>,
    pub hub: HubClient,
    pub whoami: WhoamiCache,
    pub refresher: crate::refresh::Refresher,
    pub started: Instant,
    pub socket_path: PathBuf,
    pub log_path: Option<PathBuf>,
    /// Socket-activated by a service manager, which owns its lifecycle.
    pub service_managed: bool,
    /// Woken by the `Shutdown` RPC; the server's shutdown future waits on it.
    pub shutdown: Notify,
    /// Flips to true when the daemon begins stopping; open streams end on it.
    stopping: tokio::sync::watch::Sender<bool>,
    requests: AtomicU64,
    /// Milliseconds since `started` of the last request (for --idle-timeout).
    last_request_ms: AtomicU64,
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
        Ok(Arc::new(Self {
            storage: std::sync::RwLock::new(config.storage),
            whoami: WhoamiCache::new(config.whoami_ttl()),
            refresher: crate::refresh::Refresher::new(&config.default_endpoint),
            config,
            homes: Homes::new(keyring_settings, max_open_homes),
            hub: HubClient::new()?,
            started: Instant::now(),
            socket_path,
            log_path: None,
            service_managed: false,
            shutdown: Notify::new(),
            stopping: tokio::sync::watch::Sender::new(false),
            requests: AtomicU64::new(0),
            last_request_ms: AtomicU64::new(0),
            open_streams: AtomicU64::new(0),
        }))
    }

    pub fn with_log_path(mut self: Arc<Self>, path: Option<PathBuf>) -> Arc<Self> {
        if let Some(me) = Arc::get_mut(&mut self) {
            me.log_path = path;
        }
        self
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
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.last_request_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub fn requests_served(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// How long since the last request, or `None` while a stream is open.
    pub fn idle_for(&self) -> Option<std::time::Duration> {
        if self.open_streams.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = self.last_request_ms.load(Ordering::Relaxed);
        Some(self.started.elapsed().saturating_sub(std::time::Duration::from_millis(last)))
    }

    /// Counts an open stream until the guard drops.
    pub fn stream_guard(self: &Arc<Self>) -> StreamGuard {
        self.open_streams.fetch_add(1, Ordering::Relaxed);
        StreamGuard(self.clone())
    }
}

#[derive(Debug)]
pub struct StreamGuard(Arc<Daemon>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::Relaxed);
        self.0.note_request();
    }
}
