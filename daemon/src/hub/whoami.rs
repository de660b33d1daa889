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
    pub raw_json: String,
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
}

impl WhoAmI {
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        let b: Body = serde_json::from_str(body)?;
        let (auth_type, display, role) = match b.auth {
            Some(a) => {
                let (d, r) = a.access_token.map(|t| (t.display_name, t.role)).unwrap_or_default();
                (a.kind.unwrap_or_default(), d, r)
            }
            None => (String::new(), None, None),
        };
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
    fn oauth_body_names_the_token_after_the_user() {
        let w = WhoAmI::parse(r#"{"name":"alice","auth":{"type":"oauth"}}"#).unwrap();
        assert_eq!(w.token_name(), "oauth-alice");
        assert_eq!(w.token_role, None);
        let empty = WhoAmI::parse(r#"{"name":"bob","auth":{"accessToken":{"displayName":""}}}"#).unwrap();
        assert_eq!(empty.token_name(), "oauth-bob");
    }
}
