//! The token newtype: a secret that never reaches a log, a `Debug` output or an error message.
//!
//! Also huggingface_hub's cleaning rule (`_clean_token`) and its display mask, which both sides
//! of the wire need.

/// A Hub token. `Debug` and `Display` show only the mask; `expose()` is the one way out.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(String);

impl Token {
    /// Wraps a token exactly as given (huggingface_hub uses `--token` unstripped).
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// huggingface_hub's `_clean_token`: delete every CR and LF, strip outer whitespace
    /// (Python's `str.isspace`), and treat an empty result as no token.
    pub fn clean(raw: &str) -> Option<Self> {
        let without_newlines: String = raw.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        let trimmed = without_newlines.trim_matches(py_isspace);
        (!trimmed.is_empty()).then(|| Self(trimmed.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    /// Organization API tokens cannot log in (huggingface_hub rejects them before any request).
    pub fn is_org_token(&self) -> bool {
        self.0.starts_with("api_org")
    }

    /// `t[:3] + "****" + t[-4:]`, in code points, as `hf auth list` shows tokens.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({})", self.masked())
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Python's slicing mask; short tokens overlap (`ab` → `ab****ab`), exactly as Python prints them.
pub fn mask(t: &str) -> String {
    let chars: Vec<char> = t.chars().collect();
    let head: String = chars.iter().take(3).collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("{head}****{tail}")
}

/// Python's `str.isspace()`: Unicode White_Space plus the information separators U+001C–U+001F,
/// which Rust's `char::is_whitespace` leaves out.
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    // Checklist 8 and 9: cleaning.
    #[rstest]
    #[case("hf_x", Some("hf_x"))]
    #[case("  hf_ws_token\r\n\r\n", Some("hf_ws_token"))]
    #[case("  hf_sp ace  ", Some("hf_sp ace"))]
    #[case("hf_a\nb", Some("hf_ab"))]
    #[case("hf_a\r\nb", Some("hf_ab"))]
    #[case("\t\u{1c}hf_x\u{1f}\u{a0}\u{3000}", Some("hf_x"))]
    #[case("", None)]
    #[case(" \n\t\n", None)]
    #[case("   ", None)]
    fn clean(#[case] raw: &str, #[case] expected: Option<&str>) {
        assert_eq!(Token::clean(raw).as_ref().map(Token::expose), expected);
    }

    #[rstest]
    #[case("hf_valid_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "hf_****AAAA")]
    #[case("hf_b", "hf_****hf_b")]
    #[case("ab", "ab****ab")]
    #[case("hf_🤗🤗🤗🤗🤗", "hf_****🤗🤗🤗🤗")]
    fn masks_like_python(#[case] token: &str, #[case] expected: &str) {
        assert_eq!(mask(token), expected);
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let t = Token::new("hf_supersecretvalue_1234");
        for shown in [format!("{t:?}"), format!("{t}"), format!("{:?}", Some(&t))] {
            assert!(!shown.contains("supersecret"), "{shown}");
        }
    }

    #[test]
    fn org_tokens_are_recognised() {
        assert!(Token::new("api_org_abc").is_org_token());
        assert!(!Token::new("hf_api_org").is_org_token());
    }
}
