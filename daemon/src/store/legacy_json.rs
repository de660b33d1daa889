//! Reads the JSON layout that the `hfrs` CLI writes at the `stored_tokens` path, so that a
//! user who ran it loses no token: we import its entries (and back the file up before our
//! first rewrite) instead of treating it as empty, as huggingface_hub would.
//!
//! Accepted shapes: `{"name": "hf_…"}`, `{"name": {"token"|"hf_token": "hf_…", …}}`, and either
//! of those under a top-level `"tokens"` key. String-valued extra fields are kept as keys.

use super::ini::{IniFile, Section};
use serde_json::Value;

pub fn import(bytes: &[u8]) -> Option<IniFile> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let mut map = value.as_object()?;
    if let Some(inner) = map.get("tokens").and_then(Value::as_object) {
        map = inner;
    }
    let mut file = IniFile::default();
    for (name, entry) in map {
        let mut section = Section::new(name.as_str());
        match entry {
            Value::String(token) => section.set("hf_token", token.as_str()),
            Value::Object(fields) => {
                let token = fields.get("hf_token").or_else(|| fields.get("token")).and_then(Value::as_str)?;
                section.set("hf_token", token);
                for (key, value) in fields {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => continue,
                    };
                    if key != "hf_token" && key != "token" {
                        section.set(&key.to_lowercase(), text);
                    }
                }
            }
            _ => return None,
        }
        file.upsert(section);
    }
    (!file.is_empty()).then_some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_map() {
        let f = import(br#"{"work": "hf_a", "home": "hf_b"}"#).unwrap();
        assert_eq!(f.get("work").and_then(|s| s.get("hf_token")), Some("hf_a"));
        assert_eq!(f.get("home").and_then(|s| s.get("hf_token")), Some("hf_b"));
    }

    #[test]
    fn nested_with_metadata() {
        let f = import(
            br#"{"tokens": {"oauth-alice": {"token": "hf_o", "refresh_token": "rt", "expires_at": 1797921368}}}"#,
        )
        .unwrap();
        let s = f.get("oauth-alice").unwrap();
        assert_eq!(s.get("hf_token"), Some("hf_o"));
        assert_eq!(s.get("refresh_token"), Some("rt"));
        assert_eq!(s.get("expires_at"), Some("1797921368"));
    }

    #[test]
    fn not_ours() {
        assert!(import(b"[a]\nhf_token = x\n").is_none());
        assert!(import(b"[1, 2]").is_none());
        assert!(import(b"{}").is_none());
    }
}
