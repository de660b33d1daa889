//! One line of the audit log: the [`Entry`] a request hands over, and its JSON form, written by
//! the writer thread.
//!
//! The line is formatted by hand, not through serde: under load the writer formats one line per
//! `Resolve`, and serde_json's general string escaping plus a calendar conversion per line were
//! most of its work (BENCHMARKS.md). The keys, their order and the values are what
//! `#[derive(Serialize)]` wrote before; a test parses the lines back with serde_json.

use crate::conns::{Origin, PeerInfo};
use compact_str::CompactString;
use std::sync::Arc;
use std::time::SystemTime;

/// One line of the log. No field can hold a secret: only the stored token's *name*.
///
/// The names and endpoint are inline strings (up to 24 bytes without allocating; a token name
/// and `https://huggingface.co` fit): an entry is built on a worker and dropped on the writer
/// thread, and a heap string freed on another thread than the one that made it costs glibc a
/// lock on the other thread's arena, and can leave memory behind in it.
#[derive(Debug)]
pub struct Entry {
    /// When it happened (formatted by the writer; the request path only reads the coarse clock,
    /// `crate::clock::wall`: the line shows seconds).
    pub time: SystemTime,
    /// `handout` (a secret was returned) or `refused` (a forwarded request was turned away).
    pub event: &'static str,
    /// The call: `Resolve`, `Login`, …
    pub rpc: &'static str,
    pub pid: Option<i32>,
    pub uid: Option<u32>,
    /// The peer's executable (`/proc/<pid>/exe`); for a forwarded call, the local end of the
    /// forward (ssh, or the container's process).
    pub exe: Option<Arc<str>>,
    /// `local` or `forwarded`.
    pub via: &'static str,
    /// The stored token's name; empty for an env token or one not stored under a name.
    pub token_name: CompactString,
    /// Why this token: env, name, rule, scope, active, username, oidc (see `hf-auth which`);
    /// left out when empty.
    pub why: &'static str,
    /// For `why = rule`: the rule's number in config.toml.
    pub rule: Option<u32>,
    /// The Hub endpoint the caller will send the token to; left out when empty.
    pub endpoint: CompactString,
    /// For refusals: why; left out when empty.
    pub detail: String,
    /// Lines lost (queue full) since the previous line written.
    pub dropped_before: Option<u64>,
}

impl Entry {
    pub fn new(event: &'static str, rpc: &'static str, peer: Option<&PeerInfo>) -> Self {
        Self {
            time: crate::clock::wall(),
            event,
            rpc,
            pid: peer.and_then(|p| p.pid),
            uid: peer.and_then(|p| p.uid),
            exe: peer.and_then(|p| p.exe.clone()),
            via: peer.map_or(Origin::Local, |p| p.origin).as_str(),
            token_name: CompactString::default(),
            why: "",
            rule: None,
            endpoint: CompactString::default(),
            detail: String::new(),
            dropped_before: None,
        }
    }
}

/// Formats entries as JSON lines; keeps the last second's timestamp, since under load many
/// lines share it.
#[derive(Debug, Default)]
pub struct Formatter {
    second: Option<(i64, String)>,
}

impl Formatter {
    /// Appends `e` to `out` as one JSON object and a newline.
    pub fn line(&mut self, out: &mut Vec<u8>, e: &Entry) {
        out.extend_from_slice(b"{\"time\":");
        string(out, self.timestamp(e.time));
        out.extend_from_slice(b",\"event\":");
        string(out, e.event);
        out.extend_from_slice(b",\"rpc\":");
        string(out, e.rpc);
        out.extend_from_slice(b",\"pid\":");
        number(out, e.pid);
        out.extend_from_slice(b",\"uid\":");
        number(out, e.uid);
        out.extend_from_slice(b",\"exe\":");
        match &e.exe {
            Some(exe) => string(out, exe),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"via\":");
        string(out, e.via);
        out.extend_from_slice(b",\"token_name\":");
        string(out, &e.token_name);
        if !e.why.is_empty() {
            out.extend_from_slice(b",\"why\":");
            string(out, e.why);
        }
        if let Some(rule) = e.rule {
            out.extend_from_slice(b",\"rule\":");
            number(out, Some(rule));
        }
        if !e.endpoint.is_empty() {
            out.extend_from_slice(b",\"endpoint\":");
            string(out, &e.endpoint);
        }
        if !e.detail.is_empty() {
            out.extend_from_slice(b",\"detail\":");
            string(out, &e.detail);
        }
        if let Some(n) = e.dropped_before {
            out.extend_from_slice(b",\"dropped_before\":");
            number(out, Some(n));
        }
        out.extend_from_slice(b"}\n");
    }

    /// RFC 3339, UTC, to the second (`2026-12-01T19:00:00Z`).
    fn timestamp(&mut self, t: SystemTime) -> &str {
        // Keyed by signed seconds: a clock set before 1970 still gets each second its own text.
        let utc: chrono::DateTime<chrono::Utc> = t.into();
        let secs = utc.timestamp();
        if self.second.as_ref().is_none_or(|(s, _)| *s != secs) {
            self.second = Some((secs, utc.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
        }
        self.second.as_ref().map_or("", |(_, text)| text)
    }
}

/// A number, or `null`.
fn number(out: &mut Vec<u8>, n: Option<impl itoa::Integer>) {
    match n {
        Some(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}

/// `s` as a JSON string: `"` and `\` escaped, control characters as `\n`, `\t`, … or `\u00XX`,
/// everything else (non-ASCII included) as it is, as serde_json writes it.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Nearly every string here (paths, names, URLs) needs no escape: one pass with no early exit,
    // which the compiler does 16 bytes at a time, then one copy.
    if bytes.iter().fold(false, |any, &b| any | to_escape(b)) {
        escaped(out, bytes);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

/// Whether JSON needs `b` escaped: a control character, `"` or `\` (no branch, for `string`'s pass).
fn to_escape(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

/// The bytes of a string that needs escapes, with them.
fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut plain = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !to_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[plain..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
            }
        }
        plain = i + 1;
    }
    out.extend_from_slice(&bytes[plain..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::time::{Duration, UNIX_EPOCH};

    fn format(e: &Entry) -> String {
        let mut out = Vec::new();
        Formatter::default().line(&mut out, e);
        String::from_utf8(out).unwrap()
    }

    fn entry() -> Entry {
        let peer = PeerInfo { uid: Some(1000), pid: Some(42), exe: Some("/usr/bin/git".into()), origin: Origin::Local };
        let mut e = Entry::new("handout", "Resolve", Some(&peer));
        e.time = UNIX_EPOCH + Duration::from_secs(1_796_151_600);
        e
    }

    #[test]
    fn a_line_is_one_json_object_with_the_keys_in_order_and_empty_ones_left_out() {
        let mut e = entry();
        e.token_name = "cluster-read".into();
        e.why = "rule";
        e.rule = Some(3);
        e.endpoint = "https://huggingface.co".into();
        let line = format(&e);
        assert_eq!(
            line,
            "{\"time\":\"2026-12-01T19:00:00Z\",\"event\":\"handout\",\"rpc\":\"Resolve\",\"pid\":42,\"uid\":1000,\
             \"exe\":\"/usr/bin/git\",\"via\":\"local\",\"token_name\":\"cluster-read\",\"why\":\"rule\",\"rule\":3,\
             \"endpoint\":\"https://huggingface.co\"}\n"
        );
        let bare = format(&Entry::new("refused", "Login", None));
        let v: Value = serde_json::from_str(&bare).unwrap();
        assert_eq!(v["pid"], Value::Null);
        assert_eq!(v["exe"], Value::Null);
        assert_eq!(v["via"], "local");
        for absent in ["why", "rule", "endpoint", "detail", "dropped_before"] {
            assert!(v.get(absent).is_none(), "{absent} in {bare}");
        }
    }

    #[test]
    fn every_string_round_trips_through_a_json_parser() {
        let nasty = "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{1}i\u{1f}j\u{7f}k é 😀 </script>";
        let mut e = entry();
        e.exe = Some(nasty.into());
        e.token_name = nasty.into();
        e.endpoint = nasty.into();
        e.detail = nasty.to_owned();
        e.dropped_before = Some(u64::MAX);
        let line = format(&e);
        assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
        let v: Value = serde_json::from_str(&line).unwrap();
        for key in ["exe", "token_name", "endpoint", "detail"] {
            assert_eq!(v[key], json!(nasty), "{key}");
        }
        assert_eq!(v["dropped_before"], json!(u64::MAX));
        // Byte for byte the escapes serde_json writes, so the log reads as it did.
        let mut escaped = Vec::new();
        string(&mut escaped, nasty);
        assert_eq!(String::from_utf8(escaped).unwrap(), serde_json::to_string(nasty).unwrap());
    }

    #[test]
    fn every_byte_is_escaped_as_serde_json_escapes_it_wherever_it_is() {
        // Every ASCII byte value and three non-ASCII characters, each at the start, the middle
        // and the end of strings of 1 to 47 bytes (up to three of the check's 16-byte steps),
        // against serde_json.
        for c in (0..=0x7f_u8).map(char::from).chain(['é', '\u{2028}', '😀']) {
            for len in 1..48 {
                for at in [0, len / 2, len - 1] {
                    let mut s: Vec<char> = "x".repeat(len).chars().collect();
                    s[at] = c;
                    let s: String = s.into_iter().collect();
                    let mut out = Vec::new();
                    string(&mut out, &s);
                    assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&s).unwrap(), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn the_timestamp_follows_the_clock_across_seconds() {
        let mut f = Formatter::default();
        let mut e = entry();
        let mut out = Vec::new();
        let at = |secs: i64| match u64::try_from(secs) {
            Ok(after) => UNIX_EPOCH + Duration::from_secs(after),
            Err(_) => UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()),
        };
        // Back and forth, and before 1970 (a clock set wrong), where a second is its own too.
        for secs in [1_796_151_600, 1_796_151_600, 1_796_151_601, 1_796_155_200, 1_796_151_601, -1, -2, 0, -1] {
            e.time = at(secs);
            out.clear();
            f.line(&mut out, &e);
            let v: Value = serde_json::from_slice(&out).unwrap();
            let want: chrono::DateTime<chrono::Utc> = e.time.into();
            assert_eq!(v["time"], want.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
    }
}
