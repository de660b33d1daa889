//! A snapshot of the process environment: the only place in hf-auth that reads it.
//!
//! Everything else takes an [`Env`] value, so tests build one by hand and never mutate the real
//! environment (which is process-global and racy under a multi-threaded test runner).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

/// Environment variables plus the two facts path rules need: the home directory and the cwd.
///
/// Cheap to clone (the variables are shared) and cheap to build: a one-shot client builds one
/// per process, from an environment of dozens of variables, and looks up a handful.
#[derive(Clone, Default)]
pub struct Env {
    /// Sorted by name, one entry per name.
    vars: Arc<[(String, String)]>,
    home: Option<PathBuf>,
    cwd: Option<PathBuf>,
}

impl std::fmt::Debug for Env {
    // Variable values may hold tokens (HF_TOKEN): show only the names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.vars.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Env").field("vars", &names).field("home", &self.home).field("cwd", &self.cwd).finish()
    }
}

impl Env {
    /// Captures the real process environment. Non-UTF-8 values are dropped, as Python would
    /// surface them as surrogate-escaped text that no path or token can use anyway.
    pub fn from_process() -> Self {
        let vars = table(
            std::env::vars_os()
                .filter_map(|(k, v): (OsString, OsString)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        );
        let home = lookup(&vars, "HOME").filter(|h| !h.is_empty()).map(PathBuf::from).or_else(home_from_passwd);
        Self { vars, home, cwd: std::env::current_dir().ok() }
    }

    /// An environment built by hand (tests, embedding). As in a real environment, a name given
    /// twice keeps its first value: to override a variable, leave the old pair out.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = table(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        let home = lookup(&vars, "HOME").map(PathBuf::from);
        Self { vars, home, cwd: None }
    }

    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// `os.environ.get(name)`: set (possibly empty) or not.
    pub fn get(&self, name: &str) -> Option<&str> {
        lookup(&self.vars, name)
    }

    /// Set and non-empty (Python's `os.environ.get(name) or …`).
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// huggingface_hub's `_is_true`: `value.upper() in {"1","ON","YES","TRUE"}`.
    pub fn is_true(&self, name: &str) -> bool {
        self.get(name).is_some_and(is_truthy)
    }

    /// Every variable (by name): for passing a chosen few on to a child process.
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

/// The variables sorted by name. A name given twice keeps its first value, as `getenv` and
/// Python's `os.environ` do.
fn table(pairs: impl Iterator<Item = (String, String)>) -> Arc<[(String, String)]> {
    let mut vars: Vec<(String, String)> = pairs.collect();
    // Stable: of equal names, the first stays first, and `dedup_by` keeps it.
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.dedup_by(|later, first| later.0 == first.0);
    vars.into()
}

fn lookup<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let at = vars.binary_search_by(|(k, _)| k.as_str().cmp(name)).ok()?;
    Some(vars[at].1.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_set_empty_and_missing_variables() {
        let env = Env::from_pairs([("HF_TOKEN", "hf_x"), ("EMPTY", ""), ("HOME", "/home/u"), ("A", "1")]);
        assert_eq!((env.get("HF_TOKEN"), env.get("EMPTY"), env.get("MISSING")), (Some("hf_x"), Some(""), None));
        assert_eq!((env.non_empty("EMPTY"), env.get("A"), env.get("a")), (None, Some("1"), None));
        assert_eq!(env.home(), Some(std::path::Path::new("/home/u")));
    }

    #[test]
    fn a_name_given_twice_keeps_its_first_value_as_python_does() {
        let env = Env::from_pairs([("B", "first"), ("A", "x"), ("B", "second")]);
        assert_eq!(env.get("B"), Some("first"));
        assert_eq!(env.vars().collect::<Vec<_>>(), [("A", "x"), ("B", "first")]);
    }

    #[test]
    fn debug_names_the_variables_but_never_shows_a_value() {
        let env = Env::from_pairs([("HF_TOKEN", "hf_secret"), ("PATH", "/bin")]);
        let shown = format!("{env:?}");
        assert!(shown.contains("HF_TOKEN") && shown.contains("PATH"), "{shown}");
        assert!(!shown.contains("hf_secret") && !shown.contains("/bin"), "{shown}");
    }

    #[test]
    fn clones_share_the_variables() {
        let env = Env::from_pairs([("A", "1")]);
        let clone = env.clone();
        assert!(Arc::ptr_eq(&env.vars, &clone.vars));
    }
}
