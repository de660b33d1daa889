//! The caller's context: everything about its environment that decides which home, which
//! token and which Hub a request is about. Captured once by the client, sent with every request.

use crate::env::{Env, is_truthy};
use crate::paths::{self, HomePaths};
use crate::pb;

/// huggingface_hub's default OAuth client id for the device-code flow.
pub const DEFAULT_OAUTH_CLIENT_ID: &str = "26be6b09-91c5-47da-9861-d2d2bb7a7e36";

/// Which variable supplied the env token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvVar {
    HfToken,
    HuggingFaceHubToken,
}

impl EnvVar {
    pub fn name(self) -> &'static str {
        match self {
            EnvVar::HfToken => "HF_TOKEN",
            EnvVar::HuggingFaceHubToken => "HUGGING_FACE_HUB_TOKEN",
        }
    }
}

/// The caller's context. `env_token` is the raw value; cleaning happens where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientContext {
    pub paths: HomePaths,
    pub endpoint: String,
    pub env_token: Option<(String, EnvVar)>,
    pub offline: bool,
    pub oauth_client_id: String,
    /// What chooses among stored tokens: a name, the cwd, the repo, OIDC.
    pub routing: Routing,
}

/// What the caller will do with the token at the repository.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    #[default]
    Unspecified,
    Read,
    Write,
}

/// The parts of the context that choose among stored tokens (see the daemon's `route` module).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routing {
    /// `HF_AUTH_TOKEN_NAME` or `--token-name`.
    pub token_name: Option<String>,
    pub cwd: Option<std::path::PathBuf>,
    /// `acme/x`, `datasets/acme/x`, `spaces/acme/x`, as the caller named it.
    pub repo: Option<String>,
    pub access: Access,
    pub oidc: Option<Oidc>,
}

/// huggingface_hub's OIDC inputs (`_get_token_from_oidc`). The id token and the Actions request
/// token are secrets: `Debug` shows only whether they are set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Oidc {
    /// `HF_OIDC_RESOURCE`.
    pub resource: String,
    /// `HF_OIDC_ID_TOKEN`.
    pub id_token: Option<String>,
    /// `ACTIONS_ID_TOKEN_REQUEST_URL` and `_TOKEN`, when `GITHUB_ACTIONS=true`.
    pub github: Option<(String, String)>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("resource", &self.resource)
            .field("id_token", &self.id_token.as_ref().map(|_| "<set>"))
            .field("github", &self.github.as_ref().map(|(url, _)| url))
            .finish()
    }
}

impl Oidc {
    /// huggingface_hub's rule: OIDC applies when `HF_OIDC_RESOURCE` is set (non-empty).
    pub fn from_env(env: &Env) -> Option<Self> {
        let resource = env.non_empty("HF_OIDC_RESOURCE")?.to_owned();
        let github = (env.get("GITHUB_ACTIONS") == Some("true"))
            .then(|| {
                let url = env.non_empty("ACTIONS_ID_TOKEN_REQUEST_URL")?;
                let token = env.non_empty("ACTIONS_ID_TOKEN_REQUEST_TOKEN")?;
                Some((url.to_owned(), token.to_owned()))
            })
            .flatten();
        Some(Self { resource, id_token: env.non_empty("HF_OIDC_ID_TOKEN").map(str::to_owned), github })
    }
}

impl std::fmt::Debug for ClientContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientContext")
            .field("paths", &self.paths)
            .field("endpoint", &self.endpoint)
            .field("env_token", &self.env_token.as_ref().map(|(_, var)| var.name()))
            .field("offline", &self.offline)
            .field("routing", &self.routing)
            .finish_non_exhaustive()
    }
}

impl ClientContext {
    /// A context for these paths and endpoint, with nothing else set (tests, embedding).
    pub fn new(paths: HomePaths, endpoint: impl Into<String>) -> Self {
        Self {
            paths,
            endpoint: endpoint.into(),
            env_token: None,
            offline: false,
            oauth_client_id: DEFAULT_OAUTH_CLIENT_ID.to_owned(),
            routing: Routing::default(),
        }
    }

    /// The same context, asking about `repo` (for `access`).
    pub fn for_repo(mut self, repo: Option<String>, access: Access) -> Self {
        self.routing.repo = repo;
        self.routing.access = access;
        self
    }

    /// huggingface_hub's view of this environment.
    pub fn from_env(env: &Env) -> Self {
        // `os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")`: an empty
        // HF_TOKEN falls through to the legacy variable, a whitespace one does not (spec §2).
        let env_token = match env.non_empty("HF_TOKEN") {
            Some(v) => Some((v.to_owned(), EnvVar::HfToken)),
            None => env.non_empty("HUGGING_FACE_HUB_TOKEN").map(|v| (v.to_owned(), EnvVar::HuggingFaceHubToken)),
        };
        let offline =
            env.non_empty("HF_HUB_OFFLINE").or_else(|| env.get("TRANSFORMERS_OFFLINE")).is_some_and(is_truthy);
        Self {
            paths: HomePaths::from_env(env),
            endpoint: paths::endpoint(env),
            env_token,
            offline,
            oauth_client_id: env
                .non_empty("HF_DEVICE_CODE_OAUTH_CLIENT_ID")
                .unwrap_or(DEFAULT_OAUTH_CLIENT_ID)
                .to_owned(),
            routing: Routing {
                token_name: env.non_empty("HF_AUTH_TOKEN_NAME").map(str::to_owned),
                cwd: env.cwd().map(std::path::Path::to_path_buf),
                repo: None,
                access: Access::Unspecified,
                oidc: Oidc::from_env(env),
            },
        }
    }

    pub fn to_pb(&self) -> pb::ClientContext {
        pb::ClientContext {
            token_path: self.paths.token.to_string_lossy().into_owned(),
            stored_tokens_path: self.paths.stored_tokens.to_string_lossy().into_owned(),
            endpoint: self.endpoint.clone(),
            env_token: self.env_token.as_ref().map(|(v, _)| v.clone()),
            env_token_var: match self.env_token {
                Some((_, EnvVar::HfToken)) => pb::EnvTokenVar::HfToken as i32,
                Some((_, EnvVar::HuggingFaceHubToken)) => pb::EnvTokenVar::HuggingFaceHubToken as i32,
                None => pb::EnvTokenVar::Unspecified as i32,
            },
            offline: self.offline,
            oauth_client_id: self.oauth_client_id.clone(),
            token_name: self.routing.token_name.clone(),
            cwd: self.routing.cwd.as_ref().map(|c| c.to_string_lossy().into_owned()).unwrap_or_default(),
            repo: self.routing.repo.clone().unwrap_or_default(),
            access: match self.routing.access {
                Access::Unspecified => pb::Access::Unspecified,
                Access::Read => pb::Access::Read,
                Access::Write => pb::Access::Write,
            } as i32,
            oidc: self.routing.oidc.as_ref().map(|o| pb::OidcContext {
                resource: o.resource.clone(),
                id_token: o.id_token.clone(),
                github_request_url: o.github.as_ref().map(|(u, _)| u.clone()).unwrap_or_default(),
                github_request_token: o.github.as_ref().map(|(_, t)| t.clone()),
            }),
        }
    }

    /// Validates a context received on the wire.
    pub fn from_pb(pb: pb::ClientContext) -> Result<Self, ContextError> {
        // The message's strings are moved, not copied: this runs on every request.
        let token = std::path::PathBuf::from(pb.token_path);
        let stored_tokens = std::path::PathBuf::from(pb.stored_tokens_path);
        if !token.is_absolute() || !stored_tokens.is_absolute() {
            return Err(ContextError::RelativePath);
        }
        if token.file_name().is_none() || stored_tokens.file_name().is_none() {
            return Err(ContextError::NoFileName);
        }
        let mut endpoint = pb.endpoint;
        endpoint.truncate(endpoint.trim_end_matches('/').len());
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(ContextError::Endpoint);
        }
        let env_token = match (pb.env_token, pb::EnvTokenVar::try_from(pb.env_token_var)) {
            (Some(v), Ok(pb::EnvTokenVar::HuggingFaceHubToken)) => Some((v, EnvVar::HuggingFaceHubToken)),
            (Some(v), _) => Some((v, EnvVar::HfToken)),
            (None, _) => None,
        };
        let oauth_client_id =
            if pb.oauth_client_id.is_empty() { DEFAULT_OAUTH_CLIENT_ID.to_owned() } else { pb.oauth_client_id };
        let cwd = (!pb.cwd.is_empty()).then(|| std::path::PathBuf::from(pb.cwd));
        if cwd.as_ref().is_some_and(|c| !c.is_absolute()) {
            return Err(ContextError::RelativePath);
        }
        let routing = Routing {
            token_name: pb.token_name.filter(|n| !n.is_empty()),
            cwd,
            repo: (!pb.repo.is_empty()).then_some(pb.repo),
            access: match pb::Access::try_from(pb.access) {
                Ok(pb::Access::Read) => Access::Read,
                Ok(pb::Access::Write) => Access::Write,
                _ => Access::Unspecified,
            },
            oidc: pb.oidc.filter(|o| !o.resource.is_empty()).map(|o| Oidc {
                resource: o.resource,
                id_token: o.id_token.filter(|t| !t.is_empty()),
                github: o
                    .github_request_token
                    .filter(|_| !o.github_request_url.is_empty())
                    .map(|t| (o.github_request_url, t)),
            }),
        };
        Ok(Self {
            paths: HomePaths { token, stored_tokens },
            endpoint,
            env_token,
            offline: pb.offline,
            oauth_client_id,
            routing,
        })
    }

    /// The variable name when an env token is in force (after cleaning), as huggingface_hub
    /// reports it: always "HF_TOKEN" in its messages.
    pub fn env_token_cleaned(&self) -> Option<(crate::Token, EnvVar)> {
        let (raw, var) = self.env_token.as_ref()?;
        crate::Token::clean(raw).map(|t| (t, *var))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContextError {
    #[error("client context: token paths and the working directory must be absolute")]
    RelativePath,
    #[error("client context: token paths must name a file")]
    NoFileName,
    #[error("client context: the endpoint must be an http(s) URL")]
    Endpoint,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn ctx(pairs: &[(&str, &str)]) -> ClientContext {
        let mut all = vec![("HOME", "/home/u")];
        all.extend_from_slice(pairs);
        ClientContext::from_env(&Env::from_pairs(all.iter().map(|(k, v)| (k.to_string(), v.to_string()))))
    }

    // Checklist 6 and 7: which env variable wins.
    #[rstest]
    #[case(&[], None)]
    #[case(&[("HF_TOKEN", "hf_from_env")], Some(("hf_from_env", EnvVar::HfToken)))]
    #[case(&[("HUGGING_FACE_HUB_TOKEN", "hf_leg")], Some(("hf_leg", EnvVar::HuggingFaceHubToken)))]
    #[case(&[("HF_TOKEN", "hf_a"), ("HUGGING_FACE_HUB_TOKEN", "hf_leg")], Some(("hf_a", EnvVar::HfToken)))]
    #[case(&[("HF_TOKEN", ""), ("HUGGING_FACE_HUB_TOKEN", "hf_leg")], Some(("hf_leg", EnvVar::HuggingFaceHubToken)))]
    #[case(&[("HF_TOKEN", "   "), ("HUGGING_FACE_HUB_TOKEN", "hf_leg")], Some(("   ", EnvVar::HfToken)))]
    fn env_token_choice(#[case] pairs: &[(&str, &str)], #[case] expected: Option<(&str, EnvVar)>) {
        let c = ctx(pairs);
        assert_eq!(c.env_token.as_ref().map(|(v, var)| (v.as_str(), *var)), expected);
    }

    #[test]
    fn whitespace_env_token_cleans_to_nothing() {
        let c = ctx(&[("HF_TOKEN", "   "), ("HUGGING_FACE_HUB_TOKEN", "hf_leg")]);
        assert!(c.env_token_cleaned().is_none());
    }

    #[rstest]
    #[case(&[], false)]
    #[case(&[("HF_HUB_OFFLINE", "1")], true)]
    #[case(&[("HF_HUB_OFFLINE", "0"), ("TRANSFORMERS_OFFLINE", "1")], false)]
    #[case(&[("HF_HUB_OFFLINE", ""), ("TRANSFORMERS_OFFLINE", "yes")], true)]
    fn offline(#[case] pairs: &[(&str, &str)], #[case] expected: bool) {
        assert_eq!(ctx(pairs).offline, expected);
    }

    #[test]
    fn wire_round_trip() {
        let c = ctx(&[("HF_HOME", "/h"), ("HUGGING_FACE_HUB_TOKEN", "hf_leg"), ("HF_ENDPOINT", "http://127.0.0.1:1/")]);
        assert_eq!(ClientContext::from_pb(c.to_pb()).unwrap(), c);
    }

    #[test]
    fn routing_round_trips_and_debug_hides_oidc_secrets() {
        let c = ctx(&[
            ("HF_AUTH_TOKEN_NAME", "acme-write"),
            ("HF_OIDC_RESOURCE", "acme/model"),
            ("HF_OIDC_ID_TOKEN", "eyJ_secret_id"),
            ("GITHUB_ACTIONS", "true"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:1/id"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh_secret_bearer"),
        ])
        .for_repo(Some("datasets/acme/x".into()), Access::Write);
        assert_eq!(c.routing.token_name.as_deref(), Some("acme-write"));
        assert_eq!(ClientContext::from_pb(c.to_pb()).unwrap(), c);
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn debug_hides_the_env_token() {
        let c = ctx(&[("HF_TOKEN", "hf_secret_value")]);
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn relative_paths_are_refused_on_the_wire() {
        let mut pb = ctx(&[]).to_pb();
        pb.token_path = "token".into();
        assert_eq!(ClientContext::from_pb(pb), Err(ContextError::RelativePath));
    }
}
