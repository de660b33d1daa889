//! `Debug` for the generated messages that carry a secret (a token, git's password, the caller's
//! env token): build.rs tells prost to skip its derived `Debug` for exactly these, and here each
//! secret field shows only its mask. Debug output ends up in logs and panics; the secret must not.

use crate::pb;
use std::fmt;

/// Long values show huggingface_hub's mask (`hf_****abcd`); short ones (a git password can be
/// anything) would be nearly whole in it, so they show nothing at all.
fn secret(value: &str) -> String {
    match value.chars().count() {
        0 => String::new(),
        n if n < 12 => "<redacted>".to_owned(),
        _ => crate::token::mask(value),
    }
}

impl fmt::Debug for pb::ClientContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientContext")
            .field("token_path", &self.token_path)
            .field("stored_tokens_path", &self.stored_tokens_path)
            .field("endpoint", &self.endpoint)
            .field("env_token", &self.env_token.as_deref().map(secret))
            .field("env_token_var", &self.env_token_var)
            .field("offline", &self.offline)
            .field("oauth_client_id", &self.oauth_client_id)
            .field("token_name", &self.token_name)
            .field("cwd", &self.cwd)
            .field("repo", &self.repo)
            .field("access", &self.access)
            .field("oidc", &self.oidc)
            .finish()
    }
}

impl fmt::Debug for pb::OidcContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcContext")
            .field("resource", &self.resource)
            .field("id_token", &self.id_token.as_deref().map(secret))
            .field("github_request_url", &self.github_request_url)
            .field("github_request_token", &self.github_request_token.as_deref().map(secret))
            .finish()
    }
}

impl fmt::Debug for pb::LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest").field("context", &self.context).field("token", &secret(&self.token)).finish()
    }
}

impl fmt::Debug for pb::ResolveResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolveResponse")
            .field("token", &secret(&self.token))
            .field("source", &self.source)
            .field("name", &self.name)
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .field("protocol", &self.protocol)
            .finish()
    }
}

impl fmt::Debug for pb::WhoAmIRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhoAmIRequest")
            .field("context", &self.context)
            .field("token", &secret(&self.token))
            .field("fresh", &self.fresh)
            .finish()
    }
}

impl fmt::Debug for pb::ForgetWhoAmIRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForgetWhoAmIRequest")
            .field("context", &self.context)
            .field("token", &secret(&self.token))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "hf_SecretValueThatMustNotShow_wxyz";
    const SHORT: &str = "pw1234";

    fn ctx(env_token: &str) -> pb::ClientContext {
        pb::ClientContext {
            token_path: "/h/token".into(),
            env_token: Some(env_token.into()),
            endpoint: "https://huggingface.co".into(),
            oidc: Some(pb::OidcContext {
                resource: "acme/x".into(),
                id_token: Some(env_token.into()),
                github_request_url: "http://127.0.0.1:1/id".into(),
                github_request_token: Some(env_token.into()),
            }),
            ..Default::default()
        }
    }

    /// Every message that carries a secret, with `s` in each secret field.
    fn all(s: &str) -> Vec<String> {
        vec![
            format!("{:?}", ctx(s)),
            format!("{:#?}", ctx(s)),
            format!("{:?}", pb::LoginRequest { context: Some(ctx(s)), token: s.into() }),
            format!(
                "{:?}",
                pb::ResolveResponse { token: s.into(), name: "work".into(), expires_at: 7, ..Default::default() }
            ),
            format!("{:?}", pb::WhoAmIRequest { context: Some(ctx(s)), token: s.into(), fresh: true }),
            format!("{:?}", pb::ForgetWhoAmIRequest { context: Some(ctx(s)), token: s.into() }),
            // Messages that embed a context inherit its redaction.
            format!("{:?}", pb::ResolveRequest { context: Some(ctx(s)), username: "alice".into() }),
            format!("{:?}", pb::StatusRequest { context: Some(ctx(s)) }),
            format!("{:?}", pb::LogoutRequest { context: Some(ctx(s)), token_name: None }),
        ]
    }

    #[test]
    fn no_secret_in_any_debug_output() {
        for shown in all(LONG) {
            assert!(!shown.contains(LONG) && !shown.contains("SecretValue"), "{shown}");
            assert!(shown.contains("hf_****wxyz"), "the mask says which token it was: {shown}");
        }
        for shown in all(SHORT) {
            assert!(!shown.contains(SHORT), "{shown}");
        }
    }

    #[test]
    fn the_rest_still_shows() {
        let shown =
            format!("{:?}", pb::ResolveResponse { token: LONG.into(), name: "work".into(), ..Default::default() });
        assert!(shown.contains("\"work\"") && shown.contains("expires_at"), "{shown}");
        assert!(format!("{:?}", ctx(LONG)).contains("/h/token"));
    }
}
