//! Repositories on the fake Hub: private repos whose files are served only with a token allowed
//! to read them, the way huggingface_hub 2.4.0's `hf_hub_download` and `HfApi.model_info` and the
//! `hf-hub` crate ask for them.
//!
//! - `GET /api/{models,datasets,spaces}/{ns}/{name}[/revision/{rev}]`: the repo's info (`id`, `sha`,
//!   `private`, `siblings`).
//! - `HEAD`/`GET /[datasets/|spaces/]{ns}/{name}/resolve/{rev}/{file}`: the file, with what
//!   `get_hf_file_metadata` reads (`X-Repo-Commit`, `ETag`, `Content-Length`).
//!
//! Without an allowed token: 401 with `X-Error-Code: RepoNotFound` (the Hub does not say that a
//! private repo exists); an unknown bearer token: 401 "Invalid credentials".

use super::body;
use super::state::{State, mix};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};

/// A repository: its files, and which tokens may read it (`None`: any valid token).
#[derive(Clone, Debug, Default)]
pub struct Repo {
    pub files: BTreeMap<String, Vec<u8>>,
    pub readers: Option<HashSet<String>>,
}

impl Repo {
    /// A private repository any valid token may read.
    pub fn private() -> Self {
        Self::default()
    }

    pub fn file(mut self, name: &str, content: impl Into<Vec<u8>>) -> Self {
        self.files.insert(name.to_owned(), content.into());
        self
    }

    /// Only these tokens may read it (an org's repo that one token is scoped to).
    pub fn readable_by<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tokens: I) -> Self {
        self.readers = Some(tokens.into_iter().map(Into::into).collect());
        self
    }

    /// A stable 40-hex commit id for the repo's content.
    pub fn sha(&self) -> String {
        let a = mix(&self.files);
        format!("{a:016x}{:016x}{:08x}", mix(a), mix(!a) as u32)
    }
}

/// The repo key and the rest of the path, for `/api/{kind}/…` and `/{prefix}…/resolve/…`.
fn split_kind(path: &str) -> (&'static str, &str) {
    for (prefix, kind) in [("datasets/", "datasets/"), ("spaces/", "spaces/")] {
        if let Some(rest) = path.strip_prefix(prefix) {
            return (kind, rest);
        }
    }
    ("", path)
}

/// Answers a repo path, or `None` when the path is not one (the caller answers 404).
pub(crate) fn answer(state: &State, method: &str, path: &str, headers: &HeaderMap) -> Option<Response> {
    let path = path.trim_start_matches('/');
    if let Some(api) = path.strip_prefix("api/") {
        let (kind, rest) = match api.split_once('/')? {
            ("models", rest) => ("", rest),
            ("datasets", rest) => ("datasets/", rest),
            ("spaces", rest) => ("spaces/", rest),
            _ => return None,
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let (ns, name, revision) = match parts.as_slice() {
            [ns, name] => (*ns, *name, None),
            [ns, name, "revision", rev] => (*ns, *name, Some(*rev)),
            _ => return None,
        };
        if method != "GET" {
            return Some(body::status(405));
        }
        return Some(info(state, kind, ns, name, revision, headers));
    }
    let (kind, rest) = split_kind(path);
    let mut parts = rest.splitn(5, '/');
    let (ns, name, resolve, rev, file) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if resolve != "resolve" {
        return None;
    }
    if method != "GET" && method != "HEAD" {
        return Some(body::status(405));
    }
    Some(resolve_file(state, kind, ns, name, rev, file, headers))
}

/// The repo, if this request may read it; else the Hub's refusal.
fn authorize<'a>(state: &'a State, key: &str, headers: &HeaderMap) -> Result<&'a Repo, Box<Response>> {
    let token = super::handlers::bearer(headers);
    if let Some(t) = token
        && !state.tokens.contains_key(t)
    {
        return Err(Box::new(body::status(401)));
    }
    let not_found = || {
        let mut r = body::hub_error(StatusCode::UNAUTHORIZED, "Repository not found");
        r.headers_mut().insert("x-error-code", HeaderValue::from_static("RepoNotFound"));
        r
    };
    let repo = state.repos.get(key).ok_or_else(|| Box::new(not_found()))?;
    let allowed = match (token, &repo.readers) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(t), Some(readers)) => readers.contains(t),
    };
    if allowed { Ok(repo) } else { Err(Box::new(not_found())) }
}

fn info(state: &State, kind: &str, ns: &str, name: &str, revision: Option<&str>, headers: &HeaderMap) -> Response {
    let key = format!("{kind}{ns}/{name}");
    let repo = match authorize(state, &key, headers) {
        Ok(repo) => repo,
        Err(refusal) => return *refusal,
    };
    let sha = repo.sha();
    if revision.is_some_and(|r| r != "main" && r != sha) {
        return body::hub_error(StatusCode::NOT_FOUND, "Invalid rev id");
    }
    let siblings: Vec<_> = repo.files.keys().map(|f| json!({"rfilename": f})).collect();
    axum::Json(json!({
        "_id": format!("{:024x}", mix(&key) as u128),
        "id": format!("{ns}/{name}"),
        "author": ns,
        "sha": sha,
        "private": true,
        "gated": false,
        "disabled": false,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "lastModified": body::iso8601(1_700_000_000),
        "createdAt": body::iso8601(1_700_000_000),
        "siblings": siblings,
    }))
    .into_response()
}

fn resolve_file(
    state: &State,
    kind: &str,
    ns: &str,
    name: &str,
    rev: &str,
    file: &str,
    headers: &HeaderMap,
) -> Response {
    let key = format!("{kind}{ns}/{name}");
    let repo = match authorize(state, &key, headers) {
        Ok(repo) => repo,
        Err(refusal) => return *refusal,
    };
    let sha = repo.sha();
    let rev = rev.replace("%2F", "/");
    if rev != "main" && rev != sha {
        let mut r = body::hub_error(StatusCode::NOT_FOUND, &format!("Invalid rev id: {rev}"));
        r.headers_mut().insert("x-error-code", HeaderValue::from_static("RevisionNotFound"));
        return r;
    }
    let Some(content) = repo.files.get(file) else {
        let mut r = body::hub_error(StatusCode::NOT_FOUND, "Entry not found");
        r.headers_mut().insert("x-error-code", HeaderValue::from_static("EntryNotFound"));
        return r;
    };
    let etag = format!("\"{:016x}{:016x}\"", mix(content), mix(content.len()));
    let mut response = (StatusCode::OK, content.clone()).into_response();
    let h = response.headers_mut();
    let value = |v: &str| HeaderValue::from_str(v).expect("header value");
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, value(&content.len().to_string()));
    h.insert(header::ETAG, value(&etag));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert("x-repo-commit", value(&sha));
    response
}
