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
    /// `protocol`, `host`, `path` or `username` was given more than once (a `url=` counts as
    /// giving each part it has). git (since 2.26.1) never does; a value with a newline written
    /// by an older git or another caller does (`host=evil\nhost=huggingface.co`), so such a
    /// request is not answered, whichever value would "win".
    pub repeated: bool,
}

/// The attributes that may be given once ([`Request::repeated`]), as bits.
const PROTOCOL: u8 = 1;
const HOST: u8 = 2;
const PATH: u8 = 4;
const USERNAME: u8 = 8;

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
    let (mut seen, mut repeated) = (0u8, false);
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
        let given = request.apply(key, value);
        repeated |= given & seen != 0;
        seen |= given;
    }
    request.repeated = repeated;
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
        present(&self.protocol) && present(&self.host) && all_clean && !self.repeated
    }

    fn singles_clean(&self) -> bool {
        [&self.protocol, &self.host, &self.path, &self.username, &self.password]
            .into_iter()
            .filter_map(|v| v.as_deref())
            .all(is_clean)
    }

    /// Keys are compared exactly (case-sensitive), as git does; the last value of a key wins.
    /// Returns which of the once-only attributes this line gave.
    fn apply(&mut self, key: &str, value: &str) -> u8 {
        let value = value.to_owned();
        match key {
            "protocol" => self.protocol = Some(value),
            "host" => self.host = Some(value),
            "path" => self.path = Some(value),
            "username" => self.username = Some(value),
            "password" => self.password = Some(value),
            "url" => {
                self.apply_url(&value);
                let path = if self.path.is_some() { PATH } else { 0 };
                let username = if self.username.is_some() { USERNAME } else { 0 };
                return PROTOCOL | HOST | path | username;
            }
            "capability[]" => push_or_clear(&mut self.capabilities, value),
            "wwwauth[]" => push_or_clear(&mut self.wwwauth, value),
            // Forward compatibility: git adds attributes over time and helpers must ignore them.
            _ => {}
        }
        match key {
            "protocol" => PROTOCOL,
            "host" => HOST,
            "path" => PATH,
            "username" => USERNAME,
            _ => 0,
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
            .field("repeated", &self.repeated)
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
#[path = "protocol_tests.rs"]
mod tests;
