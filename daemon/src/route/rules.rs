//! `[[route]]` rules from `config.toml`: a stored token's name, chosen when the request's repo
//! matches one of `repos` (globs over the repo id) and/or the caller's cwd is inside one of `dirs`.
//! First match wins. Compiled once per load; a bad rule is an error that names its line.

use super::repo::RepoId;
use crate::config::RouteEntry;
use std::path::{Path, PathBuf};

/// A compiled rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// 1-based, in file order.
    pub index: usize,
    /// The line of its `[[route]]` header in config.toml (0 when not known).
    pub line: usize,
    pub token: String,
    pub repos: Vec<Glob>,
    /// Each as written (with `~` expanded) and, when it exists, canonicalised.
    pub dirs: Vec<(PathBuf, Option<PathBuf>)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("[[route]] at line {line}: {message}")]
pub struct RuleError {
    pub line: usize,
    pub message: String,
}

/// A glob over repo ids: `*` is any run of characters but `/`, `**` any run at all, `?` one
/// character but `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("an empty repo pattern".into());
        }
        if let Some(bad) = pattern.chars().find(|c| !(c.is_ascii_alphanumeric() || "-_./*?".contains(*c))) {
            return Err(format!("repo pattern {pattern:?} has {bad:?}; use letters, digits, - _ . / and * ? only"));
        }
        Ok(Self(pattern.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, text: &str) -> bool {
        glob_match(self.0.as_bytes(), text.as_bytes())
    }
}

fn glob_match(p: &[u8], t: &[u8]) -> bool {
    match p {
        [] => t.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=t.len()).any(|i| glob_match(rest, &t[i..])),
        [b'*', rest @ ..] => {
            let run = t.iter().position(|&c| c == b'/').unwrap_or(t.len());
            (0..=run).any(|i| glob_match(rest, &t[i..]))
        }
        [b'?', rest @ ..] => matches!(t, [c, tail @ ..] if *c != b'/' && glob_match(rest, tail)),
        [c, rest @ ..] => matches!(t, [d, tail @ ..] if d == c && glob_match(rest, tail)),
    }
}

impl Rules {
    /// Compiles the entries. `home` expands `~`; `known` says whether a token name exists (the
    /// daemon's own home's stored tokens), when that can be checked.
    pub fn compile(
        entries: &[(usize, RouteEntry)],
        home: Option<&Path>,
        known: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Self, RuleError> {
        let mut rules = Vec::with_capacity(entries.len());
        for (i, (line, entry)) in entries.iter().enumerate() {
            let line = *line;
            let err = |message: String| RuleError { line, message };
            if entry.token.trim().is_empty() {
                return Err(err("`token` names no stored token".into()));
            }
            if entry.repos.is_empty() && entry.dirs.is_empty() {
                return Err(err(
                    "a rule needs `repos`, `dirs` or both (a rule for everything is `hf-auth switch`)".into()
                ));
            }
            if let Some(known) = known
                && !known(&entry.token)
            {
                return Err(err(format!("no stored token is named {:?} (see `hf-auth list`)", entry.token)));
            }
            let repos = entry.repos.iter().map(|r| Glob::new(r)).collect::<Result<Vec<_>, _>>().map_err(err)?;
            let dirs = entry.dirs.iter().map(|d| expand_dir(d, home)).collect::<Result<Vec<_>, _>>().map_err(err)?;
            let dirs = dirs.into_iter().map(|d| (d.clone(), std::fs::canonicalize(&d).ok())).collect();
            rules.push(Rule { index: i + 1, line, token: entry.token.clone(), repos, dirs });
        }
        Ok(Self { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn expand_dir(dir: &str, home: Option<&Path>) -> Result<PathBuf, String> {
    let path = match dir.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = home.ok_or_else(|| format!("{dir:?}: no home directory to expand ~ with"))?;
            home.join(rest.trim_start_matches('/'))
        }
        Some(_) => return Err(format!("{dir:?}: only ~ and ~/… are understood")),
        None => PathBuf::from(dir),
    };
    if !path.is_absolute() {
        return Err(format!("{dir:?}: directories must be absolute (or start with ~/)"));
    }
    Ok(path)
}

impl Rule {
    /// Does the rule apply to a request about `repo` from `cwd`? Every condition it has must hold.
    pub fn applies(&self, repo: Option<&RepoId>, cwd: Option<&Path>) -> bool {
        let repo_ok = self.repos.is_empty()
            || repo.is_some_and(|r| {
                let id = r.to_string();
                self.repos.iter().any(|g| g.matches(&id))
            });
        let dir_ok = self.dirs.is_empty()
            || cwd.is_some_and(|c| {
                self.dirs
                    .iter()
                    .any(|(raw, canonical)| c.starts_with(raw) || canonical.as_ref().is_some_and(|d| c.starts_with(d)))
            });
        repo_ok && dir_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("acme/*", "acme/x", true)]
    #[case("acme/*", "datasets/acme/x", false)]
    #[case("*/x", "acme/x", true)]
    #[case("acme/*", "acme/x/y", false)]
    #[case("**", "datasets/acme/x", true)]
    #[case("datasets/acme/*", "datasets/acme/x", true)]
    #[case("acme/proj-?", "acme/proj-1", true)]
    #[case("acme/proj-?", "acme/proj-12", false)]
    #[case("acme/x", "acme/x", true)]
    #[case("acme/x", "acme/xy", false)]
    fn globs(#[case] pattern: &str, #[case] id: &str, #[case] expected: bool) {
        assert_eq!(Glob::new(pattern).unwrap().matches(id), expected);
    }

    fn entry(token: &str, repos: &[&str], dirs: &[&str]) -> RouteEntry {
        RouteEntry {
            token: token.into(),
            repos: repos.iter().map(|s| s.to_string()).collect(),
            dirs: dirs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn errors_name_the_line() {
        let home = Path::new("/home/u");
        let known = |n: &str| n == "acme-write";
        let bad_glob = Rules::compile(&[(3, entry("acme-write", &["acme/[x]"], &[]))], Some(home), Some(&known));
        assert!(matches!(bad_glob, Err(RuleError { line: 3, .. })), "{bad_glob:?}");
        let unknown = Rules::compile(&[(7, entry("nope", &["acme/*"], &[]))], Some(home), Some(&known)).unwrap_err();
        assert_eq!(unknown.line, 7);
        assert!(unknown.to_string().contains("\"nope\""), "{unknown}");
        let empty = Rules::compile(&[(9, entry("acme-write", &[], &[]))], Some(home), Some(&known));
        assert!(matches!(empty, Err(RuleError { line: 9, .. })));
        let relative = Rules::compile(&[(11, entry("acme-write", &[], &["work"]))], Some(home), Some(&known));
        assert!(matches!(relative, Err(RuleError { line: 11, .. })));
    }

    #[test]
    fn a_rule_needs_all_its_conditions() {
        let rules = Rules::compile(
            &[(1, entry("acme-write", &["acme/*"], &["~/work/acme"])), (5, entry("mine", &[], &["/srv/mine"]))],
            Some(Path::new("/home/u")),
            None,
        )
        .unwrap();
        let acme = RepoId::parse("acme/x");
        let (both, dir_only) = (&rules.rules[0], &rules.rules[1]);
        assert!(both.applies(acme.as_ref(), Some(Path::new("/home/u/work/acme/sub"))));
        assert!(!both.applies(acme.as_ref(), Some(Path::new("/home/u/work/other"))));
        assert!(!both.applies(None, Some(Path::new("/home/u/work/acme"))));
        assert!(dir_only.applies(None, Some(Path::new("/srv/mine"))));
        assert!(!dir_only.applies(None, Some(Path::new("/srv/mine2"))), "a directory matches by component");
        assert_eq!((both.index, both.line, dir_only.index, dir_only.line), (1, 1, 2, 5));
    }
}
