//! huggingface_hub's file locations (spec §1.1), computed exactly as `constants.py` does.
//!
//! ```text
//! HF_HOME       = expandvars(expanduser(HF_HOME or join(XDG_CACHE_HOME or ~/.cache, "huggingface")))
//! HF_TOKEN_PATH = expandvars(expanduser(HF_TOKEN_PATH or join(HF_HOME, "token")))
//! stored_tokens = join(dirname(HF_TOKEN_PATH), "stored_tokens")   # no env var
//! ```
//! Relative results are made absolute against the caller's cwd, because the daemon that
//! opens them runs elsewhere.

use crate::env::{Env, is_truthy};
use std::path::{Path, PathBuf};

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
pub const STAGING_ENDPOINT: &str = "https://hub-ci.huggingface.co";

/// Where one Hugging Face home keeps its token files.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HomePaths {
    pub token: PathBuf,
    pub stored_tokens: PathBuf,
}

impl HomePaths {
    /// The files as huggingface_hub 2.4.0 would use them in this environment.
    pub fn from_env(env: &Env) -> Self {
        let cache_home = match env.get("XDG_CACHE_HOME") {
            Some(xdg) => xdg.to_owned(),
            None => format!("{}/.cache", expanduser("~", env)),
        };
        let hf_home = env.get("HF_HOME").map(str::to_owned).unwrap_or_else(|| py_join(&cache_home, "huggingface"));
        let hf_home = expandvars(&expanduser(&hf_home, env), env);
        let token = match env.get("HF_TOKEN_PATH") {
            Some(p) => expandvars(&expanduser(p, env), env),
            None => py_join(&hf_home, "token"),
        };
        // Computed before the staging override, as in constants.py (spec §1.1 staging quirk).
        let stored_tokens = py_join(py_dirname(&token), "stored_tokens");
        let token =
            if staging(env) { py_join(&expanduser("~/.cache/huggingface_staging", env), "token") } else { token };
        Self { token: absolute(&token, env), stored_tokens: absolute(&stored_tokens, env) }
    }

    /// hf-auth's own file beside `stored_tokens`: the name of the active keyring-held token when
    /// the token file is not written (keyring storage with `mirror_token_file = false`). A name,
    /// never a secret; huggingface_hub does not know it.
    pub fn active_name_file(&self) -> PathBuf {
        self.stored_tokens.with_file_name(".hf-auth-active")
    }

    /// The lock huggingface_hub takes around OAuth refresh; we take it for every write.
    pub fn lock_file(&self) -> PathBuf {
        let mut name = self.stored_tokens.clone().into_os_string();
        name.push(".lock");
        PathBuf::from(name)
    }
}

/// `HF_ENDPOINT` with trailing slashes stripped; the staging endpoint in staging mode.
pub fn endpoint(env: &Env) -> String {
    if staging(env) {
        return STAGING_ENDPOINT.to_owned();
    }
    match env.non_empty("HF_ENDPOINT") {
        Some(e) => e.trim_end_matches('/').to_owned(),
        None => DEFAULT_ENDPOINT.to_owned(),
    }
}

fn staging(env: &Env) -> bool {
    env.get("HUGGINGFACE_CO_STAGING").is_some_and(is_truthy)
}

/// `os.path.join(a, b)` for a relative `b`.
fn py_join(a: &str, b: &str) -> String {
    if a.is_empty() || a.ends_with('/') { format!("{a}{b}") } else { format!("{a}/{b}") }
}

/// `os.path.dirname`: everything before the last `/`, trailing slashes removed unless root.
fn py_dirname(p: &str) -> &str {
    match p.rfind('/') {
        None => "",
        Some(i) => {
            let head = &p[..=i];
            let trimmed = head.trim_end_matches('/');
            if trimmed.is_empty() { head } else { trimmed }
        }
    }
}

/// `os.path.expanduser` for `~` and `~/…`. `~user` is left as is: resolving other users'
/// homes needs NSS, and no huggingface_hub default uses it.
pub fn expanduser(p: &str, env: &Env) -> String {
    let Some(rest) = p.strip_prefix('~') else {
        return p.to_owned();
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return p.to_owned();
    }
    let Some(home) = env.home() else {
        return p.to_owned();
    };
    let home = home.to_string_lossy();
    let home = home.trim_end_matches('/');
    if home.is_empty() {
        // Python: HOME="/" gives "/" + rest.
        return if rest.is_empty() { "/".to_owned() } else { rest.to_owned() };
    }
    format!("{home}{rest}")
}

/// `os.path.expandvars`: `$name` and `${name}` (name = `\w+`, ASCII); unknown variables stay.
pub fn expandvars(p: &str, env: &Env) -> String {
    if !p.contains('$') {
        return p.to_owned();
    }
    let bytes = p.as_bytes();
    let mut out = String::with_capacity(p.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let next = p[i..].find('$').map_or(p.len(), |n| i + n);
            out.push_str(&p[i..next]);
            i = next;
            continue;
        }
        let (name, end) = if bytes.get(i + 1) == Some(&b'{') {
            match p[i + 2..].find('}') {
                Some(close) => (&p[i + 2..i + 2 + close], i + 2 + close + 1),
                None => ("", i + 1),
            }
        } else {
            let len = p[i + 1..].bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
            (&p[i + 1..i + 1 + len], i + 1 + len)
        };
        match env.get(name).filter(|_| !name.is_empty()) {
            Some(value) => out.push_str(value),
            None => out.push_str(&p[i..end.max(i + 1)]),
        }
        i = end.max(i + 1);
    }
    out
}

fn absolute(p: &str, env: &Env) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match env.cwd() {
        Some(cwd) => cwd.join(path),
        None => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let mut all = vec![("HOME", "/home/u")];
        all.extend_from_slice(pairs);
        Env::from_pairs(all.iter().map(|(k, v)| (k.to_string(), v.to_string()))).with_cwd("/work/dir")
    }

    #[rstest]
    // Checklist 1: defaults, XDG_CACHE_HOME.
    #[case(&[], "/home/u/.cache/huggingface/token", "/home/u/.cache/huggingface/stored_tokens")]
    #[case(&[("XDG_CACHE_HOME", "/x")], "/x/huggingface/token", "/x/huggingface/stored_tokens")]
    #[case(&[("XDG_CACHE_HOME", "~/xdg")], "/home/u/xdg/huggingface/token", "/home/u/xdg/huggingface/stored_tokens")]
    #[case(&[("XDG_CACHE_HOME", "/x/")], "/x/huggingface/token", "/x/huggingface/stored_tokens")]
    // Checklist 2: ~ and $VAR expansion; stored tokens beside the token file.
    #[case(&[("HF_HOME", "~/x")], "/home/u/x/token", "/home/u/x/stored_tokens")]
    #[case(&[("HF_HOME", "$BASE/hf"), ("BASE", "/b")], "/b/hf/token", "/b/hf/stored_tokens")]
    #[case(&[("HF_HOME", "${BASE}/hf"), ("BASE", "/b")], "/b/hf/token", "/b/hf/stored_tokens")]
    #[case(&[("HF_HOME", "/h/$UNSET/x")], "/h/$UNSET/x/token", "/h/$UNSET/x/stored_tokens")]
    #[case(&[("HF_TOKEN_PATH", "~/tok")], "/home/u/tok", "/home/u/stored_tokens")]
    #[case(&[("HF_HOME", "/h"), ("HF_TOKEN_PATH", "/t/my_token")], "/t/my_token", "/t/stored_tokens")]
    // Empty HF_HOME and relative paths resolve against the caller's cwd, as Python's would.
    #[case(&[("HF_HOME", "")], "/work/dir/token", "/work/dir/stored_tokens")]
    #[case(&[("HF_TOKEN_PATH", "relative/tok")], "/work/dir/relative/tok", "/work/dir/relative/stored_tokens")]
    // Checklist 3: HF_STORED_TOKENS_PATH is not a thing.
    #[case(&[("HF_HOME", "/h"), ("HF_STORED_TOKENS_PATH", "/elsewhere")], "/h/token", "/h/stored_tokens")]
    // Checklist 5: staging splits the two files.
    #[case(&[("HUGGINGFACE_CO_STAGING", "1")], "/home/u/.cache/huggingface_staging/token", "/home/u/.cache/huggingface/stored_tokens")]
    #[case(&[("HUGGINGFACE_CO_STAGING", "no")], "/home/u/.cache/huggingface/token", "/home/u/.cache/huggingface/stored_tokens")]
    fn home_paths(#[case] pairs: &[(&str, &str)], #[case] token: &str, #[case] stored: &str) {
        let paths = HomePaths::from_env(&env(pairs));
        assert_eq!(paths.token, PathBuf::from(token));
        assert_eq!(paths.stored_tokens, PathBuf::from(stored));
    }

    #[rstest]
    #[case(&[], DEFAULT_ENDPOINT)]
    #[case(&[("HF_ENDPOINT", "https://hub.example.com///")], "https://hub.example.com")]
    #[case(&[("HF_ENDPOINT", "http://127.0.0.1:8765")], "http://127.0.0.1:8765")]
    #[case(&[("HUGGINGFACE_CO_STAGING", "true"), ("HF_ENDPOINT", "http://x")], STAGING_ENDPOINT)]
    fn endpoints(#[case] pairs: &[(&str, &str)], #[case] expected: &str) {
        assert_eq!(endpoint(&env(pairs)), expected);
    }

    #[rstest]
    #[case("$A", "1")]
    #[case("${A}x", "1x")]
    #[case("$Ax", "$Ax")]
    #[case("$", "$")]
    #[case("a$", "a$")]
    #[case("${A", "${A")]
    #[case("$A$A", "11")]
    #[case("~/$A", "~/1")]
    fn expandvars_matches_posixpath(#[case] input: &str, #[case] expected: &str) {
        assert_eq!(expandvars(input, &env(&[("A", "1")])), expected);
    }

    #[rstest]
    #[case("a/b", "a")]
    #[case("/a", "/")]
    #[case("token", "")]
    #[case("/a//b", "/a")]
    fn dirname_matches_posixpath(#[case] input: &str, #[case] expected: &str) {
        assert_eq!(py_dirname(input), expected);
    }

    #[test]
    fn lock_file_sits_beside_stored_tokens() {
        let paths = HomePaths::from_env(&env(&[("HF_HOME", "/h")]));
        assert_eq!(paths.lock_file(), PathBuf::from("/h/stored_tokens.lock"));
    }
}
