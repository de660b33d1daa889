//! A fake Hugging Face Hub on loopback, for end-to-end tests.
//!
//! It serves the endpoints hf-auth talks to — `GET /api/whoami-v2`, `POST /oauth/device`,
//! `POST /oauth/token` (form grants for the device flow and refresh, the JSON OIDC token exchange),
//! a stand-in for the GitHub Actions id-token endpoint, and the repository paths Hub clients download
//! from ([`Repo`]) — with the bodies, statuses and headers the real Hub sends (spec §4.2, §4.7,
//! §4.8), lets a test script the OAuth answers and force failures (error statuses, slow answers,
//! reset connections, hangs), and records every request so a test can check what was sent.
//!
//! ```no_run
//! # async fn demo() {
//! use hf_auth_tests::fake_hub::{Account, FakeHub, Mode};
//! let hub = FakeHub::start().await;
//! hub.add_token("hf_work", Account::user("alice").with_orgs(["acme"]));
//! // … point HF_ENDPOINT at hub.endpoint() and run the code under test …
//! assert_eq!(hub.requests("/api/whoami-v2"), 1);
//! hub.set_whoami_mode(Mode::Status(429));
//! hub.shutdown().await;
//! # }
//! ```

mod body;
mod conn;
mod handlers;
mod oidc;
mod repos;
mod state;
#[cfg(test)]
mod tests;

pub use body::INVALID_CREDENTIALS;
pub use handlers::{DEVICE, TOKEN, WHOAMI};
pub use oidc::ACTIONS_ID_TOKEN;
pub use repos::Repo;
pub use state::{Account, DeviceResponse, Mode, RefreshStep, Scoped, TokenStep};

use axum::http::HeaderMap;
use conn::{Kill, KillableListener};
use state::State;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long `shutdown` lets in-flight requests finish before it stops waiting.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running fake Hub. Dropping it also stops the server (without waiting); prefer `shutdown`.
#[derive(Debug)]
pub struct FakeHub {
    addr: SocketAddr,
    shared: Arc<Shared>,
    serving: Option<Serving>,
}

/// Where the server runs; either way it ends at most [`SHUTDOWN_GRACE`] after shutdown.
#[derive(Debug)]
enum Serving {
    /// A task on the test's runtime.
    Task(JoinHandle<()>),
    /// A thread with a runtime of its own.
    Thread(std::thread::JoinHandle<()>),
}

/// What the handlers share with the test.
#[derive(Debug)]
pub(crate) struct Shared {
    endpoint: String,
    state: Mutex<State>,
    /// Flipped to `true` once, on shutdown; it ends the server and releases `Hang`/`Delay` handlers.
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn new(addr: SocketAddr) -> Arc<Self> {
        let (shutdown, _) = watch::channel(false);
        Arc::new(Self { endpoint: format!("http://{addr}"), state: Mutex::new(State::new()), shutdown })
    }

    /// The state, even if a panicking test poisoned the lock: one failure should not hide the rest.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps for `delay` (forever if `None`); `false` if the hub shut down first.
    async fn sleep_unless_shutdown(&self, delay: Option<Duration>) -> bool {
        let mut down = self.shutdown.subscribe();
        let shutdown = async move {
            let _ = down.wait_for(|down| *down).await;
        };
        match delay {
            Some(delay) => tokio::select! {
                () = tokio::time::sleep(delay) => true,
                () = shutdown => false,
            },
            None => {
                shutdown.await;
                false
            }
        }
    }
}

impl FakeHub {
    /// Binds 127.0.0.1 on a free port, then serves in a spawned task: the port accepts connections
    /// as soon as this returns, so no test needs to wait for readiness.
    pub async fn start() -> FakeHub {
        Self::try_start().await.expect("fake hub: bind 127.0.0.1:0")
    }

    pub async fn try_start() -> io::Result<FakeHub> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::new(addr);
        let task = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(FakeHub { addr, shared, serving: Some(Serving::Task(task)) })
    }

    /// Like [`FakeHub::start`], but served by a thread with a runtime of its own: it answers
    /// promptly however busy the test's own runtime is (the load tests, whose 1,000 clients share
    /// the test's two workers). Shut down, it stops within [`SHUTDOWN_GRACE`], connections
    /// still open or not.
    pub fn start_on_own_thread() -> FakeHub {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("fake hub: bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("fake hub: non-blocking listener");
        let addr = listener.local_addr().expect("fake hub: local address");
        let shared = Shared::new(addr);
        let on_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("fake-hub".into())
            .spawn(move || {
                let runtime =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("fake hub runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("fake hub: tokio listener");
                    serve(listener, on_thread).await;
                });
                // Dropping the runtime ends the connections' tasks still running.
            })
            .expect("fake hub: thread");
        FakeHub { addr, shared, serving: Some(Serving::Thread(thread)) }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash: the value for `HF_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        self.shared.endpoint.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Makes `token` valid for `account` on `/api/whoami-v2`.
    pub fn add_token(&self, token: &str, account: Account) {
        self.shared.lock().issue_token(token, &account, None);
    }

    /// Adds (or replaces) a repository: `acme/x`, `datasets/acme/x`, `spaces/acme/x`.
    pub fn add_repo(&self, id: &str, repo: Repo) {
        self.shared.lock().repos.insert(id.to_owned(), repo);
    }

    /// Revokes an access token: whoami answers 401 for it from now on.
    pub fn remove_token(&self, token: &str) {
        self.shared.lock().tokens.remove(token);
    }

    pub fn is_token_valid(&self, token: &str) -> bool {
        self.shared.lock().tokens.contains_key(token)
    }

    /// How every request to `path` (e.g. [`WHOAMI`], [`TOKEN`]) is answered from now on.
    pub fn set_mode(&self, path: &str, mode: Mode) {
        self.shared.lock().modes.insert(path.to_owned(), mode);
    }

    pub fn set_whoami_mode(&self, mode: Mode) {
        self.set_mode(WHOAMI, mode);
    }

    /// Requests seen on `path` (any method, any outcome, including reset and hung ones).
    pub fn requests(&self, path: &str) -> usize {
        self.shared.lock().log.get(path).map_or(0, |log| log.count)
    }

    pub fn total_requests(&self) -> usize {
        self.shared.lock().log.values().map(|log| log.count).sum()
    }

    /// When each request to `path` arrived (tokio time, so `tokio::time::pause` applies).
    pub fn request_times(&self, path: &str) -> Vec<Instant> {
        self.shared.lock().log.get(path).map(|log| log.times.clone()).unwrap_or_default()
    }

    pub fn last_headers(&self, path: &str) -> Option<HeaderMap> {
        self.shared.lock().log.get(path)?.last_headers.clone()
    }

    /// One header of the last request to `path`, e.g. `("authorization")` or `("user-agent")`.
    pub fn last_header(&self, path: &str, name: &str) -> Option<String> {
        let headers = self.last_headers(path)?;
        Some(String::from_utf8_lossy(headers.get(name)?.as_bytes()).into_owned())
    }

    /// The decoded form of the last request to `path`; `None` if it was not form-encoded.
    pub fn last_form(&self, path: &str) -> Option<Vec<(String, String)>> {
        self.shared.lock().log.get(path)?.last_form.clone()
    }

    /// Whether `secret` appeared in any header or form value of any request to `path` (for
    /// `Authorization`, inside `Bearer …`).
    pub fn received(&self, path: &str, secret: &str) -> bool {
        self.shared.lock().log.get(path).is_some_and(|log| log.received.iter().any(|v| v.contains(secret)))
    }

    /// Whether `secret` reached this hub at all, on any path.
    pub fn ever_received(&self, secret: &str) -> bool {
        self.shared.lock().log.values().any(|log| log.received.iter().any(|v| v.contains(secret)))
    }

    /// The JSON body of the last request to `path` (the OIDC exchange); `None` if it had none.
    pub fn last_json(&self, path: &str) -> Option<serde_json::Value> {
        self.shared.lock().log.get(path)?.last_json.clone()
    }

    /// The query string of the last request to `path`.
    pub fn last_query(&self, path: &str) -> Option<String> {
        self.shared.lock().log.get(path)?.last_query.clone()
    }

    /// A fresh id token (JWT-shaped) that the token exchange accepts for a job acting as `account`,
    /// as a CI provider would mint one (`HF_OIDC_ID_TOKEN`).
    pub fn trust_id_token(&self, account: Account) -> String {
        let mut state = self.shared.lock();
        let token = oidc::id_token(&mut state, &account.name);
        state.oidc.subjects.insert(token.clone(), account);
        token
    }

    /// Makes `request_token` a GitHub Actions job's `ACTIONS_ID_TOKEN_REQUEST_TOKEN`: the Actions
    /// endpoint ([`ACTIONS_ID_TOKEN`]) mints id tokens for it that exchange for `account`.
    pub fn add_actions_runner(&self, request_token: &str, account: Account) {
        self.shared.lock().oidc.runners.insert(request_token.to_owned(), account);
    }

    /// The URL for `ACTIONS_ID_TOKEN_REQUEST_URL` (with a query, as GitHub's has).
    pub fn actions_url(&self) -> String {
        format!("{}{ACTIONS_ID_TOKEN}?api-version=2.0", self.shared.endpoint)
    }

    /// The Hub token an exchange for `account`'s job scoped to `resource` yields.
    pub fn oidc_token(&self, account: &Account, resource: &str) -> String {
        oidc::exchanged_token(account, resource)
    }

    /// Successful OIDC exchanges so far.
    pub fn oidc_exchanges(&self) -> usize {
        self.shared.lock().oidc.exchanges
    }

    /// `expires_in` of exchanged tokens from now on (default 3600).
    pub fn set_oidc_expires_in(&self, seconds: i64) {
        self.shared.lock().oidc.expires_in = seconds;
    }

    /// Whose tokens the device flow issues (default: `Account::user("alice").oauth()`).
    pub fn set_oauth_account(&self, account: Account) {
        self.shared.lock().oauth_account = account;
    }

    /// Answers for the next device-code polls, in order, replacing any left over. Once they run out,
    /// polls get `authorization_pending`.
    pub fn script_device_flow(&self, steps: Vec<TokenStep>) {
        self.shared.lock().device_steps = steps.into();
    }

    /// What `POST /oauth/device` answers from now on.
    pub fn set_device_response(&self, response: DeviceResponse) {
        self.shared.lock().device_response = response;
    }

    /// Answers for the next refreshes of known refresh tokens, in order, replacing any left over.
    /// Once they run out, refreshes succeed with a fresh access token and a rotated refresh token.
    pub fn script_refresh(&self, steps: Vec<RefreshStep>) {
        self.shared.lock().refresh_steps = steps.into();
    }

    /// Makes `refresh_token` valid; the access tokens it buys belong to `account`.
    pub fn add_refresh_token(&self, refresh_token: &str, account: Account) {
        self.shared.lock().refresh_tokens.insert(refresh_token.to_owned(), account);
    }

    /// False once rotated away or revoked (`RefreshStep::InvalidGrant`).
    pub fn is_refresh_token_valid(&self, refresh_token: &str) -> bool {
        self.shared.lock().refresh_tokens.contains_key(refresh_token)
    }

    /// Stops accepting, releases hung requests, and waits (up to 5 s) for open connections to close.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        match self.serving.take() {
            None => {}
            Some(Serving::Task(task)) => {
                let _ = task.await;
            }
            Some(Serving::Thread(thread)) => {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
        }
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}

/// Serves the Hub on `listener` until shutdown, letting in-flight requests finish for at most
/// [`SHUTDOWN_GRACE`]: whichever runtime runs it, it ends by then.
async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let (mut down, mut grace) = (shared.shutdown.subscribe(), shared.shutdown.subscribe());
    let app = handlers::router(shared).into_make_service_with_connect_info::<Kill>();
    let server = axum::serve(KillableListener(listener), app).with_graceful_shutdown(async move {
        let _ = down.wait_for(|down| *down).await;
    });
    let grace = async move {
        let _ = grace.wait_for(|down| *down).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = server => {
            if let Err(e) = served {
                tracing::warn!("fake hub stopped: {e}");
            }
        }
        () = grace => {}
    }
}
