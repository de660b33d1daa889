//! A git smart-HTTP server on loopback for end-to-end tests: `git http-backend` run as a CGI per
//! request, behind HTTP Basic auth whose passwords are Hub tokens.
//!
//! git-credential-hf answers only for the Hub endpoint's scheme, host and port, so the git remote
//! must live on the endpoint itself. The server therefore also forwards `/api/*` and `/oauth/*` to a
//! [`FakeHub`](crate::fake_hub::FakeHub) when given one: one `HF_ENDPOINT` serves both the daemon's
//! whoami and git.
//!
//! ```no_run
//! # async fn demo(root: &std::path::Path) {
//! use hf_auth_tests::fake_hub::FakeHub;
//! use hf_auth_tests::git_server::GitServer;
//! let hub = FakeHub::start().await;
//! let git = GitServer::start_with_hub(root, &hub.endpoint()).await;
//! git.allow_token("hf_work", "alice");
//! let url = git.init_bare("repo.git").await; // http://127.0.0.1:PORT/repo.git
//! // … HF_ENDPOINT = git.url(), git clone/push url …
//! assert!(git.auth_log().contains(&Some("hf_work".to_owned())));
//! # }
//! ```

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// One authenticated-or-not request to a git path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthAttempt {
    /// `GET /repo.git/info/refs?service=git-receive-pack` and the like.
    pub request: String,
    /// The Basic password sent, valid or not.
    pub presented: Option<String>,
    /// The Basic user name sent.
    pub username: Option<String>,
    /// Whether the password was an allowed token.
    pub accepted: bool,
    /// An allowed token refused a push to a namespace it may not write to (403).
    pub forbidden: bool,
}

/// Where a token may push: fetching works with any allowed token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Push {
    /// Any repository (the default of [`GitServer::allow_token`]).
    Anywhere,
    /// Only repositories in these namespaces (`alice`, `acme`); empty: nowhere (a read token).
    Namespaces(Vec<String>),
}

impl Push {
    pub fn to(namespaces: &[&str]) -> Self {
        Self::Namespaces(namespaces.iter().map(|n| (*n).to_owned()).collect())
    }

    pub fn nowhere() -> Self {
        Self::Namespaces(Vec::new())
    }

    fn allows(&self, namespace: Option<&str>) -> bool {
        match self {
            Push::Anywhere => true,
            Push::Namespaces(list) => namespace.is_some_and(|ns| list.iter().any(|n| n == ns)),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// token → user name, and where it may push
    tokens: HashMap<String, (String, Push)>,
    attempts: Vec<AuthAttempt>,
    /// stderr of http-backend runs that wrote any, for diagnosing a failing test.
    backend_errors: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
    hub: Option<String>,
    http: reqwest::Client,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running git server. Dropping it stops the server.
#[derive(Debug)]
pub struct GitServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl GitServer {
    /// Serves the repositories under `repos_root` (created if missing); git paths only.
    pub async fn start(repos_root: &Path) -> GitServer {
        Self::start_inner(repos_root, None).await
    }

    /// As [`start`](Self::start), and forwards `/api/*` and `/oauth/*` to `hub` (a Hub endpoint).
    pub async fn start_with_hub(repos_root: &Path, hub: &str) -> GitServer {
        Self::start_inner(repos_root, Some(hub.trim_end_matches('/').to_owned())).await
    }

    async fn start_inner(repos_root: &Path, hub: Option<String>) -> GitServer {
        std::fs::create_dir_all(repos_root).expect("git server: create the repos root");
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("git server: bind");
        let addr = listener.local_addr().expect("git server: local_addr");
        let http = reqwest::Client::builder().no_proxy().build().expect("git server: http client");
        let shared = Arc::new(Shared { root: repos_root.to_owned(), hub, http, inner: Mutex::default() });
        let app = Router::new()
            .fallback(dispatch)
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&shared))
            .into_make_service_with_connect_info::<SocketAddr>();
        let (tx, rx) = oneshot::channel::<()>();
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        let task = tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::warn!("git server stopped: {e}");
            }
        });
        GitServer { addr, shared, shutdown: Some(tx), task: Some(task) }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash: also the value for `HF_ENDPOINT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, as git sends it in `host=`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Accepts `token` as a Basic password from now on, authenticating as `user`, pushes anywhere.
    pub fn allow_token(&self, token: &str, user: &str) {
        self.allow_token_pushing(token, user, Push::Anywhere);
    }

    /// As [`allow_token`](Self::allow_token), pushing only where `push` says (403 elsewhere), as
    /// the Hub refuses a personal token a push to an org it cannot write to.
    pub fn allow_token_pushing(&self, token: &str, user: &str, push: Push) {
        self.shared.lock().tokens.insert(token.to_owned(), (user.to_owned(), push));
    }

    /// Stops accepting `token` (git gets 401 for it).
    pub fn remove_token(&self, token: &str) {
        self.shared.lock().tokens.remove(token);
    }

    /// The allowed token each git request carried; `None` when it had no or invalid credentials.
    pub fn auth_log(&self) -> Vec<Option<String>> {
        self.shared.lock().attempts.iter().map(|a| a.presented.clone().filter(|_| a.accepted)).collect()
    }

    /// Every git request with what it presented.
    pub fn attempts(&self) -> Vec<AuthAttempt> {
        self.shared.lock().attempts.clone()
    }

    /// What `git http-backend` wrote on stderr, one entry per run that wrote anything.
    pub fn backend_errors(&self) -> Vec<String> {
        self.shared.lock().backend_errors.clone()
    }

    /// The accepted tokens that pushed (receive-pack requests not refused), in order.
    pub fn pushers(&self) -> Vec<String> {
        let attempts = self.attempts();
        attempts
            .into_iter()
            .filter(|a| a.accepted && !a.forbidden && a.request.contains("git-receive-pack"))
            .filter_map(|a| a.presented)
            .collect()
    }

    /// Creates the bare repository `name` (e.g. `repo.git`, `acme/x.git`) with pushes enabled;
    /// returns its URL.
    pub async fn init_bare(&self, name: &str) -> String {
        let dir = self.shared.root.join(name);
        let git = |args: &[&str]| {
            let mut cmd = tokio::process::Command::new("git");
            cmd.args(args)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .stdin(Stdio::null())
                .kill_on_drop(true);
            cmd
        };
        let dir_arg = dir.to_str().expect("utf-8 repos root");
        for args in [
            vec!["init", "--quiet", "--bare", "--initial-branch=main", dir_arg],
            vec!["--git-dir", dir_arg, "config", "http.receivepack", "true"],
        ] {
            let out = git(&args).output().await.expect("run git");
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        format!("{}/{name}", self.url())
    }

    /// The path of a repository created by [`init_bare`](Self::init_bare).
    pub fn repo_path(&self, name: &str) -> PathBuf {
        self.shared.root.join(name)
    }

    /// Stops accepting and waits for open connections to close.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if let Some(hub) = &shared.hub
        && (path.starts_with("/api/") || path.starts_with("/oauth/"))
    {
        return proxy(&shared.http, hub, method, &uri, &headers, body).await;
    }
    let (username, presented) = basic_credentials(&headers).unzip();
    let pushing =
        uri.query().is_some_and(|q| q.contains("service=git-receive-pack")) || path.ends_with("/git-receive-pack");
    let (user, forbidden) = {
        let mut inner = shared.lock();
        let grant = presented.as_ref().and_then(|p| inner.tokens.get(p).cloned());
        let forbidden = pushing && grant.as_ref().is_some_and(|(_, push)| !push.allows(namespace(path)));
        inner.attempts.push(AuthAttempt {
            request: format!("{method} {uri}"),
            presented: presented.clone(),
            username,
            accepted: grant.is_some(),
            forbidden,
        });
        (grant.map(|(user, _)| user), forbidden)
    };
    let Some(user) = user else {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, r#"Basic realm="hub""#)], "Unauthorized\n")
            .into_response();
    };
    if forbidden {
        let ns = namespace(path).unwrap_or("?");
        return (StatusCode::FORBIDDEN, format!("{user}'s token may not push to {ns}\n")).into_response();
    }
    match cgi(&shared, &method, &uri, &headers, body, &user, peer).await {
        Ok(response) => response,
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("git http-backend: {e}\n")).into_response(),
    }
}

/// The namespace of a Hub git path: `acme` in `/acme/x.git/…` and `/datasets/acme/x.git/…`.
fn namespace(path: &str) -> Option<&str> {
    let mut parts = path.trim_start_matches('/').split('/');
    match parts.next()? {
        "datasets" | "spaces" => parts.next(),
        ns => Some(ns),
    }
    .filter(|ns| !ns.is_empty())
}

/// `Authorization: Basic base64(user:password)` → (user, password).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Standard base64 with padding, as HTTP Basic uses; `None` on anything else.
fn base64_decode(input: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = input.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

/// Runs `git http-backend` for one request (RFC 3875 variables), returns its answer.
async fn cgi(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    user: &str,
    peer: SocketAddr,
) -> std::io::Result<Response> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &shared.root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", user)
        .env("REMOTE_ADDR", peer.ip().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        cmd.env("CONTENT_TYPE", ct);
    }
    // Git-Protocol (v2), Content-Encoding (gzip request bodies) and the rest, as CGI does.
    for (name, value) in headers {
        if name == header::AUTHORIZATION || name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH {
            continue;
        }
        if let Ok(value) = value.to_str() {
            cmd.env(format!("HTTP_{}", name.as_str().to_ascii_uppercase().replace('-', "_")), value);
        }
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Written while the output is read, so a large body and a large answer cannot deadlock.
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
        let _ = stdin.shutdown().await;
    });
    let output = child.wait_with_output().await?;
    let _ = writer.await;
    if !output.stderr.is_empty() {
        shared.lock().backend_errors.push(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    parse_cgi_response(&output.stdout)
        .ok_or_else(|| std::io::Error::other(format!("malformed CGI answer (exit {})", output.status)))
}

/// CGI output: header lines (`Status: 404 Not Found`, `Content-Type: …`), a blank line, the body.
fn parse_cgi_response(out: &[u8]) -> Option<Response> {
    let (head_end, body_start) = find_blank_line(out)?;
    let head = std::str::from_utf8(&out[..head_end]).ok()?;
    let mut builder = Response::builder().status(StatusCode::OK);
    for line in head.lines() {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next()?.parse::<u16>().ok()?;
            builder = builder.status(StatusCode::from_u16(code).ok()?);
        } else {
            let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
            builder = builder.header(name, HeaderValue::from_str(value).ok()?);
        }
    }
    builder.body(Body::from(out[body_start..].to_vec())).ok()
}

/// Where the header block ends and the body begins: the first `\r\n\r\n` or `\n\n`.
fn find_blank_line(out: &[u8]) -> Option<(usize, usize)> {
    let crlf = out.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = out.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Forwards one request to the Hub and its answer back, hop-by-hop headers aside.
async fn proxy(
    http: &reqwest::Client,
    hub: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let target = format!("{hub}{}", uri.path_and_query().map_or(uri.path(), |pq| pq.as_str()));
    let mut forwarded = headers.clone();
    for name in [header::HOST, header::CONNECTION, header::CONTENT_LENGTH, header::TRANSFER_ENCODING] {
        forwarded.remove(name);
    }
    let answer = match http.request(method, target).headers(forwarded).body(body).send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("hub proxy: {e}\n")).into_response(),
    };
    let status = answer.status();
    let mut back = answer.headers().clone();
    for name in [header::CONNECTION, header::CONTENT_LENGTH, header::TRANSFER_ENCODING] {
        back.remove(name);
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = back;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_basic_credentials() {
        assert_eq!(base64_decode("YWxpY2U6aGZfc2VjcmV0").unwrap(), b"alice:hf_secret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("YQ=").is_none());
        assert!(base64_decode("Y===").is_none());
        assert!(base64_decode("YW!=").is_none());
    }

    #[test]
    fn namespaces_of_hub_paths() {
        assert_eq!(namespace("/acme/x.git/info/refs"), Some("acme"));
        assert_eq!(namespace("/datasets/acme/x.git/git-receive-pack"), Some("acme"));
        assert_eq!(namespace("/spaces/alice/app.git"), Some("alice"));
        assert_eq!(namespace("/"), None);
        assert!(Push::to(&["acme"]).allows(Some("acme")));
        assert!(!Push::to(&["acme"]).allows(Some("alice")));
        assert!(!Push::nowhere().allows(Some("alice")));
    }

    #[test]
    fn cgi_headers_and_status() {
        let r = parse_cgi_response(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope").unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/plain");
        let r = parse_cgi_response(b"Content-Type: application/x-git\n\nbody\n\nmore").unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(parse_cgi_response(b"no blank line").is_none());
    }
}
