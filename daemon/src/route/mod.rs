//! Which stored token a request gets, from its context — the daemon decides, nothing is written:
//! the active token on disk stays what huggingface_hub sees. Precedence, highest first:
//!
//! 0. OIDC trusted publishing (`hub::oidc`, in the service: it asks the Hub);
//! 1. `HF_TOKEN` / `HUGGING_FACE_HUB_TOKEN` (`crate::resolve`);
//! 2. an explicit name: `HF_AUTH_TOKEN_NAME` or `--token-name` — unknown is an error, never a fallback;
//! 3. `[[route]]` rules, first match ([`rules`]);
//! 4. scope: for a known repo, when the active token cannot do what is asked there and exactly
//!    one other stored token can, judged from cached whoami answers ([`scope`]);
//! 5. the active token.
//!
//! Steps 2–5 are [`choose`]: a pure function over the request and what the home holds.

pub mod loaded;
pub mod repo;
pub mod rules;
pub mod scope;

pub use repo::RepoId;
pub use rules::{Rule, RuleError, Rules};
pub use scope::Level;

use hf_auth_proto::Access;
use std::path::Path;

/// Why a stored token was chosen over the active one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    Name,
    Rule { index: usize, line: usize },
    Scope,
}

/// A stored token chosen by name, rule or scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pick {
    pub name: String,
    pub why: Why,
}

/// What a request asks about, from its context.
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<'a> {
    pub token_name: Option<&'a str>,
    pub repo: Option<&'a RepoId>,
    pub cwd: Option<&'a Path>,
    pub access: Access,
}

/// What the home holds that routing looks at.
pub struct Holdings<'a> {
    /// Stored token names, in file order.
    pub names: &'a [&'a str],
    /// The active token's name, when it is a stored one.
    pub active: Option<&'a str>,
    /// What each stored token may do at the request's repo, when its whoami answer is known.
    pub levels: &'a dyn Fn(&str) -> Option<Level>,
    /// What the active token may do there, when known (it may be stored under no name).
    pub active_level: Option<Level>,
}

impl std::fmt::Debug for Holdings<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holdings").field("names", &self.names).field("active", &self.active).finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no stored token is named {0:?} (asked for by {1}); see `hf-auth list`")]
    UnknownName(String, &'static str),
}

/// The outcome, with the notes `hf-auth which` shows (rules that matched but could not apply).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// `None`: the active token.
    pub pick: Option<Pick>,
    pub notes: Vec<String>,
}

/// Steps 2–5 of the precedence. `by_scope` is the `route_by_scope` setting; `name_from` says
/// where an explicit name came from, for the error.
pub fn choose(
    req: &Request<'_>,
    home: &Holdings<'_>,
    rules: &Rules,
    by_scope: bool,
    name_from: &'static str,
) -> Result<Decision, RouteError> {
    let has = |n: &str| home.names.contains(&n);
    if let Some(name) = req.token_name {
        if !has(name) {
            return Err(RouteError::UnknownName(name.to_owned(), name_from));
        }
        return Ok(Decision { pick: Some(Pick { name: name.to_owned(), why: Why::Name }), notes: Vec::new() });
    }
    let mut notes = Vec::new();
    for rule in &rules.rules {
        if !rule.applies(req.repo, req.cwd) {
            continue;
        }
        if has(&rule.token) {
            let why = Why::Rule { index: rule.index, line: rule.line };
            return Ok(Decision { pick: Some(Pick { name: rule.token.clone(), why }), notes });
        }
        notes.push(format!(
            "rule #{} (line {}) matches but names {:?}, which this home does not store",
            rule.index, rule.line, rule.token
        ));
    }
    if by_scope && let Some(repo) = req.repo {
        let need = if req.access == Access::Write { Level::Write } else { Level::Read };
        match home.active_level {
            Some(l) if l < need => {
                let able: Vec<&str> = home
                    .names
                    .iter()
                    .copied()
                    .filter(|n| Some(*n) != home.active)
                    .filter(|n| (home.levels)(n).is_some_and(|l| l >= need))
                    .collect();
                match able.as_slice() {
                    [one] => {
                        return Ok(Decision { pick: Some(Pick { name: (*one).to_owned(), why: Why::Scope }), notes });
                    }
                    [] => notes.push(format!("the active token cannot {} {repo}, and no other stored token is known to", verb(need))),
                    many => notes.push(format!(
                        "the active token cannot {} {repo}; {} stored tokens can ({}), so none is chosen: add a [[route]] rule",
                        verb(need),
                        many.len(),
                        many.join(", ")
                    )),
                }
            }
            None => {
                notes.push(format!("what the active token may do at {repo} is not known yet (no whoami answer cached)"))
            }
            Some(_) => {}
        }
    }
    Ok(Decision { pick: None, notes })
}

fn verb(level: Level) -> &'static str {
    if level == Level::Write { "write to" } else { "read" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteEntry;

    fn rules() -> Rules {
        let e = |token: &str, repos: &[&str], dirs: &[&str]| RouteEntry {
            token: token.into(),
            repos: repos.iter().map(|s| s.to_string()).collect(),
            dirs: dirs.iter().map(|s| s.to_string()).collect(),
        };
        Rules::compile(
            &[
                (2, e("acme-write", &["acme/*", "datasets/acme/*"], &[])),
                (6, e("gone", &["lab/*"], &[])),
                (9, e("lab", &[], &["/srv/lab"])),
            ],
            None,
            None,
        )
        .unwrap()
    }

    fn names() -> Vec<&'static str> {
        vec!["personal", "acme-write", "lab", "reader"]
    }

    fn decide(
        req: Request<'_>,
        active_level: Option<Level>,
        levels: &dyn Fn(&str) -> Option<Level>,
    ) -> Result<Decision, RouteError> {
        let names = names();
        let home = Holdings { names: &names, active: Some("personal"), levels, active_level };
        choose(&req, &home, &rules(), true, "HF_AUTH_TOKEN_NAME")
    }

    fn picked(d: &Decision) -> Option<(&str, &Why)> {
        d.pick.as_ref().map(|p| (p.name.as_str(), &p.why))
    }

    #[test]
    fn precedence_name_then_rules_then_scope_then_active() {
        let acme = RepoId::parse("acme/x").unwrap();
        let alice = RepoId::parse("alice/y").unwrap();
        let none = |_: &str| None;
        // An explicit name wins over a matching rule; an unknown one is an error.
        let d = decide(Request { token_name: Some("reader"), repo: Some(&acme), ..Default::default() }, None, &none)
            .unwrap();
        assert_eq!(picked(&d), Some(("reader", &Why::Name)));
        let e = decide(Request { token_name: Some("nope"), ..Default::default() }, None, &none).unwrap_err();
        assert_eq!(e, RouteError::UnknownName("nope".into(), "HF_AUTH_TOKEN_NAME"));
        // The first matching rule.
        let d = decide(Request { repo: Some(&acme), ..Default::default() }, None, &none).unwrap();
        assert_eq!(picked(&d), Some(("acme-write", &Why::Rule { index: 1, line: 2 })));
        // A rule naming a token this home lacks is skipped, and said so.
        let lab = RepoId::parse("lab/z").unwrap();
        let d = decide(
            Request { repo: Some(&lab), cwd: Some(Path::new("/srv/lab/run")), ..Default::default() },
            None,
            &none,
        )
        .unwrap();
        assert_eq!(picked(&d), Some(("lab", &Why::Rule { index: 3, line: 9 })));
        assert!(d.notes[0].contains("rule #2 (line 6)"), "{:?}", d.notes);
        // No rule: the active token, unless scope says otherwise.
        let d = decide(
            Request { repo: Some(&alice), access: Access::Write, ..Default::default() },
            Some(Level::Write),
            &none,
        )
        .unwrap();
        assert_eq!(d.pick, None);
    }

    #[test]
    fn scope_switches_only_to_a_single_known_able_token() {
        let repo = RepoId::parse("bob/m").unwrap();
        let req = Request { repo: Some(&repo), access: Access::Write, ..Default::default() };
        let only_lab = |n: &str| Some(if n == "lab" { Level::Write } else { Level::Read });
        let d = decide(req, Some(Level::Read), &only_lab).unwrap();
        assert_eq!(picked(&d), Some(("lab", &Why::Scope)));
        // Two able tokens: ambiguous, so the active token, with a note.
        let two = |n: &str| Some(if n == "lab" || n == "acme-write" { Level::Write } else { Level::None });
        let d = decide(req, Some(Level::Read), &two).unwrap();
        assert_eq!(d.pick, None);
        assert!(d.notes[0].contains("2 stored tokens can"), "{:?}", d.notes);
        // The active token's power unknown: never switch on a guess.
        assert_eq!(decide(req, None, &only_lab).unwrap().pick, None);
        // Reading needs only read.
        let read = Request { access: Access::Read, ..req };
        assert_eq!(decide(read, Some(Level::Read), &only_lab).unwrap().pick, None);
        // Off: the active token.
        let names = names();
        let home =
            Holdings { names: &names, active: Some("personal"), levels: &only_lab, active_level: Some(Level::Read) };
        assert_eq!(choose(&req, &home, &Rules::default(), false, "x").unwrap().pick, None);
    }
}
