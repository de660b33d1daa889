//! huggingface_hub's `get_token()` (spec §2, OIDC and Colab excepted), applied to the caller's
//! context and a home's snapshot: the cleaned env token (`HF_TOKEN`, else
//! `HUGGING_FACE_HUB_TOKEN`), else the cleaned token file — or, in keyring storage without the
//! mirror, the keyring-held token the active-name file names (the home has read it already).

use crate::store::disk::Snapshot;
use hf_auth_proto::{ClientContext, EnvVar, Token};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    None,
    Env(EnvVar),
    File,
    Keyring,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub token: Option<Token>,
    pub source: Source,
}

/// The token file could not be read as text (Python raises here too).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenFileError(pub String);

pub fn resolve(ctx: &ClientContext, snapshot: &Snapshot) -> Result<Resolution, TokenFileError> {
    if let Some((token, var)) = ctx.env_token_cleaned() {
        return Ok(Resolution { token: Some(token), source: Source::Env(var) });
    }
    match &snapshot.active {
        Ok(Some(token)) => {
            let source = if snapshot.keyring_active.is_some() { Source::Keyring } else { Source::File };
            Ok(Resolution { token: Some(token.clone()), source })
        }
        Ok(None) => Ok(Resolution { token: None, source: Source::None }),
        Err(e) => Err(TokenFileError(e.clone())),
    }
}

/// The first stored section (file order) whose raw `hf_token` equals `token`.
pub fn name_of(snapshot: &Snapshot, token: &Token) -> Option<String> {
    snapshot.stored.file.sections.iter().find(|s| s.get("hf_token") == Some(token.expose())).map(|s| s.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::disk::Stored;
    use hf_auth_proto::Env;
    use rstest::rstest;
    use std::sync::Arc;

    fn ctx(pairs: &[(&str, &str)]) -> ClientContext {
        let mut all = vec![("HOME", "/home/u")];
        all.extend_from_slice(pairs);
        ClientContext::from_env(&Env::from_pairs(all.iter().map(|(k, v)| (k.to_string(), v.to_string()))))
    }

    fn snap(file: Option<&str>) -> Snapshot {
        Snapshot::new(Arc::new(Stored::default()), Ok(file.and_then(Token::clean)), None)
    }

    // Spec §2's precedence table.
    #[rstest]
    #[case(&[("HF_TOKEN", "hf_from_env")], Some("hf_badstored_XXXX\n"), Some("hf_from_env"), Source::Env(EnvVar::HfToken))]
    #[case(&[("HUGGING_FACE_HUB_TOKEN", "hf_from_legacy")], None, Some("hf_from_legacy"), Source::Env(EnvVar::HuggingFaceHubToken))]
    #[case(&[("HF_TOKEN", "hf_a"), ("HUGGING_FACE_HUB_TOKEN", "hf_b")], None, Some("hf_a"), Source::Env(EnvVar::HfToken))]
    #[case(&[("HF_TOKEN", ""), ("HUGGING_FACE_HUB_TOKEN", "hf_b")], None, Some("hf_b"), Source::Env(EnvVar::HuggingFaceHubToken))]
    #[case(&[("HF_TOKEN", "   "), ("HUGGING_FACE_HUB_TOKEN", "hf_b")], Some("hf_file"), Some("hf_file"), Source::File)]
    #[case(&[("HF_TOKEN", "  hf_sp ace  ")], None, Some("hf_sp ace"), Source::Env(EnvVar::HfToken))]
    #[case(&[("HF_TOKEN", "hf_a\nb")], None, Some("hf_ab"), Source::Env(EnvVar::HfToken))]
    #[case(&[], Some("  hf_ws_token\r\n\r\n"), Some("hf_ws_token"), Source::File)]
    #[case(&[], Some(" \n\t\n"), None, Source::None)]
    #[case(&[], None, None, Source::None)]
    fn precedence(
        #[case] env: &[(&str, &str)],
        #[case] file: Option<&str>,
        #[case] expected: Option<&str>,
        #[case] source: Source,
    ) {
        let r = resolve(&ctx(env), &snap(file)).unwrap();
        assert_eq!(r.token.as_ref().map(Token::expose), expected);
        assert_eq!(r.source, source);
    }

    #[test]
    fn unreadable_file_is_an_error_unless_an_env_token_wins() {
        let bad = Snapshot::new(Arc::new(Stored::default()), Err("not UTF-8".into()), None);
        assert!(resolve(&ctx(&[]), &bad).is_err());
        assert!(resolve(&ctx(&[("HF_TOKEN", "hf_x")]), &bad).is_ok());
    }
}
