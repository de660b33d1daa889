//! Request handling: one dispatcher logs every request, applies the path's [`Mode`], then answers
//! `GET /api/whoami-v2`, `POST /oauth/device` and `POST /oauth/token` the way the Hub does, and
//! repository paths through [`super::repos`].
//!
//! A single fallback handler (rather than one route per endpoint) means every request, including
//! wrong methods and unknown paths, is counted and recorded the same way before anything can fail.

use super::Shared;
use super::body;
use super::conn::Kill;
use super::oidc::{self, ACTIONS_ID_TOKEN};
use super::state::{Body, Mode, RefreshStep, State, TokenStep};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub const WHOAMI: &str = "/api/whoami-v2";
pub const DEVICE: &str = "/oauth/device";
pub const TOKEN: &str = "/oauth/token";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const REVOKED: &str = "refresh token revoked";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

async fn dispatch(
    AxumState(hub): AxumState<Arc<Shared>>,
    ConnectInfo(kill): ConnectInfo<Kill>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let decoded = Body {
        form: is_form(&headers).then(|| parse_form(&body)),
        json: is_json(&headers).then(|| serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)),
    };
    let request = Request { method: &method, path, query: uri.query(), headers: &headers, json: decoded.json.clone() };
    let fields = decoded.form.clone().unwrap_or_default();
    let mode = hub.lock().record(path, uri.query(), &headers, decoded);
    let mut response = match mode {
        Mode::Normal => route(&hub, &request, &fields),
        Mode::Status(code) => body::status(code),
        Mode::Delay(delay) => match hub.sleep_unless_shutdown(Some(delay)).await {
            true => route(&hub, &request, &fields),
            false => body::status(503),
        },
        Mode::Hang => {
            hub.sleep_unless_shutdown(None).await;
            body::status(503)
        }
        Mode::EndlessBody => {
            let spaces = Bytes::from_static(&[b' '; 64 * 1024]);
            let endless =
                tokio_stream::iter(std::iter::repeat_with(move || Ok::<_, std::convert::Infallible>(spaces.clone())));
            let mut r = axum::body::Body::from_stream(endless).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Mode::ResetConnection => {
            kill.trigger();
            // hyper's attempt to write this fails, so not one byte of it reaches the client.
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    // The Hub's request id; huggingface_hub quotes it in errors as `(Request ID: Root=1-500)`.
    let request_id = format!("Root=1-{}", response.status().as_u16());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// What routing looks at in one request.
struct Request<'a> {
    method: &'a Method,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    /// The body, when it was sent as JSON.
    json: Option<serde_json::Value>,
}

fn route(hub: &Shared, req: &Request<'_>, form: &[(String, String)]) -> Response {
    let mut state = hub.lock();
    match (req.method.as_str(), req.path) {
        ("GET", WHOAMI) => whoami(&state, req.headers),
        ("POST", DEVICE) => device(&mut state, &hub.endpoint, form),
        // The OIDC exchange is the one JSON grant; device and refresh grants are forms.
        ("POST", TOKEN) => match &req.json {
            Some(json) => oidc::exchange(&mut state, json),
            None => token(&mut state, form),
        },
        ("GET", ACTIONS_ID_TOKEN) => oidc::mint(&mut state, req.headers, req.query),
        (_, WHOAMI | DEVICE | TOKEN | ACTIONS_ID_TOKEN) => body::status(405),
        (method, path) => super::repos::answer(&state, method, path, req.headers).unwrap_or_else(|| {
            body::hub_error(StatusCode::NOT_FOUND, "Sorry, we can't find the page you are looking for.")
        }),
    }
}

fn whoami(state: &State, headers: &HeaderMap) -> Response {
    match bearer(headers).and_then(|token| state.tokens.get(token)) {
        Some(grant) => axum::Json(body::whoami(&grant.account, grant.expires_at)).into_response(),
        None => body::status(401),
    }
}

/// The token in `authorization: Bearer <token>`, taken as sent (huggingface_hub never trims it).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

fn device(state: &mut State, endpoint: &str, form: &[(String, String)]) -> Response {
    let config = state.device_response.clone();
    if config.status != 200 {
        return body::status(config.status);
    }
    if field(form, "client_id").is_none_or(str::is_empty) {
        return body::oauth_error("invalid_request", "Missing client_id");
    }
    let device_code = state.secret("");
    state.device_codes.insert(device_code.clone());
    let verification_uri = format!("{endpoint}{DEVICE}");
    let mut answer = serde_json::Map::new();
    answer.insert("device_code".into(), device_code.into());
    answer.insert("user_code".into(), config.user_code.clone().into());
    if config.verification_uri_complete {
        let complete = format!("{verification_uri}?user_code={}", config.user_code);
        answer.insert("verification_uri_complete".into(), complete.into());
    }
    answer.insert("verification_uri".into(), verification_uri.into());
    if let Some(expires_in) = config.expires_in {
        answer.insert("expires_in".into(), expires_in.into());
    }
    if let Some(interval) = config.interval {
        answer.insert("interval".into(), interval.into());
    }
    axum::Json(serde_json::Value::Object(answer)).into_response()
}

fn token(state: &mut State, form: &[(String, String)]) -> Response {
    match field(form, "grant_type") {
        Some(DEVICE_GRANT) => device_poll(state, form),
        Some("refresh_token") => refresh(state, form),
        Some(other) => body::oauth_error("unsupported_grant_type", &format!("Unsupported grant type: {other}")),
        None => body::oauth_error("invalid_request", "Missing grant_type"),
    }
}

/// One poll of the device flow. An unknown or spent device code is `invalid_grant` and does not use up
/// a scripted step; an exhausted script keeps answering `authorization_pending`, as a Hub whose user
/// never approves would.
fn device_poll(state: &mut State, form: &[(String, String)]) -> Response {
    if field(form, "client_id").is_none_or(str::is_empty) {
        return body::oauth_error("invalid_request", "Missing client_id");
    }
    let Some(code) = field(form, "device_code").filter(|c| state.device_codes.contains(*c)) else {
        return body::oauth_error("invalid_grant", "Invalid device code");
    };
    let code = code.to_owned();
    match state.device_steps.pop_front().unwrap_or(TokenStep::Pending) {
        TokenStep::Pending => body::oauth_error("authorization_pending", "The authorization request is still pending"),
        TokenStep::SlowDown => {
            body::oauth_error("slow_down", "Polling too frequently, increase the interval by 5 seconds")
        }
        TokenStep::Denied => {
            state.device_codes.remove(&code);
            body::oauth_error("access_denied", "The user denied the authorization request")
        }
        TokenStep::Expired => {
            state.device_codes.remove(&code);
            body::oauth_error("expired_token", "The device code has expired")
        }
        TokenStep::OtherError(error, description) => body::oauth_error(&error, &description),
        TokenStep::ServerError => body::status(500),
        TokenStep::NotJson => body::html_page(),
        TokenStep::Success { access_token, refresh_token, expires_in } => {
            state.device_codes.remove(&code);
            let account = state.oauth_account.clone();
            state.issue_token(&access_token, &account, expires_in);
            if let Some(rt) = &refresh_token {
                state.refresh_tokens.insert(rt.clone(), account);
            }
            body::token(&access_token, refresh_token.as_deref(), expires_in)
        }
    }
}

/// A refresh. Unknown refresh tokens are `invalid_grant` without using up a scripted step; an
/// exhausted script answers like the Hub: a new access token and a rotated refresh token.
fn refresh(state: &mut State, form: &[(String, String)]) -> Response {
    let Some(rt) = field(form, "refresh_token").map(str::to_owned) else {
        return body::oauth_error("invalid_request", "Missing refresh_token");
    };
    let Some(account) = state.refresh_tokens.get(&rt).cloned() else {
        return body::oauth_error("invalid_grant", REVOKED);
    };
    let step = state.refresh_steps.pop_front().unwrap_or_else(|| RefreshStep::Success {
        access_token: state.secret("hf_oauth_"),
        refresh_token: Some(state.secret("hf_oauth_refresh_")),
        expires_in: super::state::DEFAULT_EXPIRES_IN,
    });
    match step {
        RefreshStep::Success { access_token, refresh_token, expires_in } => {
            state.issue_token(&access_token, &account, Some(expires_in));
            if let Some(new_rt) = &refresh_token {
                // Rotation: the old refresh token stops working the moment a new one is issued.
                state.refresh_tokens.remove(&rt);
                state.refresh_tokens.insert(new_rt.clone(), account);
            }
            body::token(&access_token, refresh_token.as_deref(), Some(expires_in))
        }
        RefreshStep::InvalidGrant => {
            state.refresh_tokens.remove(&rt);
            body::oauth_error("invalid_grant", REVOKED)
        }
        RefreshStep::ServerError => body::status(500),
    }
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
}

/// `application/x-www-form-urlencoded` → pairs, in order (`+` is a space, `%XX` a byte).
pub(crate) fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut parts = pair.splitn(2, |b| *b == b'=');
            let key = decode(parts.next().unwrap_or_default());
            (key, decode(parts.next().unwrap_or_default()))
        })
        .collect()
}

fn decode(raw: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match raw.get(i + 1..i + 3).and_then(|h| Some(hex(h[0])? << 4 | hex(h[1])?)) {
                Some(byte) => {
                    out.push(byte);
                    i += 2;
                }
                // A stray `%` is kept as is, like the lenient decoders servers use.
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
