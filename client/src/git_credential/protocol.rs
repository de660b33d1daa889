//! git's credential helper stream protocol: reading one request from git (stdin of every op) and
//! writing the answer to `get` and to `capability` (stdout). Pure: it takes a reader or a writer and
//! knows nothing about the daemon, the token files or the process.
//!
//! Every rule that is stricter than "split on `=`" comes from a git advisory; the spec the rules are
//! taken from is `shared/spec/git-credential-protocol.md`.

use std::fmt;
use std::io::{BufRead, Read, Write};

/// One line, its LF included, may be at most this long (git's documented limit).
pub const MAX_LINE: usize = 65535;

/// Bound on a whole request. git itself reads until a blank line with no total limit, but a real
/// request is a handful of short attributes plus at most a few `wwwauth[]` headers (a few KiB).
/// 256 KiB is four maximal lines: far above anything git sends, yet small enough that a peer that
/// never sends the blank line cannot make the helper hold more than that in memory.
pub const MAX_REQUEST: usize = 256 * 1024;

/// What git asked for: the helper's first argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Get,
    Store,
    Erase,
    Capability,
    /// Any other operation; git requires helpers to ignore it silently (exit 0).
    Unknown,
}

impl Operation {
    /// Exact, case-sensitive match, as git passes the operation verbatim.
    pub fn parse(arg: &str) -> Operation {
        match arg {
            "get" => Operation::Get,
            "store" => Operation::Store,
            "erase" => Operation::Erase,
            "capability" => Operation::Capability,
            _ => Operation::Unknown,
        }
    }
}

/// A parsed request. Keeps only what a read-only helper needs; unknown keys are ignored.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub capabilities: Vec<String>,
    pub wwwauth: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("credential line {line} is longer than {MAX_LINE} bytes")]
    LineTooLong { line: usize },
    #[error("credential request is larger than {MAX_REQUEST} bytes")]
    RequestTooLarge,
    #[error("credential line {line} is not valid UTF-8")]
    InvalidUtf8 { line: usize },
    #[error("credential line {line} contains a NUL byte")]
    Nul { line: usize },
    #[error("credential line {line} has no `=`")]
    MissingDelimiter { line: usize },
    /// Names the field only: the value may be a secret.
    #[error("refusing to write {field}: its value contains CR, LF or NUL")]
    UnsafeValue { field: &'static str },
    #[error("credential stream: {0}")]
    Io(#[from] std::io::Error),
}

/// Read one request: whole lines up to a blank line or EOF.
///
/// Lines are split on LF only and lose at most one CR, and only the CR of a CRLF. A lone CR stays in
/// the value, which makes [`Request::is_answerable`] refuse the request (CVE-2024-52006: readers that
/// split on a lone CR let `host=a\rhost=b` smuggle a second host). Each line is read whole through a
/// bounded `take`, so a long `wwwauth[]` line can never be cut into chunks whose tail is read as a
/// line of its own (git's "not confused by long header" test), and memory stays bounded.
pub fn read_request<R: BufRead>(reader: R) -> Result<Request, ProtocolError> {
    let mut reader = reader;
    let mut request = Request::default();
    let mut buf = Vec::new();
    let mut total = 0usize;
    let mut line = 0usize;
    loop {
        line += 1;
        buf.clear();
        let remaining = MAX_REQUEST - total;
        // One byte past the smaller bound is enough to tell "exactly at the bound" from "over it".
        let limit = MAX_LINE.min(remaining) + 1;
        let n = (&mut reader).take(limit as u64).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if n > MAX_LINE {
            return Err(ProtocolError::LineTooLong { line });
        }
        if n > remaining {
            return Err(ProtocolError::RequestTooLarge);
        }
        total += n;
        // A NUL would end the value early in git's C strings: what we see and what git meant differ.
        if buf.contains(&0) {
            return Err(ProtocolError::Nul { line });
        }
        let bytes = match buf.strip_suffix(b"\n") {
            Some(rest) => rest.strip_suffix(b"\r").unwrap_or(rest),
            None => &buf[..],
        };
        if bytes.is_empty() {
            break;
        }
        // git does not care about encodings, but every value we act on is UTF-8 in practice; a
        // request that is not is refused rather than guessed at.
        let text = std::str::from_utf8(bytes).map_err(|_| ProtocolError::InvalidUtf8 { line })?;
        // git's credential_read_fp rejects the whole stream on such a line ("invalid credential
        // line") and `git credential` dies: the framing is not what we think, so fail closed.
        let (key, value) = text.split_once('=').ok_or(ProtocolError::MissingDelimiter { line })?;
        request.apply(key, value);
    }
    Ok(request)
}

impl Request {
    /// Is this a request we may answer at all? protocol and host both present and non-empty
    /// (CVE-2020-11008: an empty host or a missing protocol made helpers answer for "any" host), and
    /// no value contains CR, LF or NUL (CVE-2020-5260, CVE-2024-52006: such a value is an injection
    /// attempt, whichever way it was meant).
    pub fn is_answerable(&self) -> bool {
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        let all_clean = self.singles_clean() && self.capabilities.iter().chain(&self.wwwauth).all(|v| is_clean(v));
        present(&self.protocol) && present(&self.host) && all_clean
    }

    fn singles_clean(&self) -> bool {
        [&self.protocol, &self.host, &self.path, &self.username, &self.password]
            .into_iter()
            .filter_map(|v| v.as_deref())
            .all(is_clean)
    }

    /// Keys are compared exactly (case-sensitive), as git does; the last value of a key wins.
    fn apply(&mut self, key: &str, value: &str) {
        let value = value.to_owned();
        match key {
            "protocol" => self.protocol = Some(value),
            "host" => self.host = Some(value),
            "path" => self.path = Some(value),
            "username" => self.username = Some(value),
            "password" => self.password = Some(value),
            "url" => self.apply_url(&value),
            "capability[]" => push_or_clear(&mut self.capabilities, value),
            "wwwauth[]" => push_or_clear(&mut self.wwwauth, value),
            // Forward compatibility: git adds attributes over time and helpers must ignore them.
            _ => {}
        }
    }

    /// Like git's credential_from_url: everything read so far is cleared, then filled from the URL.
    /// A URL git could not parse (git dies on it) leaves the request empty, hence unanswerable.
    fn apply_url(&mut self, url: &str) {
        *self = Request::default();
        if let Some(parts) = parse_url(url) {
            *self = parts;
        }
    }
}

/// `key[]=` with an empty value clears the list (git-credential(1)).
fn push_or_clear(list: &mut Vec<String>, value: String) {
    if value.is_empty() {
        list.clear();
    } else {
        list.push(value);
    }
}

fn is_clean(value: &str) -> bool {
    !value.contains(['\r', '\n', '\0'])
}

/// `scheme://[user[:password]@]host[:port][/path]`, split and percent-decoded as git's
/// credential_from_url_1 does. `None` when there is no scheme or when a decoded part contains CR,
/// LF or NUL (CVE-2020-5260: `%0a` smuggled `host=` lines into the helper stream).
fn parse_url(url: &str) -> Option<Request> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty() {
        return None;
    }
    // A query or fragment marker also ends the authority, as in git.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // The first `@` ends the user info, as in git.
    let (userinfo, host) = match authority.split_once('@') {
        Some((userinfo, host)) => (Some(userinfo), host),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        Some(info) => match info.split_once(':') {
            Some((user, pass)) => (Some(url_decode(user)?), Some(url_decode(pass)?)),
            None => (Some(url_decode(info)?), None),
        },
        None => (None, None),
    };
    let path = tail.trim_start_matches('/');
    let path = if path.is_empty() {
        None
    } else {
        let decoded = url_decode(path)?;
        let trimmed = decoded.trim_end_matches('/');
        Some(if trimmed.is_empty() { decoded[..1].to_owned() } else { trimmed.to_owned() })
    };
    let request = Request {
        protocol: Some(scheme.to_owned()),
        host: Some(url_decode(host)?),
        path,
        username,
        password,
        ..Request::default()
    };
    request.singles_clean().then_some(request)
}

/// Percent-decoding as git's url_decode_mem: `+` stays `+`, a malformed escape is kept literally.
fn url_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let pair = bytes.get(i + 1).copied().and_then(hex).zip(bytes.get(i + 2).copied().and_then(hex));
            if let Some((hi, lo)) = pair {
                // Two hex digits always fit a byte: hi, lo < 16.
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

const REDACTED: &str = "<redacted>";

impl fmt::Debug for Request {
    /// Never prints the password: Debug output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("protocol", &self.protocol)
            .field("host", &self.host)
            .field("path", &self.path)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("capabilities", &self.capabilities)
            .field("wwwauth", &self.wwwauth)
            .finish()
    }
}

/// The answer to `get`. Its Debug redacts the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
    /// Unix seconds; git stops using the password after it (and asks again).
    pub password_expiry_utc: Option<i64>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .field("password_expiry_utc", &self.password_expiry_utc)
            .finish()
    }
}

/// Write `username=..\npassword=..\n[password_expiry_utc=..\n]`.
///
/// A value with CR, LF or NUL would add lines of our choosing to what git reads (CVE-2020-5260,
/// CVE-2024-52006), so it is refused and nothing at all is written: the answer is built in a buffer
/// first, so git never sees half a credential.
pub fn write_credential<W: Write>(w: W, c: &Credential) -> Result<(), ProtocolError> {
    for (field, value) in [("username", &c.username), ("password", &c.password)] {
        if !is_clean(value) {
            return Err(ProtocolError::UnsafeValue { field });
        }
    }
    let mut out = format!("username={}\npassword={}\n", c.username, c.password);
    if let Some(expiry) = c.password_expiry_utc {
        out.push_str(&format!("password_expiry_utc={expiry}\n"));
    }
    let mut w = w;
    w.write_all(out.as_bytes())?;
    w.flush()?;
    Ok(())
}

/// The `capability` op's output: `version 0` and no capability lines. The only capabilities git
/// defines (`authtype`, `state`) are for helpers that return ready-made `Authorization` headers or
/// run multi-round exchanges; a read-only helper that answers with a username and a token needs
/// neither, and advertising one would commit us to its semantics. No lines means "none" to git.
pub fn write_capabilities<W: Write>(w: W) -> std::io::Result<()> {
    let mut w = w;
    w.write_all(b"version 0\n")?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn read(input: &[u8]) -> Result<Request, ProtocolError> {
        read_request(input)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    fn cred(username: &str, password: &str, expiry: Option<i64>) -> Credential {
        Credential { username: username.into(), password: password.into(), password_expiry_utc: expiry }
    }

    #[rstest]
    #[case("get", Operation::Get)]
    #[case("store", Operation::Store)]
    #[case("erase", Operation::Erase)]
    #[case("capability", Operation::Capability)]
    #[case("GET", Operation::Unknown)]
    #[case("", Operation::Unknown)]
    #[case("fill", Operation::Unknown)]
    #[case("get ", Operation::Unknown)]
    fn operation_parse(#[case] arg: &str, #[case] expected: Operation) {
        assert_eq!(Operation::parse(arg), expected);
    }

    // The attribute shapes git's t/lib-credential.sh helper_test feeds a helper.
    #[rstest]
    #[case::basic(
        "protocol=https\nhost=example.com\n\n",
        Request { protocol: s("https"), host: s("example.com"), ..Request::default() }
    )]
    #[case::with_user_and_password(
        "protocol=https\nhost=example.com\nusername=store-user\npassword=store-pass\n\n",
        Request {
            protocol: s("https"),
            host: s("example.com"),
            username: s("store-user"),
            password: s("store-pass"),
            ..Request::default()
        }
    )]
    #[case::path(
        "protocol=http\nhost=path.tld\npath=foo.git\n\n",
        Request { protocol: s("http"), host: s("path.tld"), path: s("foo.git"), ..Request::default() }
    )]
    #[case::host_with_port(
        "protocol=https\nhost=example.com:8443\n\n",
        Request { protocol: s("https"), host: s("example.com:8443"), ..Request::default() }
    )]
    #[case::empty_username(
        "protocol=https\nhost=sso.tld\nusername=\npassword=\n\n",
        Request {
            protocol: s("https"),
            host: s("sso.tld"),
            username: s(""),
            password: s(""),
            ..Request::default()
        }
    )]
    #[case::last_value_wins(
        "protocol=https\nhost=a.tld\nhost=b.tld\n\n",
        Request { protocol: s("https"), host: s("b.tld"), ..Request::default() }
    )]
    #[case::value_may_contain_equals(
        "protocol=https\nhost=h\npassword=a=b==\n\n",
        Request { protocol: s("https"), host: s("h"), password: s("a=b=="), ..Request::default() }
    )]
    #[case::unknown_and_not_kept_keys_ignored(
        "protocol=https\nhost=h\npassword_expiry_utc=9999999999\noauth_refresh_token=r\nauthtype=Bearer\n\
         state[]=helper:x\nquit=1\nfuture_key=v\n\n",
        Request { protocol: s("https"), host: s("h"), ..Request::default() }
    )]
    #[case::keys_are_case_sensitive(
        "protocol=https\nhost=h\nHost=evil\nPASSWORD=p\n\n",
        Request { protocol: s("https"), host: s("h"), ..Request::default() }
    )]
    #[case::capability_collected(
        "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=h\n\n",
        Request {
            protocol: s("https"),
            host: s("h"),
            capabilities: vec!["authtype".into(), "state".into()],
            ..Request::default()
        }
    )]
    #[case::wwwauth_collected(
        "protocol=https\nhost=h\nwwwauth[]=Basic realm=\"x\"\nwwwauth[]=Bearer\n\n",
        Request {
            protocol: s("https"),
            host: s("h"),
            wwwauth: vec!["Basic realm=\"x\"".into(), "Bearer".into()],
            ..Request::default()
        }
    )]
    #[case::wwwauth_cleared(
        "protocol=https\nhost=h\nwwwauth[]=Basic\nwwwauth[]=\nwwwauth[]=Bearer\n\n",
        Request { protocol: s("https"), host: s("h"), wwwauth: vec!["Bearer".into()], ..Request::default() }
    )]
    #[case::capability_cleared(
        "capability[]=authtype\ncapability[]=\nprotocol=https\nhost=h\n\n",
        Request { protocol: s("https"), host: s("h"), ..Request::default() }
    )]
    #[case::crlf_line_endings(
        "protocol=https\r\nhost=huggingface.co\r\nusername=u\r\n\r\n",
        Request { protocol: s("https"), host: s("huggingface.co"), username: s("u"), ..Request::default() }
    )]
    #[case::eof_without_blank_line(
        "protocol=https\nhost=huggingface.co",
        Request { protocol: s("https"), host: s("huggingface.co"), ..Request::default() }
    )]
    #[case::eof_after_last_lf(
        "protocol=https\nhost=huggingface.co\n",
        Request { protocol: s("https"), host: s("huggingface.co"), ..Request::default() }
    )]
    #[case::stops_at_blank_line(
        "protocol=https\nhost=huggingface.co\n\nhost=evil\n",
        Request { protocol: s("https"), host: s("huggingface.co"), ..Request::default() }
    )]
    #[case::empty_input("", Request::default())]
    #[case::url(
        "url=https://huggingface.co/foo\n\n",
        Request { protocol: s("https"), host: s("huggingface.co"), path: s("foo"), ..Request::default() }
    )]
    #[case::url_resets_earlier_parts(
        "protocol=http\nhost=old\npath=p\nusername=u\npassword=x\nurl=https://huggingface.co\n\n",
        Request { protocol: s("https"), host: s("huggingface.co"), ..Request::default() }
    )]
    #[case::parts_after_url_override(
        "url=https://huggingface.co/foo\nusername=me\n\n",
        Request {
            protocol: s("https"),
            host: s("huggingface.co"),
            path: s("foo"),
            username: s("me"),
            ..Request::default()
        }
    )]
    fn parses(#[case] input: &str, #[case] expected: Request) {
        assert_eq!(read(input.as_bytes()).unwrap(), expected);
    }

    /// protocol, host, path, username, password
    type UrlParts<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);

    #[rstest]
    #[case("https://huggingface.co", Some(("https", "huggingface.co", None, None, None)))]
    #[case("https://huggingface.co/", Some(("https", "huggingface.co", None, None, None)))]
    #[case("https://huggingface.co:443/a/b.git/", Some(("https", "huggingface.co:443", Some("a/b.git"), None, None)))]
    #[case("https://me@huggingface.co/x", Some(("https", "huggingface.co", Some("x"), Some("me"), None)))]
    #[case("https://me:pw@huggingface.co", Some(("https", "huggingface.co", None, Some("me"), Some("pw"))))]
    #[case("https://a%40b.c@huggingface.co", Some(("https", "huggingface.co", None, Some("a@b.c"), None)))]
    #[case("https://huggingface.co?x@evil", Some(("https", "huggingface.co", Some("?x@evil"), None, None)))]
    #[case("https://huggingface.co/a%zzb+c", Some(("https", "huggingface.co", Some("a%zzb+c"), None, None)))]
    #[case::no_scheme("huggingface.co/foo", None)]
    #[case::empty_scheme("://huggingface.co", None)]
    #[case::cve_2020_5260_lf("https://huggingface.co%0ahost=evil/", None)]
    #[case::encoded_cr("https://huggingface.co/%0d", None)]
    #[case::encoded_nul("https://u%00@huggingface.co", None)]
    #[case::invalid_utf8("https://huggingface.co/%ff", None)]
    fn url_values(#[case] url: &str, #[case] expected: Option<UrlParts<'_>>) {
        let got = read(format!("protocol=ftp\nhost=old\nurl={url}\n").as_bytes()).unwrap();
        let expected = match expected {
            Some((protocol, host, path, username, password)) => Request {
                protocol: s(protocol),
                host: s(host),
                path: path.map(str::to_owned),
                username: username.map(str::to_owned),
                password: password.map(str::to_owned),
                ..Request::default()
            },
            // An unparseable URL leaves nothing behind: the request cannot be answered.
            None => Request::default(),
        };
        assert_eq!(got, expected);
        assert_eq!(got.is_answerable(), expected.protocol.is_some());
    }

    #[rstest]
    #[case::ok("protocol=https\nhost=huggingface.co\n", true)]
    #[case::ok_with_everything("protocol=https\nhost=h\npath=p\nusername=u\npassword=p\nwwwauth[]=B\n", true)]
    // CVE-2020-11008: no protocol or no/empty host must never match "any" host.
    #[case::missing_host("protocol=https\n", false)]
    #[case::missing_protocol("host=huggingface.co\n", false)]
    #[case::empty_host("protocol=https\nhost=\n", false)]
    #[case::empty_protocol("protocol=\nhost=huggingface.co\n", false)]
    #[case::nothing("", false)]
    // CVE-2024-52006: a lone CR is kept in the value and poisons the request.
    #[case::cr_at_eof("protocol=https\nhost=huggingface.co\r", false)]
    #[case::cr_before_crlf("protocol=https\nhost=huggingface.co\r\r\n", false)]
    #[case::cr_smuggled_host("protocol=https\nhost=a\rhost=b\n", false)]
    #[case::cr_in_protocol("protocol=https\rx\nhost=h\n", false)]
    #[case::cr_in_username("protocol=https\nhost=h\nusername=u\r\n", true)] // CRLF: CR stripped
    #[case::cr_in_username_lone("protocol=https\nhost=h\nusername=u\rhost=evil\n", false)]
    #[case::cr_in_path("protocol=https\nhost=h\npath=a\rb\n", false)]
    #[case::cr_in_wwwauth("protocol=https\nhost=h\nwwwauth[]=Basic\rhost=evil\n", false)]
    #[case::cr_in_capability("capability[]=authtype\r\rx\nprotocol=https\nhost=h\n", false)]
    fn answerable(#[case] input: &str, #[case] expected: bool) {
        assert_eq!(read(input.as_bytes()).unwrap().is_answerable(), expected);
    }

    #[test]
    fn lone_cr_is_never_a_line_break() {
        let req = read(b"protocol=https\nhost=a\rhost=b\n\n").unwrap();
        assert_eq!(req.host.as_deref(), Some("a\rhost=b"));
    }

    #[rstest]
    #[case::hand_built_lf(Request { host: s("a\nb"), ..answerable_base() })]
    #[case::hand_built_nul(Request { password: s("a\0b"), ..answerable_base() })]
    #[case::hand_built_wwwauth(Request { wwwauth: vec!["x\ny".into()], ..answerable_base() })]
    fn hand_built_requests_with_control_chars_are_refused(#[case] req: Request) {
        assert!(answerable_base().is_answerable());
        assert!(!req.is_answerable());
    }

    fn answerable_base() -> Request {
        Request { protocol: s("https"), host: s("huggingface.co"), ..Request::default() }
    }

    // git's "helper not confused by long header": the tail of a long line must not become a line.
    #[rstest]
    #[case(1024)]
    #[case(4096 - "wwwauth[]=".len())]
    #[case(8192)]
    #[case(MAX_LINE - "wwwauth[]=host=victim\n".len())]
    fn long_header_stays_one_value(#[case] filler: usize) {
        let header = format!("{}host=victim", "x".repeat(filler));
        let input = format!("protocol=https\nhost=huggingface.co\nwwwauth[]={header}\nusername=u\n\n");
        let req = read(input.as_bytes()).unwrap();
        assert_eq!(req.host.as_deref(), Some("huggingface.co"));
        assert_eq!(req.wwwauth, vec![header]);
        assert_eq!(req.username.as_deref(), Some("u"));
        assert!(req.is_answerable());
    }

    #[rstest]
    #[case::just_over_with_lf(MAX_LINE, "\n")] // MAX_LINE bytes + LF = MAX_LINE + 1
    #[case::just_over_at_eof(MAX_LINE + 1, "")]
    #[case::far_over(1 << 20, "\n")]
    fn oversized_line_is_refused(#[case] len: usize, #[case] end: &str) {
        let input = format!("protocol=https\nwwwauth[]={}{end}", "x".repeat(len - "wwwauth[]=".len()));
        assert!(matches!(read(input.as_bytes()), Err(ProtocolError::LineTooLong { line: 2 })));
    }

    #[rstest]
    #[case::with_lf(MAX_LINE - 1, "\n")]
    #[case::at_eof(MAX_LINE, "")]
    fn line_at_the_limit_is_accepted(#[case] len: usize, #[case] end: &str) {
        let value = "x".repeat(len - "wwwauth[]=".len());
        let req = read(format!("wwwauth[]={value}{end}").as_bytes()).unwrap();
        assert_eq!(req.wwwauth, vec![value]);
    }

    #[test]
    fn oversized_request_is_refused() {
        // Every line is legal; only their sum is too much.
        let line = format!("wwwauth[]={}\n", "x".repeat(60_000));
        let input = format!("protocol=https\nhost=h\n{}", line.repeat(5));
        assert!(input.len() > MAX_REQUEST);
        assert!(matches!(read(input.as_bytes()), Err(ProtocolError::RequestTooLarge)));
    }

    #[test]
    fn request_of_exactly_max_size_is_accepted() {
        let head = "protocol=https\nhost=h\n";
        let line = format!("wwwauth[]={}\n", "x".repeat(60_000 - 11));
        let mut input = format!("{head}{}", line.repeat(4));
        let pad = MAX_REQUEST - input.len() - "wwwauth[]=\n".len() - 1;
        input.push_str(&format!("wwwauth[]={}\n\n", "y".repeat(pad)));
        assert_eq!(input.len(), MAX_REQUEST);
        assert_eq!(read(input.as_bytes()).unwrap().wwwauth.len(), 5);
        // One byte more, and the closing blank line no longer fits.
        let over = input.replacen("yy", "yyy", 1);
        assert_eq!(over.len(), MAX_REQUEST + 1);
        assert!(matches!(read(over.as_bytes()), Err(ProtocolError::RequestTooLarge)));
    }

    #[rstest]
    #[case::nul_in_value(b"protocol=https\nhost=huggingface.co\0evil\n".as_slice(), 2)]
    #[case::nul_in_key(b"proto\0col=https\n".as_slice(), 1)]
    #[case::nul_in_unknown_key(b"protocol=https\nhost=h\nx=\0\n".as_slice(), 3)]
    #[case::nul_alone(b"protocol=https\n\0\n".as_slice(), 2)]
    fn nul_is_refused(#[case] input: &[u8], #[case] at: usize) {
        assert!(matches!(read(input), Err(ProtocolError::Nul { line }) if line == at));
    }

    #[rstest]
    #[case(b"protocol=https\nhost=\xff\n".as_slice(), 2)]
    #[case(b"\xc3\x28=x\n".as_slice(), 1)]
    fn invalid_utf8_is_refused(#[case] input: &[u8], #[case] at: usize) {
        assert!(matches!(read(input), Err(ProtocolError::InvalidUtf8 { line }) if line == at));
    }

    #[rstest]
    #[case("protocol=https\nhost\n", 2)]
    #[case("garbage\n", 1)]
    #[case("protocol=https\r\n\r\n", 0)] // CRLF blank line ends the request: fine
    #[case("protocol=https\n\r\n", 0)]
    #[case("protocol=https\n\r", 2)] // a lone CR is not a blank line
    fn missing_delimiter(#[case] input: &str, #[case] at: usize) {
        match read(input.as_bytes()) {
            Err(ProtocolError::MissingDelimiter { line }) => assert_eq!(line, at),
            Ok(req) => assert_eq!((at, req.protocol.as_deref()), (0, Some("https"))),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn io_error_is_passed_through() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("boom"))
            }
        }
        let reader = std::io::BufReader::new(Broken);
        assert!(matches!(read_request(reader), Err(ProtocolError::Io(_))));
    }

    #[test]
    fn reads_one_request_and_leaves_the_rest() {
        let mut input: &[u8] = b"protocol=https\nhost=a\n\nprotocol=https\nhost=b\n\n";
        assert_eq!(read_request(&mut input).unwrap().host.as_deref(), Some("a"));
        assert_eq!(read_request(&mut input).unwrap().host.as_deref(), Some("b"));
    }

    #[rstest]
    #[case(cred("u", "hf_secret", None), "username=u\npassword=hf_secret\n")]
    #[case(
        cred("u", "hf_secret", Some(1_700_000_000)),
        "username=u\npassword=hf_secret\npassword_expiry_utc=1700000000\n"
    )]
    #[case(cred("", "p=q", Some(-1)), "username=\npassword=p=q\npassword_expiry_utc=-1\n")]
    fn write_credential_bytes(#[case] c: Credential, #[case] expected: &str) {
        let mut out = Vec::new();
        write_credential(&mut out, &c).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[rstest]
    #[case(cred("u\n", "p", None), "username")]
    #[case(cred("u\r", "p", None), "username")]
    #[case(cred("u\0", "p", None), "username")]
    #[case(cred("u", "p\nhost=evil", None), "password")]
    #[case(cred("u", "p\r", Some(1)), "password")]
    #[case(cred("u", "\0", None), "password")]
    fn write_credential_refuses_control_chars(#[case] c: Credential, #[case] bad: &str) {
        let mut out = Vec::new();
        let err = write_credential(&mut out, &c).unwrap_err();
        assert!(matches!(err, ProtocolError::UnsafeValue { field } if field == bad));
        assert!(out.is_empty(), "nothing may be written");
        assert!(!err.to_string().contains(&c.password));
    }

    #[test]
    fn written_credential_reads_back() {
        let c = cred("me", "hf_abc", Some(42));
        let mut out = b"protocol=https\nhost=huggingface.co\n".to_vec();
        write_credential(&mut out, &c).unwrap();
        let req = read(&out).unwrap();
        assert_eq!((req.username.as_deref(), req.password.as_deref()), (Some("me"), Some("hf_abc")));
    }

    #[test]
    fn capabilities_output() {
        let mut out = Vec::new();
        write_capabilities(&mut out).unwrap();
        assert_eq!(out, b"version 0\n");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let req = read(b"protocol=https\nhost=h\nusername=me\npassword=hf_SeCrEt123\n").unwrap();
        let shown = format!("{req:?} {req:#?}");
        assert!(!shown.contains("hf_SeCrEt123"), "{shown}");
        assert!(shown.contains("me") && shown.contains(REDACTED));
        let c = cred("me", "hf_SeCrEt123", Some(7));
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("hf_SeCrEt123"), "{shown}");
        assert!(shown.contains("me") && shown.contains(REDACTED));
        let from_url = read(b"url=https://me:hf_SeCrEt123@huggingface.co\n").unwrap();
        assert!(!format!("{from_url:?}").contains("hf_SeCrEt123"));
    }
}
