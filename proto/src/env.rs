//! A snapshot of the process environment: the only place in hf-auth that reads it.
//!
//! Everything else takes an [`Env`] value, so tests build one by hand and never mutate the real
//! environment (which is process-global and racy under a multi-threaded test runner).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// Environment variables plus the two facts path rules need: the home directory and the cwd.
#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    home: Option<PathBuf>,
    cwd: Option<PathBuf>,
}

impl std::fmt::Debug for Env {
    // Variable values may hold tokens (HF_TOKEN): show only the names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Env").field("vars", &names).field("home", &self.home).field("cwd", &self.cwd).finish()
    }
}

impl Env {
    /// Captures the real process environment. Non-UTF-8 values are dropped, as Python would
    /// surface them as surrogate-escaped text that no path or token can use anyway.
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v): (OsString, OsString)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect::<HashMap<_, _>>();
        let home = vars.get("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).or_else(home_from_passwd);
        Self { vars, home, cwd: std::env::current_dir().ok() }
    }

    /// An environment built by hand (tests, embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: HashMap<String, String> = pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let home = vars.get("HOME").map(PathBuf::from);
        Self { vars, home, cwd: None }
    }

    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// `os.environ.get(name)`: set (possibly empty) or not.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Set and non-empty (Python's `os.environ.get(name) or …`).
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// huggingface_hub's `_is_true`: `value.upper() in {"1","ON","YES","TRUE"}`.
    pub fn is_true(&self, name: &str) -> bool {
        self.get(name).is_some_and(is_truthy)
    }

    /// Every variable (in no particular order): for passing a chosen few on to a child process.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn home(&self) -> Option<&std::path::Path> {
        self.home.as_deref()
    }

    pub fn cwd(&self) -> Option<&std::path::Path> {
        self.cwd.as_deref()
    }
}

/// huggingface_hub's boolean parsing of environment values.
pub fn is_truthy(value: &str) -> bool {
    matches!(value.to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
}

fn home_from_passwd() -> Option<PathBuf> {
    // Python's expanduser falls back to the passwd entry when HOME is unset; so do we, via
    // the only portable way std offers (deprecated only for its Windows behaviour).
    #[allow(deprecated)]
    std::env::home_dir()
}
