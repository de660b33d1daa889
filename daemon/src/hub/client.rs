//! The HTTP client for the Hub (reqwest + rustls). Errors carry huggingface_hub's wording.

use super::whoami::WhoAmI;
use hf_auth_proto::Token;
use std::borrow::Cow;
use std::time::Duration;

/// huggingface_hub's default timeout for whoami.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The most of an answer hf-authd reads from any endpoint: whoami, the OAuth and OIDC answers are
/// each a few KiB. A longer one is refused, not buffered, so a hostile or misconfigured endpoint
/// (a mirror streaming a file, say) cannot fill the daemon's memory within the timeout.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Why an answer's body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("the answer is larger than {} KiB", MAX_ANSWER_BYTES / 1024)]
    TooLarge,
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

impl ReadError {
    /// As a [`HubError`] for a request to `url`.
    pub(crate) fn at(self, url: &str) -> HubError {
        match self {
            ReadError::Http(e) => unreachable(url, &e),
            too_large => HubError::BadResponse { url: shown_url(url).into_owned(), reason: too_large.to_string() },
        }
    }
}

/// `response`'s body as text (UTF-8, invalid sequences replaced), refused past
/// [`MAX_ANSWER_BYTES`]: by its `content-length` before reading, else as soon as it grows past.
pub(crate) async fn read_text(mut response: reqwest::Response) -> Result<String, ReadError> {
    if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(match String::from_utf8(body) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum HubError {
    /// 401. The caller appends the source-specific suffix (env, file, explicit).
    #[error("Invalid user token.")]
    Unauthorized,
    #[error(
        "You've hit the rate limit for the /whoami-v2 endpoint, which is intentionally strict for security reasons. hf-authd caches whoami answers; try again in a minute."
    )]
    RateLimited,
    #[error(
        "Cannot reach {url}: offline mode is enabled. To disable it, please unset the `HF_HUB_OFFLINE` environment variable."
    )]
    Offline { url: String },
    #[error("Cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{message}")]
    Status { status: u16, message: String },
    #[error("Unexpected answer from {url}: {reason}")]
    BadResponse { url: String, reason: String },
}

impl HubError {
    /// Worth serving a stale cached answer instead: the Hub, not the token, is the problem.
    pub fn is_transient(&self) -> bool {
        matches!(self, HubError::RateLimited | HubError::Unreachable { .. } | HubError::Offline { .. })
            || matches!(self, HubError::Status { status, .. } if *status >= 500)
    }
}

#[derive(Clone, Debug)]
pub struct HubClient {
    http: reqwest::Client,
    requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl HubClient {
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("hf-auth/", env!("CARGO_PKG_VERSION")))
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { http, requests: Default::default() })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Requests sent to any Hub so far.
    pub fn request_count(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// `GET {endpoint}/api/whoami-v2` with `authorization: Bearer`.
    pub async fn whoami(&self, endpoint: &str, token: &Token, offline: bool) -> Result<WhoAmI, HubError> {
        let url = format!("{endpoint}/api/whoami-v2");
        if offline {
            return Err(HubError::Offline { url: shown_url(&url).into_owned() });
        }
        self.count_request();
        let response =
            self.http.get(&url).bearer_auth(token.expose()).send().await.map_err(|e| unreachable(&url, &e))?;
        let status = response.status();
        let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = read_text(response).await.map_err(|e| e.at(&url))?;
        match status.as_u16() {
            200..=299 => WhoAmI::parse(&body)
                .map_err(|e| HubError::BadResponse { url: shown_url(&url).into_owned(), reason: e.to_string() }),
            401 => Err(HubError::Unauthorized),
            429 => Err(HubError::RateLimited),
            code => Err(HubError::Status {
                status: code,
                message: status_message(status, &url, request_id, &redact(&body, &[token.expose()])),
            }),
        }
    }
}

/// A reqwest error without its URL (the URL is ours to print) and never with a header.
pub(crate) fn unreachable(url: &str, e: &reqwest::Error) -> HubError {
    let reason = if e.is_timeout() {
        "the request timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        text
    };
    HubError::Unreachable { url: shown_url(url).into_owned(), reason }
}

/// `url` as it may be shown or logged: without the `user:password@` of its authority (credentials
/// someone put in `HF_ENDPOINT`, for a proxy or a mirror), which would otherwise reach terminals,
/// CI logs, the daemon's log and the audit log.
pub fn shown_url(url: &str) -> Cow<'_, str> {
    // Every audit line passes here: most endpoints have no `@` to look for an authority around.
    if !url.contains('@') {
        return Cow::Borrowed(url);
    }
    let Some(start) = url.find("://").map(|i| i + 3) else { return Cow::Borrowed(url) };
    let rest = &url[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => Cow::Owned(format!("{}{}", &url[..start], &rest[at + 1..])),
        None => Cow::Borrowed(url),
    }
}

/// `text` (an endpoint's answer, about to be shown or logged) with every occurrence of the
/// secrets it was sent replaced: a proxy or a verbose server may echo a token back, and an error
/// message ends up on terminals, in CI logs and in the daemon's log.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        out = out.replace(secret, "<redacted>");
    }
    out
}

/// huggingface_hub's `hf_raise_for_status` wording for statuses it does not special-case.
fn status_message(status: reqwest::StatusCode, url: &str, request_id: Option<String>, body: &str) -> String {
    let url = shown_url(url);
    let reason = status.canonical_reason().unwrap_or("");
    let kind = if status.is_server_error() { "Server error" } else { "Client error" };
    let mut msg = format!("{kind} '{} {reason}' for url '{url}'", status.as_u16());
    if let Some(id) = request_id {
        msg.push_str(&format!(" (Request ID: {id})"));
    }
    let detail = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect());
    if !detail.trim().is_empty() {
        msg.push_str("\n\n");
        msg.push_str(detail.trim());
    }
    if status.as_u16() == 403 {
        msg.push_str(&format!("\nCannot access content at: {url}.\nMake sure your token has the correct permissions."));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_lose_their_credentials_and_nothing_else() {
        for (url, shown) in [
            ("https://huggingface.co", "https://huggingface.co"),
            ("http://proxyuser:S3CRET@127.0.0.1:8080/api/whoami-v2", "http://127.0.0.1:8080/api/whoami-v2"),
            ("https://user@hub.example/x?y=z@w", "https://hub.example/x?y=z@w"),
            ("https://a:b@c@hub.example", "https://hub.example"),
            ("https://hub.example/path@not-credentials", "https://hub.example/path@not-credentials"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(shown_url(url), shown, "{url}");
        }
    }

    #[test]
    fn echoed_secrets_are_redacted() {
        let body = r#"{"error":"invalid_grant","error_description":"refresh token hf_oauth_SECRETSECRET is revoked"}"#;
        let out = redact(body, &["hf_oauth_SECRETSECRET", ""]);
        assert!(!out.contains("SECRETSECRET") && out.contains("<redacted> is revoked"), "{out}");
        assert_eq!(redact("nothing to hide", &["hf_oauth_SECRETSECRET"]), "nothing to hide");
    }
}
