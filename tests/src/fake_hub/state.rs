//! What the fake Hub knows and remembers: the accounts behind valid tokens, the scripted OAuth
//! answers, per-path failure modes, and a log of every request so tests can assert on what was sent.

use axum::http::HeaderMap;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Lifetime of access tokens the fake issues when a script does not say (the Hub's is 8 hours).
pub(crate) const DEFAULT_EXPIRES_IN: i64 = 8 * 3600;

/// The Hub account a token belongs to, as `/api/whoami-v2` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub fullname: String,
    /// `None` leaves `email`/`emailVerified` out, as the Hub does for tokens without the email scope.
    pub email: Option<String>,
    /// Organization names, reported with `roleInOrg: "write"` unless [`org_roles`](Self::org_roles)
    /// says otherwise.
    pub orgs: Vec<String>,
    /// `roleInOrg` per organization (`read`, `contributor`, `write`, `admin`), for those not `write`.
    pub org_roles: Vec<(String, String)>,
    /// A fine-grained token's `scoped` grants; empty gives the default one (the owner's own
    /// namespace, read and write).
    pub scoped: Vec<Scoped>,
    /// `auth.accessToken.displayName`; `None` makes this an OAuth token (`auth` has no `accessToken`).
    pub display_name: Option<String>,
    /// `auth.accessToken.role`: `read`, `write` or `fineGrained` (which adds a `fineGrained` object).
    /// `None` with a display name omits the field, so clients print `Token is valid.` without a role.
    pub role: Option<String>,
}

impl Account {
    /// A user with a `write` access token named `<name>-token`, e.g. `alice` → "Alice Example",
    /// `alice@example.com`, no orgs.
    pub fn user(name: &str) -> Self {
        let mut chars = name.chars();
        let capitalized: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
        Self {
            name: name.to_owned(),
            fullname: format!("{capitalized} Example"),
            email: Some(format!("{name}@example.com")),
            orgs: Vec::new(),
            org_roles: Vec::new(),
            scoped: Vec::new(),
            display_name: Some(format!("{name}-token")),
            role: Some("write".to_owned()),
        }
    }

    pub fn with_orgs<I, S>(mut self, orgs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.orgs = orgs.into_iter().map(Into::into).collect();
        self
    }

    /// Membership of `org` with this `roleInOrg` (added to `orgs` if missing).
    pub fn with_org_role(mut self, org: &str, role: &str) -> Self {
        if !self.orgs.iter().any(|o| o == org) {
            self.orgs.push(org.to_owned());
        }
        self.org_roles.retain(|(o, _)| o != org);
        self.org_roles.push((org.to_owned(), role.to_owned()));
        self
    }

    /// `roleInOrg` for `org`.
    pub fn role_in(&self, org: &str) -> &str {
        self.org_roles.iter().find(|(o, _)| o == org).map_or("write", |(_, r)| r.as_str())
    }

    /// A fine-grained token (`role: "fineGrained"`) with this grant added to its `scoped` list.
    pub fn with_scoped(mut self, grant: Scoped) -> Self {
        self.role = Some("fineGrained".to_owned());
        self.scoped.push(grant);
        self
    }

    /// An access token with this `displayName` and `role` (`read`, `write`, `fineGrained`).
    pub fn with_token_name(mut self, display_name: &str, role: &str) -> Self {
        self.display_name = Some(display_name.to_owned());
        self.role = Some(role.to_owned());
        self
    }

    pub fn with_email(mut self, email: Option<&str>) -> Self {
        self.email = email.map(str::to_owned);
        self
    }

    /// An OAuth token: whoami answers `auth: {"type": "oauth", "expiresAt": …}`, so clients name the
    /// token `oauth-<name>`.
    pub fn oauth(mut self) -> Self {
        self.display_name = None;
        self.role = None;
        self
    }

    pub fn is_oauth(&self) -> bool {
        self.display_name.is_none()
    }
}

/// One `fineGrained.scoped[]` entry: `{entity: {_id, type, name}, permissions}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scoped {
    /// `user`, `org`, `model`, `dataset` or `space`.
    pub entity_type: String,
    /// A user or org name, or a repo id (`acme/x`).
    pub name: String,
    /// Such as `repo.content.read`, `repo.write`.
    pub permissions: Vec<String>,
}

impl Scoped {
    pub fn new(entity_type: &str, name: &str, permissions: &[&str]) -> Self {
        Self {
            entity_type: entity_type.to_owned(),
            name: name.to_owned(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    /// Read and write on everything in the org `org`.
    pub fn org_write(org: &str) -> Self {
        Self::new("org", org, &["repo.content.read", "repo.write"])
    }
}

/// How the fake answers every request to one path (see [`super::FakeHub::set_mode`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Normal,
    /// Answer this status with the Hub's body for it (401, 403, 429, 500; others get a generic one).
    Status(u16),
    /// Answer normally, but only after this long.
    Delay(Duration),
    /// Read the request, then drop the TCP connection with a reset and no response at all.
    ResetConnection,
    /// Never answer (until the hub shuts down).
    Hang,
    /// Answer 200 with a JSON content type and a body that never ends (JSON whitespace, as fast
    /// as the client reads it): a hostile or broken endpoint.
    EndlessBody,
}

/// One answer to a device-code poll (`POST /oauth/token`, `grant_type=…:device_code`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenStep {
    /// 400 `authorization_pending`.
    Pending,
    /// 400 `slow_down`.
    SlowDown,
    /// 400 `access_denied`; the device code is spent.
    Denied,
    /// 400 `expired_token`; the device code is spent.
    Expired,
    /// 400 with this `error` and `error_description`.
    OtherError(String, String),
    /// 500 with the Hub's error body.
    ServerError,
    /// 200 with an HTML page, like a captive portal or a misrouted proxy.
    NotJson,
    /// 200 with a token; it becomes valid for the OAuth account (see `set_oauth_account`), and so does
    /// the refresh token. `None` fields are left out of the answer.
    Success { access_token: String, refresh_token: Option<String>, expires_in: Option<i64> },
}

/// One answer to `POST /oauth/token`, `grant_type=refresh_token`, for a known refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshStep {
    /// 200; the new access token belongs to the refresh token's account. `refresh_token: None` means
    /// the refresh token is not rotated (left out of the answer, and still valid).
    Success { access_token: String, refresh_token: Option<String>, expires_in: i64 },
    /// 400 `invalid_grant` / `refresh token revoked`; the refresh token is revoked.
    InvalidGrant,
    /// 500 with the Hub's error body.
    ServerError,
}

/// What `POST /oauth/device` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceResponse {
    /// 200 answers a grant; anything else answers that status with the Hub's error body.
    pub status: u16,
    pub user_code: String,
    /// `None` leaves the field out (clients default to 5).
    pub interval: Option<u64>,
    /// `None` leaves the field out (clients default to 900).
    pub expires_in: Option<u64>,
    /// `false` leaves `verification_uri_complete` out (clients fall back to `verification_uri`).
    pub verification_uri_complete: bool,
}

impl Default for DeviceResponse {
    fn default() -> Self {
        Self {
            status: 200,
            user_code: "ABCD-EFGH".to_owned(),
            interval: Some(5),
            expires_in: Some(900),
            verification_uri_complete: true,
        }
    }
}

impl DeviceResponse {
    /// The default answer with another polling interval (tests use 0 or 1 second).
    pub fn with_interval(interval: u64) -> Self {
        Self { interval: Some(interval), ..Self::default() }
    }

    /// Only the required fields: `device_code`, `user_code`, `verification_uri`.
    pub fn minimal() -> Self {
        Self { interval: None, expires_in: None, verification_uri_complete: false, ..Self::default() }
    }

    pub fn server_error() -> Self {
        Self { status: 500, ..Self::default() }
    }
}

/// A valid access token: whose it is and, for OAuth tokens, when it expires (unix seconds).
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub account: Account,
    pub expires_at: Option<i64>,
}

/// What was seen on one path.
#[derive(Clone, Debug, Default)]
pub(crate) struct PathLog {
    pub count: usize,
    pub last_headers: Option<HeaderMap>,
    pub last_form: Option<Vec<(String, String)>>,
    /// The JSON body of the last request, when it had one (the OIDC token exchange).
    pub last_json: Option<serde_json::Value>,
    /// The query string of the last request (`audience=…` on the Actions id-token endpoint).
    pub last_query: Option<String>,
    pub times: Vec<Instant>,
    /// Every header value and form value received, so a test can ask whether a secret ever
    /// reached this path (not just in the last request).
    pub received: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub tokens: HashMap<String, Grant>,
    pub refresh_tokens: HashMap<String, Account>,
    /// Device codes handed out and not yet spent by a final answer.
    pub device_codes: HashSet<String>,
    pub device_steps: VecDeque<TokenStep>,
    pub refresh_steps: VecDeque<RefreshStep>,
    pub device_response: DeviceResponse,
    /// Whose tokens the device flow issues.
    pub oauth_account: Account,
    pub modes: HashMap<String, Mode>,
    pub log: HashMap<String, PathLog>,
    /// Repositories by id with its kind prefix: `acme/x`, `datasets/acme/x`, `spaces/acme/x`.
    pub repos: HashMap<String, super::repos::Repo>,
    pub oidc: OidcState,
    serial: u64,
}

/// Trusted publishing: which id tokens the exchange accepts, and the Actions runtime that mints them.
#[derive(Debug, Default)]
pub(crate) struct OidcState {
    /// id token → the account its subject (a CI job's workflow) may act as.
    pub subjects: HashMap<String, Account>,
    /// The Actions request token (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`) → whose id tokens it mints.
    pub runners: HashMap<String, Account>,
    /// Lifetime of exchanged tokens (`expires_in`).
    pub expires_in: i64,
    /// Successful exchanges.
    pub exchanges: usize,
}

impl State {
    pub fn new() -> Self {
        Self {
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            device_codes: HashSet::new(),
            device_steps: VecDeque::new(),
            refresh_steps: VecDeque::new(),
            device_response: DeviceResponse::default(),
            oauth_account: Account::user("alice").oauth(),
            modes: HashMap::new(),
            log: HashMap::new(),
            repos: HashMap::new(),
            oidc: OidcState { expires_in: 3600, ..OidcState::default() },
            serial: 0,
        }
    }

    /// Logs the request and returns the mode to answer it in.
    pub fn record(&mut self, path: &str, query: Option<&str>, headers: &HeaderMap, body: Body) -> Mode {
        let log = self.log.entry(path.to_owned()).or_default();
        log.count += 1;
        log.received.extend(headers.values().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()));
        log.received.extend(body.form.iter().flatten().map(|(_, v)| v.clone()));
        if let Some(serde_json::Value::Object(fields)) = &body.json {
            log.received.extend(fields.values().filter_map(|v| v.as_str()).map(str::to_owned));
        }
        log.received.extend(query.map(str::to_owned));
        log.last_headers = Some(headers.clone());
        log.last_form = body.form;
        log.last_json = body.json;
        log.last_query = query.map(str::to_owned);
        log.times.push(Instant::now());
        self.modes.get(path).cloned().unwrap_or_default()
    }

    /// A fresh opaque value such as `hf_oauth_3f9a…`: unique per hub, random-looking so that a client
    /// cannot lean on its shape.
    pub fn secret(&mut self, prefix: &str) -> String {
        self.serial += 1;
        format!("{prefix}{:016x}{:016x}", mix(self.serial), mix(!self.serial))
    }

    pub fn issue_token(&mut self, token: &str, account: &Account, expires_in: Option<i64>) {
        let expires_at = Some(now().saturating_add(expires_in.unwrap_or(DEFAULT_EXPIRES_IN)));
        self.tokens.insert(token.to_owned(), Grant { account: account.clone(), expires_at });
    }
}

/// A request body as decoded for the log: a form, JSON, or neither.
#[derive(Debug, Default)]
pub(crate) struct Body {
    pub form: Option<Vec<(String, String)>>,
    pub json: Option<serde_json::Value>,
}

/// Unix seconds.
pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A stable, well-spread 64-bit value for `n` (ids and secrets must differ, not be unpredictable).
pub(crate) fn mix(n: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    n.hash(&mut h);
    h.finish()
}
