//! The parts of `GET /api/whoami-v2`'s answer that hf-auth uses, plus the raw body.

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhoAmI {
    pub name: String,
    pub fullname: String,
    pub email: String,
    pub orgs: Vec<Org>,
    /// `auth.type`: "access_token", "oauth", …
    pub auth_type: String,
    /// `auth.accessToken.displayName`: the name huggingface_hub stores the token under.
    pub token_display_name: Option<String>,
    /// `auth.accessToken.role`: "read", "write", "fineGrained".
    pub token_role: Option<String>,
    /// `auth.accessToken.fineGrained.scoped`: for a fine-grained token, what it may do where.
    pub fine_grained: Vec<Scoped>,
    pub raw_json: String,
}

/// One entry of a fine-grained token's `scoped` list: an entity (a user, an org, or a single
/// repo) and the permissions granted on it (`repo.content.read`, `repo.write`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scoped {
    /// `entity.type`: "user", "org", "model", "dataset", "space".
    pub entity_type: String,
    /// `entity.name`: a namespace, or a repo id for a repo entity.
    pub entity_name: String,
    pub permissions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Org {
    pub name: String,
    pub fullname: String,
    pub role_in_org: String,
}

#[derive(Deserialize)]
struct Body {
    name: String,
    #[serde(default)]
    fullname: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    orgs: Vec<OrgBody>,
    #[serde(default)]
    auth: Option<AuthBody>,
}

#[derive(Deserialize)]
struct OrgBody {
    name: String,
    #[serde(default)]
    fullname: Option<String>,
    #[serde(default, rename = "roleInOrg")]
    role_in_org: Option<String>,
}

#[derive(Deserialize)]
struct AuthBody {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default, rename = "accessToken")]
    access_token: Option<AccessToken>,
}

#[derive(Deserialize)]
struct AccessToken {
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default, rename = "fineGrained")]
    fine_grained: Option<FineGrainedBody>,
}

#[derive(Deserialize)]
struct FineGrainedBody {
    #[serde(default)]
    scoped: Vec<ScopedBody>,
}

#[derive(Deserialize)]
struct ScopedBody {
    entity: EntityBody,
    #[serde(default)]
    permissions: Vec<String>,
}

#[derive(Deserialize)]
struct EntityBody {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl WhoAmI {
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        let b: Body = serde_json::from_str(body)?;
        let (auth_type, display, role, fine) = match b.auth {
            Some(a) => {
                let (d, r, f) =
                    a.access_token.map(|t| (t.display_name, t.role, t.fine_grained)).unwrap_or((None, None, None));
                (a.kind.unwrap_or_default(), d, r, f)
            }
            None => (String::new(), None, None, None),
        };
        let fine_grained = fine
            .map(|f| f.scoped)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| {
                Some(Scoped {
                    entity_type: s.entity.kind.unwrap_or_default(),
                    entity_name: s.entity.name?,
                    permissions: s.permissions,
                })
            })
            .collect();
        Ok(Self {
            name: b.name,
            fullname: b.fullname.unwrap_or_default(),
            email: b.email.unwrap_or_default(),
            orgs: b
                .orgs
                .into_iter()
                .map(|o| Org {
                    name: o.name,
                    fullname: o.fullname.unwrap_or_default(),
                    role_in_org: o.role_in_org.unwrap_or_default(),
                })
                .collect(),
            auth_type,
            token_display_name: display.filter(|d| !d.is_empty()),
            token_role: role.filter(|r| !r.is_empty()),
            fine_grained,
            raw_json: body.to_owned(),
        })
    }

    /// huggingface_hub's token name: `displayName`, else `oauth-<user>`.
    pub fn token_name(&self) -> String {
        self.token_display_name.clone().unwrap_or_else(|| format!("oauth-{}", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_body() {
        let w = WhoAmI::parse(r#"{"type":"user","name":"alice","fullname":"Alice Example","email":"alice@example.com","orgs":[{"type":"org","name":"acme","fullname":"ACME Corp","roleInOrg":"write"}],"auth":{"type":"access_token","accessToken":{"displayName":"work-token","role":"write","createdAt":"2024-05-01T10:00:00.000Z"}}}"#).unwrap();
        assert_eq!(w.name, "alice");
        assert_eq!(w.orgs[0].name, "acme");
        assert_eq!(w.token_name(), "work-token");
        assert_eq!(w.token_role.as_deref(), Some("write"));
    }

    #[test]
    fn fine_grained_body() {
        let w = WhoAmI::parse(r#"{"name":"alice","orgs":[],"auth":{"type":"access_token","accessToken":{"displayName":"acme-ci","role":"fineGrained","fineGrained":{"canReadGatedRepos":false,"global":["discussion.write"],"scoped":[{"entity":{"_id":"6","type":"org","name":"acme"},"permissions":["repo.content.read","repo.write"]},{"entity":{"_id":"7","type":"model","name":"bob/m"},"permissions":["repo.content.read"]}]}}}}"#).unwrap();
        assert_eq!(w.token_role.as_deref(), Some("fineGrained"));
        assert_eq!(w.fine_grained.len(), 2);
        assert_eq!(w.fine_grained[0].entity_name, "acme");
        assert_eq!(w.fine_grained[1].entity_type, "model");
        assert!(w.fine_grained[0].permissions.contains(&"repo.write".to_owned()));
    }

    #[test]
    fn oauth_body_names_the_token_after_the_user() {
        let w = WhoAmI::parse(r#"{"name":"alice","auth":{"type":"oauth"}}"#).unwrap();
        assert_eq!(w.token_name(), "oauth-alice");
        assert_eq!(w.token_role, None);
        let empty = WhoAmI::parse(r#"{"name":"bob","auth":{"accessToken":{"displayName":""}}}"#).unwrap();
        assert_eq!(empty.token_name(), "oauth-bob");
    }
}
