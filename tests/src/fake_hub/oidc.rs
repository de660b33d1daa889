//! Trusted publishing on the fake Hub: the RFC 8693 token exchange (`POST /oauth/token` with a JSON
//! body, as huggingface_hub's `_oidc.py` sends it) and a stand-in for the GitHub Actions runtime's
//! id-token endpoint (`GET /_actions/idtoken?audience=…` with `Authorization: Bearer <request token>`,
//! answering `{"value": "<jwt>"}`).
//!
//! The exchanged token depends only on the subject (whose job it is) and the resource: two clients
//! that exchange id tokens for the same job and repo get the same Hub token, as two exchanges made
//! by one CI job get tokens with the same identity and scope on the real Hub. That is what lets a
//! test compare huggingface_hub's `get_token()` with ours byte for byte.

use super::body;
use super::state::{Account, State, mix};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The Actions runtime's id-token endpoint (what `ACTIONS_ID_TOKEN_REQUEST_URL` points at).
pub const ACTIONS_ID_TOKEN: &str = "/_actions/idtoken";
pub(crate) const EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// The Hub token an exchange for `account`'s job scoped to `resource` yields.
pub(crate) fn exchanged_token(account: &Account, resource: &str) -> String {
    format!("hf_oidc_{:016x}{:016x}", mix((&account.name, resource)), mix((resource, &account.name)))
}

/// An id token shaped like a JWT (three base64url-ish parts), unique per call.
pub(crate) fn id_token(state: &mut State, subject: &str) -> String {
    let serial = state.secret("");
    format!("eyJhbGciOiJSUzI1NiJ9.{}.{serial}", hex(subject))
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// `POST /oauth/token` with a JSON body.
pub(crate) fn exchange(state: &mut State, body: &Value) -> Response {
    let field = |name: &str| body.get(name).and_then(Value::as_str);
    match field("grant_type") {
        Some(EXCHANGE_GRANT) => {}
        Some(other) => {
            return body::oauth_error("unsupported_grant_type", &format!("Unsupported grant type: {other}"));
        }
        None => return body::oauth_error("invalid_request", "Missing grant_type"),
    }
    if field("subject_token_type") != Some(ID_TOKEN_TYPE) {
        return body::oauth_error("invalid_request", "subject_token_type must be an id_token");
    }
    let Some(resource) = field("resource").filter(|r| !r.is_empty()) else {
        return body::oauth_error("invalid_request", "Missing resource");
    };
    let Some(account) = field("subject_token").and_then(|t| state.oidc.subjects.get(t)).cloned() else {
        return body::oauth_error("invalid_grant", "The subject token is not trusted by any trusted publisher");
    };
    let token = exchanged_token(&account, resource);
    let expires_in = state.oidc.expires_in;
    state.issue_token(&token, &account, Some(expires_in));
    state.oidc.exchanges += 1;
    body::token(&token, None, Some(expires_in))
}

/// `GET /_actions/idtoken?audience=…`: a fresh id token for the runner whose request token is the
/// bearer; 403 without `audience` or with an unknown request token (as GitHub answers a job
/// without `permissions: id-token: write`).
pub(crate) fn mint(state: &mut State, headers: &HeaderMap, query: Option<&str>) -> Response {
    let audience = query
        .into_iter()
        .flat_map(|q| super::handlers::parse_form(q.as_bytes()))
        .find(|(k, _)| k == "audience")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    let runner = super::handlers::bearer(headers).and_then(|t| state.oidc.runners.get(t)).cloned();
    let (Some(_), Some(account)) = (audience, runner) else {
        let message = json!({"message": "Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable"});
        return (StatusCode::FORBIDDEN, axum::Json(message)).into_response();
    };
    let token = id_token(state, &account.name);
    state.oidc.subjects.insert(token.clone(), account);
    axum::Json(json!({"count": 1, "value": token})).into_response()
}
