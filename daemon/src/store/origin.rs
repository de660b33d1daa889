//! The record of who issued a stored token: two keys in its `stored_tokens` section,
//! `hf_auth_endpoint` (the Hub that issued or validated it) and, for an OAuth token,
//! `hf_auth_client_id` (the OAuth client it was issued to, which its refresh must name).
//!
//! Plain `key = value` lines, so configparser reads them and huggingface_hub keeps them when it
//! rewrites the file for another section. Its `_save_token` replaces a whole section, so its own
//! refresh or re-login of that section drops them: see `crate::issuer` for what then applies.

use super::ini::Section;

pub const ENDPOINT_KEY: &str = "hf_auth_endpoint";
pub const CLIENT_ID_KEY: &str = "hf_auth_client_id";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// Without a trailing slash, as clients send it.
    pub endpoint: String,
    pub client_id: Option<String>,
}

impl Origin {
    /// An origin worth recording; `None` for values that would not survive the file as they are
    /// (control characters or spaces: nothing a real endpoint or client id contains).
    pub fn new(endpoint: &str, client_id: Option<&str>) -> Option<Self> {
        let endpoint = endpoint.trim_end_matches('/');
        let clean = |v: &str| !v.is_empty() && !v.chars().any(|c| c.is_whitespace() || c.is_control());
        if !clean(endpoint) || client_id.is_some_and(|c| !clean(c)) {
            return None;
        }
        Some(Self { endpoint: endpoint.to_owned(), client_id: client_id.map(str::to_owned) })
    }

    /// The section's record, if it has one.
    pub fn of(section: &Section) -> Option<Self> {
        Self::new(section.get(ENDPOINT_KEY)?, section.get(CLIENT_ID_KEY).filter(|c| !c.is_empty()))
    }

    /// Writes the record into `section` (after its other keys, as a new section gets them).
    pub fn write_to(&self, section: &mut Section) {
        section.set(ENDPOINT_KEY, self.endpoint.as_str());
        if let Some(id) = &self.client_id {
            section.set(CLIENT_ID_KEY, id.as_str());
        }
    }

    /// `section` with this record, if any.
    pub fn apply(origin: Option<&Self>, mut section: Section) -> Section {
        if let Some(o) = origin {
            o.write_to(&mut section);
        }
        section
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_through_a_section() {
        let o = Origin::new("https://hub.example/", Some("cid")).unwrap();
        assert_eq!(o.endpoint, "https://hub.example");
        let mut s = Section::new("oauth-alice");
        s.set("hf_token", "hf_x");
        o.write_to(&mut s);
        assert_eq!(Origin::of(&s), Some(o));
        let keys: Vec<&str> = s.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["hf_token", ENDPOINT_KEY, CLIENT_ID_KEY]);
    }

    #[test]
    fn odd_values_are_not_records() {
        assert_eq!(Origin::new("", None), None);
        assert_eq!(Origin::new("https://a\nb", None), None);
        assert_eq!(Origin::new("https://a", Some("x y")), None);
        let mut s = Section::new("n");
        s.set(ENDPOINT_KEY, "");
        assert_eq!(Origin::of(&s), None);
        s.set(ENDPOINT_KEY, "https://a");
        s.set(CLIENT_ID_KEY, "");
        assert_eq!(Origin::of(&s), Some(Origin { endpoint: "https://a".into(), client_id: None }));
    }
}
