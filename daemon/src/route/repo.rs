//! Repository ids as the Hub spells them (`acme/x`, `datasets/acme/x`, `spaces/acme/x`), parsed
//! from what a user types or from the path git sends with `useHttpPath` (`acme/x.git`,
//! `datasets/acme/x.git/info/refs`, …).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Model,
    Dataset,
    Space,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoId {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Model => write!(f, "{}/{}", self.namespace, self.name),
            Kind::Dataset => write!(f, "datasets/{}/{}", self.namespace, self.name),
            Kind::Space => write!(f, "spaces/{}/{}", self.namespace, self.name),
        }
    }
}

/// A namespace or repo name the Hub accepts: letters, digits, `-`, `_`, `.`; not `.` or `..`.
fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 96
        && s != "."
        && s != ".."
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl RepoId {
    /// Parses a repo id or a Hub URL path: an optional `datasets/`, `spaces/` or `models/`
    /// prefix, then `namespace/name`, then optionally `.git` and anything after it
    /// (`/info/refs`, `/git-receive-pack`). A leading `/` and a query are ignored. `None` for
    /// anything else (a bare name without a namespace, extra segments, odd characters).
    pub fn parse(text: &str) -> Option<Self> {
        let path = text.split(['?', '#']).next().unwrap_or_default().trim_start_matches('/');
        let mut parts = path.split('/');
        let first = parts.next()?;
        let (kind, namespace) = match first {
            "datasets" => (Kind::Dataset, parts.next()?),
            "spaces" => (Kind::Space, parts.next()?),
            "models" => (Kind::Model, parts.next()?),
            ns => (Kind::Model, ns),
        };
        let raw_name = parts.next()?;
        let rest: Vec<&str> = parts.collect();
        let name = match raw_name.strip_suffix(".git") {
            Some(n) => n,
            // Without `.git`, only a trailing slash may follow the name.
            None if rest.iter().all(|p| p.is_empty()) => raw_name,
            None => return None,
        };
        (valid_part(namespace) && valid_part(name)).then(|| Self {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    /// From huggingface_hub's `(repo_id, repo_type)`: `repo_type` is "model", "dataset" or "space".
    pub fn from_python(repo_id: &str, repo_type: &str) -> Option<Self> {
        let kind = match repo_type {
            "" | "model" | "models" => Kind::Model,
            "dataset" | "datasets" => Kind::Dataset,
            "space" | "spaces" => Kind::Space,
            _ => return None,
        };
        let (namespace, name) = repo_id.split_once('/')?;
        (valid_part(namespace) && valid_part(name)).then(|| Self {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("acme/model", Some("acme/model"))]
    #[case("/acme/model.git", Some("acme/model"))]
    #[case("acme/model.git/info/refs", Some("acme/model"))]
    #[case("acme/model.git/git-receive-pack", Some("acme/model"))]
    #[case("datasets/acme/data", Some("datasets/acme/data"))]
    #[case("datasets/acme/data.git/info/refs?service=git-upload-pack", Some("datasets/acme/data"))]
    #[case("spaces/alice/app.git", Some("spaces/alice/app"))]
    #[case("models/acme/m", Some("acme/m"))]
    #[case("acme/model/", Some("acme/model"))]
    #[case("acme", None)]
    #[case("acme/model/extra", None)]
    #[case("datasets/acme", None)]
    #[case("../etc/passwd", None)]
    #[case("acme/..", None)]
    #[case("acme/mo del", None)]
    #[case("", None)]
    fn parses_hub_paths(#[case] text: &str, #[case] expected: Option<&str>) {
        assert_eq!(RepoId::parse(text).map(|r| r.to_string()).as_deref(), expected);
    }

    #[rstest]
    #[case("acme/x", "model", Some("acme/x"))]
    #[case("acme/x", "dataset", Some("datasets/acme/x"))]
    #[case("acme/x", "space", Some("spaces/acme/x"))]
    #[case("acme/x", "bucket", None)]
    #[case("x", "model", None)]
    fn from_python(#[case] id: &str, #[case] kind: &str, #[case] expected: Option<&str>) {
        assert_eq!(RepoId::from_python(id, kind).map(|r| r.to_string()).as_deref(), expected);
    }
}
