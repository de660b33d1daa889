//! The rules in force, and reloading them when `config.toml` changes: a bad edit (an unknown
//! token name, a bad glob, a TOML error) is reported with its line, and the last good rules stay
//! in force. Only the routing settings (`[[route]]`, `route_by_scope`) are reloaded live.

use super::rules::Rules;
use crate::config::Config;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

/// What `Resolve` routes with.
#[derive(Debug, Default)]
pub struct RouteSettings {
    pub rules: Rules,
    pub by_scope: bool,
    /// Why the file's latest rules are not in force (the last good ones are), if they are not.
    pub error: Option<String>,
    /// Whether the rules were checked against the stored tokens. Rules compiled before the
    /// daemon's own home was open are not "last good": if the first check fails, none stay.
    pub checked: bool,
}

#[derive(Debug, Default)]
pub struct LoadedRules {
    current: RwLock<Arc<RouteSettings>>,
    /// One reload at a time, from reading the file to storing what it read. One editor save
    /// is several events, each with its own reload on the blocking pool: unserialized, a reload
    /// that read the file before the rename could store its stale rules after one that read it
    /// after, and nothing would correct them until the next edit.
    reloading: Mutex<()>,
}

/// Checks a rule's token name against the stored tokens it may use (the daemon's own home).
pub type Known<'a> = Option<&'a dyn Fn(&str) -> bool>;

impl LoadedRules {
    /// From the config read at start. Bad rules are not fatal: the daemon serves without them,
    /// and says why (log, `status`).
    pub fn new(config: &Config, home: Option<&Path>, known: Known<'_>) -> Self {
        Self { current: RwLock::new(Arc::new(compile(config, home, known))), reloading: Mutex::new(()) }
    }

    /// Compiles `config`'s rules again (a config given by value, when the stored tokens they
    /// may name change). Blocking; one at a time with [`LoadedRules::reload`].
    pub fn recompile(&self, config: &Config, home: Option<&Path>, known: Known<'_>) {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let settings = Arc::new(compile(config, home, known));
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = settings;
    }

    pub fn current(&self) -> Arc<RouteSettings> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-reads `path`. Blocking. Returns whether the new rules are in force. `known` is asked
    /// during the reload, so what it reads (the stored tokens) is as fresh as the file.
    pub fn reload(&self, path: &Path, home: Option<&Path>, known: Known<'_>) -> bool {
        self.reload_from(|| crate::config::read(path), path, home, known)
    }

    fn reload_from(
        &self,
        read: impl FnOnce() -> Result<Option<String>, crate::config::ConfigError>,
        path: &Path,
        home: Option<&Path>,
        known: Known<'_>,
    ) -> bool {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let parsed = match read() {
            Ok(Some(text)) => Config::parse(&text),
            Ok(None) => Ok(Config::default()),
            Err(e) => Err(e.to_string()),
        };
        let compiled = parsed.and_then(|c| {
            Rules::compile(&c.routes, home, known).map(|r| (r, c.route_by_scope)).map_err(|e| e.to_string())
        });
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        match compiled {
            Ok((rules, by_scope)) => {
                if current.rules != rules || current.by_scope != by_scope || current.error.is_some() {
                    tracing::info!(
                        rules = rules.rules.len(),
                        by_scope,
                        "routing rules reloaded from {}",
                        path.display()
                    );
                }
                *current = Arc::new(RouteSettings { rules, by_scope, error: None, checked: known.is_some() });
                true
            }
            Err(e) => {
                let error = with_path(Some(path), &e);
                let rules = match current.checked {
                    true => {
                        tracing::error!(error = %error, "new routing rules not loaded; the previous ones stay in force");
                        current.rules.clone()
                    }
                    false => {
                        tracing::error!(error = %error, "routing rules not loaded; serving without them");
                        Rules::default()
                    }
                };
                *current = Arc::new(RouteSettings {
                    rules,
                    by_scope: current.by_scope,
                    error: Some(error),
                    checked: current.checked,
                });
                false
            }
        }
    }
}

/// `config`'s rules, or none and the reason (logged) when they do not compile.
fn compile(config: &Config, home: Option<&Path>, known: Known<'_>) -> RouteSettings {
    match Rules::compile(&config.routes, home, known) {
        Ok(rules) => RouteSettings { rules, by_scope: config.route_by_scope, error: None, checked: known.is_some() },
        Err(e) => {
            tracing::error!(error = %e, "routing rules not loaded; serving without them");
            RouteSettings {
                rules: Rules::default(),
                by_scope: config.route_by_scope,
                error: Some(with_path(config.source.as_deref(), &e.to_string())),
                checked: known.is_some(),
            }
        }
    }
}

fn with_path(path: Option<&Path>, error: &str) -> String {
    match path {
        Some(p) => format!("{}: {error}", p.display()),
        None => error.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_RULE: &str = "[[route]]\ntoken = \"acme-write\"\nrepos = [\"acme/*\"]\n";

    fn write(dir: &Path, text: &str) -> std::path::PathBuf {
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn unchecked_rules_are_not_last_good_but_checked_ones_are() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), ONE_RULE);
        let config = Config::parse(ONE_RULE).unwrap();
        // Compiled before the stored tokens are known: in force, but unchecked.
        let loaded = LoadedRules::new(&config, None, None);
        assert_eq!(loaded.current().rules.rules.len(), 1);
        // The first check fails (the token is not stored yet): none stay in force.
        let none = |_: &str| false;
        assert!(!loaded.reload(&path, None, Some(&none)));
        let now = loaded.current();
        assert!(now.rules.is_empty() && now.error.as_deref().is_some_and(|e| e.contains("line 1")), "{now:?}");
        // Logged in: the same file now loads, and its rules become last good.
        let all = |_: &str| true;
        assert!(loaded.reload(&path, None, Some(&all)));
        assert_eq!((loaded.current().rules.rules.len(), loaded.current().error.clone()), (1, None));
        // A bad edit keeps them.
        write(dir.path(), "[[route]]\ntoken = \"acme-write\"\nrepos = [\"acme/[x]\"]\n");
        assert!(!loaded.reload(&path, None, Some(&all)));
        assert_eq!(loaded.current().rules.rules.len(), 1);
        assert!(loaded.current().error.is_some());
    }

    /// Two events of one save: the first reload reads the file before the rename, the second
    /// after. However their threads interleave, the rules in force are the newer file's.
    #[test]
    fn a_reload_that_read_the_older_file_never_stores_after_one_that_read_the_newer() {
        use std::sync::mpsc;
        let loaded = Arc::new(LoadedRules::new(&Config::parse(ONE_RULE).unwrap(), None, None));
        let path = Path::new("/nonexistent/config.toml");
        let (reading_tx, reading) = mpsc::channel();
        let (newer_done_tx, newer_done) = mpsc::channel::<()>();
        let first = std::thread::spawn({
            let loaded = loaded.clone();
            move || {
                loaded.reload_from(
                    || {
                        let _ = reading_tx.send(());
                        // Stalls (a slow disk, a busy machine) while the second reload runs;
                        // serialized, the second cannot run, and this wait just times out.
                        let _ = newer_done.recv_timeout(std::time::Duration::from_millis(300));
                        Ok(Some("route_by_scope = true\n".to_owned()))
                    },
                    path,
                    None,
                    None,
                )
            }
        });
        reading.recv().unwrap();
        let second = std::thread::spawn({
            let loaded = loaded.clone();
            move || {
                let stored = loaded.reload_from(|| Ok(Some("route_by_scope = false\n".to_owned())), path, None, None);
                let _ = newer_done_tx.send(());
                stored
            }
        });
        assert!(first.join().unwrap() && second.join().unwrap());
        assert!(!loaded.current().by_scope, "the older file's rules were stored last");
    }
}
