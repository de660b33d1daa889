//! What a token may do at a repository, judged from its cached whoami answer: its owner's own
//! namespace, its owner's orgs (`orgs[].roleInOrg`), the token's role (`read` caps everything at
//! read), and for fine-grained tokens the `scoped` grants (`repo.content.read`, `repo.write`) on
//! a user, an org or the repo itself.

use super::repo::{Kind, RepoId};
use crate::hub::WhoAmI;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing beyond what anyone may do (public reads).
    None,
    Read,
    Write,
}

/// What the token whose whoami answer is `who` may do at `repo`.
pub fn level(who: &WhoAmI, repo: &RepoId) -> Level {
    if who.token_role.as_deref() == Some("fineGrained") {
        return fine_grained(who, repo);
    }
    let cap = if who.token_role.as_deref() == Some("read") { Level::Read } else { Level::Write };
    let owned = if repo.namespace == who.name {
        Level::Write
    } else {
        match who.orgs.iter().find(|o| o.name == repo.namespace).map(|o| o.role_in_org.as_str()) {
            Some("admin" | "write" | "contributor") => Level::Write,
            Some(_) => Level::Read,
            // Writing to a namespace needs to be it or a member of it.
            None => Level::None,
        }
    };
    owned.min(cap)
}

fn fine_grained(who: &WhoAmI, repo: &RepoId) -> Level {
    let kind = match repo.kind {
        Kind::Model => "model",
        Kind::Dataset => "dataset",
        Kind::Space => "space",
    };
    let full = format!("{}/{}", repo.namespace, repo.name);
    who.fine_grained
        .iter()
        .filter(|s| match s.entity_type.as_str() {
            "user" | "org" => s.entity_name == repo.namespace,
            t => t == kind && s.entity_name == full,
        })
        .map(|s| {
            if s.permissions.iter().any(|p| p == "repo.write") {
                Level::Write
            } else if s.permissions.iter().any(|p| p == "repo.content.read") {
                Level::Read
            } else {
                Level::None
            }
        })
        .max()
        .unwrap_or(Level::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const PERSONAL: &str = r#"{"name":"alice","orgs":[{"name":"acme","roleInOrg":"read"},{"name":"lab","roleInOrg":"write"}],"auth":{"type":"access_token","accessToken":{"displayName":"personal","role":"write"}}}"#;
    const READ_ONLY: &str = r#"{"name":"alice","orgs":[{"name":"lab","roleInOrg":"admin"}],"auth":{"type":"access_token","accessToken":{"displayName":"reader","role":"read"}}}"#;
    const FINE: &str = r#"{"name":"bot","orgs":[],"auth":{"type":"access_token","accessToken":{"displayName":"acme-write","role":"fineGrained","fineGrained":{"canReadGatedRepos":false,"global":[],"scoped":[{"entity":{"_id":"1","type":"org","name":"acme"},"permissions":["repo.content.read","repo.write"]},{"entity":{"_id":"2","type":"dataset","name":"other/data"},"permissions":["repo.content.read"]}]}}}}"#;

    #[rstest]
    #[case(PERSONAL, "alice/y", Level::Write)]
    #[case(PERSONAL, "acme/x", Level::Read)]
    #[case(PERSONAL, "lab/z", Level::Write)]
    #[case(PERSONAL, "stranger/z", Level::None)]
    #[case(READ_ONLY, "alice/y", Level::Read)]
    #[case(READ_ONLY, "lab/z", Level::Read)]
    #[case(FINE, "acme/x", Level::Write)]
    #[case(FINE, "datasets/acme/x", Level::Write)]
    #[case(FINE, "datasets/other/data", Level::Read)]
    #[case(FINE, "other/data", Level::None)]
    #[case(FINE, "bot/own", Level::None)]
    fn levels(#[case] body: &str, #[case] repo: &str, #[case] expected: Level) {
        let who = WhoAmI::parse(body).unwrap();
        assert_eq!(level(&who, &RepoId::parse(repo).unwrap()), expected);
    }
}
