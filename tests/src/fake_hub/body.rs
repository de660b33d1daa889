//! The Hub's answers, shaped like the real ones (spec §4.7 for whoami, RFC 6749/8628 for OAuth), so
//! the daemon's parsing and its error wording are exercised against what it will really see.

use super::state::{Account, DEFAULT_EXPIRES_IN, mix, now};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The Hub's 401 text, in both the body and `x-error-message`.
pub const INVALID_CREDENTIALS: &str = "Invalid credentials in Authorization header";
const RATE_LIMITED: &str = "You have been rate-limited; you can retry this action in about 5 minutes. If you're a new user, your limits will raise progressively over time. Get in touch with us at website@huggingface.co if you need access to higher limits.";
/// When access tokens report being created (a fixed date keeps bodies comparable).
const CREATED_AT: &str = "2024-05-01T10:00:00.000Z";
const SCOPE: &str = "openid profile email read-repos write-repos manage-repos inference-api";

/// The `GET /api/whoami-v2` body for `account`; `expires_at` (unix seconds) only matters for OAuth.
pub fn whoami(account: &Account, expires_at: Option<i64>) -> Value {
    let mut user = Map::new();
    user.insert("type".into(), "user".into());
    user.insert("id".into(), object_id(&account.name).into());
    user.insert("name".into(), account.name.clone().into());
    user.insert("fullname".into(), account.fullname.clone().into());
    if let Some(email) = &account.email {
        user.insert("email".into(), email.clone().into());
        user.insert("emailVerified".into(), true.into());
    }
    user.insert("canPay".into(), false.into());
    user.insert("isPro".into(), false.into());
    user.insert("periodEnd".into(), Value::Null);
    user.insert("avatarUrl".into(), avatar_url(&account.name).into());
    user.insert("orgs".into(), account.orgs.iter().map(|org| org_entry(org, account.role_in(org))).collect());
    user.insert("auth".into(), auth(account, expires_at));
    Value::Object(user)
}

fn org_entry(name: &str, role: &str) -> Value {
    let mut chars = name.chars();
    let fullname: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    json!({
        "type": "org",
        "id": object_id(name),
        "name": name,
        "fullname": fullname,
        "email": null,
        "canPay": false,
        "periodEnd": null,
        "avatarUrl": avatar_url(name),
        "roleInOrg": role,
        "isEnterprise": false,
    })
}

fn auth(account: &Account, expires_at: Option<i64>) -> Value {
    let Some(display_name) = &account.display_name else {
        let expires_at = expires_at.unwrap_or_else(|| now() + DEFAULT_EXPIRES_IN);
        return json!({"type": "oauth", "expiresAt": iso8601(expires_at)});
    };
    let mut token = Map::new();
    token.insert("displayName".into(), display_name.clone().into());
    if let Some(role) = &account.role {
        token.insert("role".into(), role.clone().into());
        if role == "fineGrained" {
            token.insert("fineGrained".into(), fine_grained(account));
        }
    }
    token.insert("createdAt".into(), CREATED_AT.into());
    json!({"type": "access_token", "accessToken": token})
}

fn fine_grained(account: &Account) -> Value {
    let scoped: Vec<Value> = match account.scoped.as_slice() {
        [] => vec![scoped_entry("user", &account.name, &["repo.content.read", "repo.write"])],
        grants => grants
            .iter()
            .map(|g| {
                let permissions: Vec<&str> = g.permissions.iter().map(String::as_str).collect();
                scoped_entry(&g.entity_type, &g.name, &permissions)
            })
            .collect(),
    };
    json!({
        "canReadGatedRepos": true,
        "global": ["discussion.write", "post.write"],
        "scoped": scoped,
    })
}

fn scoped_entry(entity_type: &str, name: &str, permissions: &[&str]) -> Value {
    json!({
        "entity": {"_id": object_id(name), "type": entity_type, "name": name},
        "permissions": permissions,
    })
}

/// A 24-hex-digit id like the Hub's MongoDB object ids, stable per name.
fn object_id(name: &str) -> String {
    format!("{:016x}{:08x}", mix(name), mix((name, 1)) as u32)
}

fn avatar_url(name: &str) -> String {
    format!("/avatars/{:016x}{:016x}.svg", mix((name, 2)), mix((name, 3)))
}

/// `2026-01-31T08:00:00.000Z` from unix seconds (UTC), without pulling in a date crate.
pub fn iso8601(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.000Z")
}

/// The Hub's error answer: `{"error": message}` plus the same text in `x-error-message`, which is
/// where huggingface_hub looks first.
pub fn hub_error(status: StatusCode, message: &str) -> Response {
    let mut response = (status, Json(json!({"error": message}))).into_response();
    if let Ok(value) = HeaderValue::from_str(message) {
        response.headers_mut().insert("x-error-message", value);
    }
    response
}

/// What the Hub answers when a path is forced into `Mode::Status(code)`.
pub fn status(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or_else(|_| panic!("{code} is not an HTTP status"));
    match code {
        401 => hub_error(status, INVALID_CREDENTIALS),
        403 => hub_error(status, "Forbidden"),
        429 => {
            let mut response = hub_error(status, RATE_LIMITED);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("300"));
            response
        }
        500 => hub_error(status, "Internal Error"),
        _ => hub_error(status, status.canonical_reason().unwrap_or("Error")),
    }
}

/// An OAuth error (RFC 6749 §5.2): 400, `{"error", "error_description"}`, never cached.
pub fn oauth_error(error: &str, description: &str) -> Response {
    no_store((StatusCode::BAD_REQUEST, Json(json!({"error": error, "error_description": description}))).into_response())
}

/// A token answer (RFC 6749 §5.1); `None` fields are left out rather than sent as `null`.
pub fn token(access_token: &str, refresh_token: Option<&str>, expires_in: Option<i64>) -> Response {
    let mut body = Map::new();
    body.insert("access_token".into(), access_token.into());
    body.insert("token_type".into(), "bearer".into());
    if let Some(expires_in) = expires_in {
        body.insert("expires_in".into(), expires_in.into());
    }
    if let Some(refresh_token) = refresh_token {
        body.insert("refresh_token".into(), refresh_token.into());
    }
    body.insert("scope".into(), SCOPE.into());
    no_store(Json(Value::Object(body)).into_response())
}

/// A 200 that is not JSON, as a misrouted proxy or captive portal would send.
pub fn html_page() -> Response {
    let page = "<!doctype html>\n<html><head><title>Hugging Face</title></head><body>Loading…</body></html>\n";
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
