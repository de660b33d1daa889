//! With no daemon: huggingface_hub 2.4.0's own `get_token()` order, minus what only the daemon
//! does — `HF_TOKEN`, else `HUGGING_FACE_HUB_TOKEN` (Python's `or`: an empty one falls through),
//! cleaned; else the token file (`HF_TOKEN_PATH` or `$HF_HOME/token`), cleaned. No OAuth refresh,
//! no OIDC exchange, no keyring, no routing: those need hf-authd.

use super::{Resolved, Source};
use hf_auth_proto::{ClientContext, Token};

pub fn token(ctx: &ClientContext) -> Option<Resolved> {
    let make =
        |token, source| Resolved { token, source, from_daemon: false, name: None, username: None, expires_at: None };
    // `_get_token_from_environment`: the chosen variable, cleaned; a blank one means no token
    // from the environment, and then the file is read.
    if let Some((token, var)) = ctx.env_token_cleaned() {
        return Some(make(token, Source::Env(var)));
    }
    let raw = std::fs::read_to_string(&ctx.paths.token).ok()?;
    Token::clean(&raw).map(|t| make(t, Source::File))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hf_auth_proto::{EnvVar, HomePaths};

    fn ctx(dir: &std::path::Path) -> ClientContext {
        ClientContext::new(
            HomePaths { token: dir.join("token"), stored_tokens: dir.join("stored_tokens") },
            "https://huggingface.co",
        )
    }

    #[test]
    fn env_then_file_as_huggingface_hub() {
        let t = tempfile::tempdir().unwrap();
        let mut c = ctx(t.path());
        assert_eq!(token(&c), None);
        std::fs::write(t.path().join("token"), "  hf_file\n").unwrap();
        let r = token(&c).unwrap();
        assert_eq!((r.token.expose(), r.source, r.from_daemon), ("hf_file", Source::File, false));
        c.env_token = Some(("hf_env\r\n".into(), EnvVar::HuggingFaceHubToken));
        let r = token(&c).unwrap();
        assert_eq!((r.token.expose(), r.source), ("hf_env", Source::Env(EnvVar::HuggingFaceHubToken)));
        // A blank env token is no token: the file is read (`_get_token_from_environment` → None).
        c.env_token = Some(("  ".into(), EnvVar::HfToken));
        assert_eq!(token(&c).unwrap().source, Source::File);
        std::fs::write(t.path().join("token"), "\n").unwrap();
        assert_eq!(token(&c), None);
    }
}
