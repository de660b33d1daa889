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
}

impl std::fmt::Debug for ClientContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientContext")
            .field("paths", &self.paths)
            .field("endpoint", &self.endpoint)
            .field("env_token", &self.env_token.as_ref().map(|(_, var)| var.name()))
            .field("offline", &self.offline)
            .finish_non_exhaustive()
    }
}

impl ClientContext {
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
        }
    }

    /// Validates a context received on the wire.
    pub fn from_pb(pb: pb::ClientContext) -> Result<Self, ContextError> {
        let token = std::path::PathBuf::from(&pb.token_path);
        let stored_tokens = std::path::PathBuf::from(&pb.stored_tokens_path);
        if !token.is_absolute() || !stored_tokens.is_absolute() {
            return Err(ContextError::RelativePath);
        }
        if token.file_name().is_none() || stored_tokens.file_name().is_none() {
            return Err(ContextError::NoFileName);
        }
        let endpoint = pb.endpoint.trim_end_matches('/').to_owned();
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
        Ok(Self {
            paths: HomePaths { token, stored_tokens },
            endpoint,
            env_token,
            offline: pb.offline,
            oauth_client_id,
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
    #[error("client context: token paths must be absolute")]
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
