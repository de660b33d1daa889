//! The `stored_tokens` INI format, exactly as huggingface_hub 2.4.0 reads and writes it.
//!
//! This module owns the bytes of `stored_tokens` and nothing else: [`parse`] reproduces
//! `configparser.ConfigParser(interpolation=None).read(path, encoding="utf-8")` followed by
//! `{name: dict(config.items(name)) for name in config.sections()}`, and [`render`] reproduces
//! `_save_stored_tokens_full` (sorted sections, `key = value`, a blank line after each section).
//! It does no I/O, takes no locks and knows nothing about tokens beyond "values are secrets".
//!
//! Deliberate divergence: Python writes any section name and value verbatim, even ones that make
//! the file unreadable or inject keys. [`validate_name`] and [`validate_value`] let callers refuse
//! those instead of reproducing the corruption.

use std::collections::{HashMap, HashSet};
use std::fmt;

/// configparser's `default_section`: its keys are inherited by every section.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// One section of `stored_tokens`: its name and its `(key, value)` pairs in the order
/// huggingface_hub re-emits them. Keys are lowercased (configparser's `optionxform`) and unique.
#[derive(Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub entries: Vec<(String, String)>,
}

impl Section {
    pub fn new(name: impl Into<String>) -> Self {
        Section { name: name.into(), entries: Vec::new() }
    }

    /// The value of `key`, looked up the way `config.get` would (case-insensitively).
    pub fn get(&self, key: &str) -> Option<&str> {
        let key = optionxform(key);
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    /// Like `config.set`: lowercases `key`, replaces its value in place or appends it.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let key = optionxform(key);
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }
}

/// Values are tokens: `Debug` shows the name and the keys, never a value.
impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Redacted;
        impl fmt::Debug for Redacted {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("<redacted>")
            }
        }
        struct Keys<'a>(&'a [(String, String)]);
        impl fmt::Debug for Keys<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map().entries(self.0.iter().map(|(k, _)| (k, Redacted))).finish()
            }
        }
        f.debug_struct("Section").field("name", &self.name).field("entries", &Keys(&self.entries)).finish()
    }
}

/// The whole file, sections in file order (the writer sorts). Names are unique.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct IniFile {
    pub sections: Vec<Section>,
}

impl IniFile {
    pub fn get(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Section> {
        self.sections.iter_mut().find(|s| s.name == name)
    }

    pub fn remove(&mut self, name: &str) -> Option<Section> {
        let index = self.sections.iter().position(|s| s.name == name)?;
        Some(self.sections.remove(index))
    }

    /// Python's `_save_token`: `stored_tokens[name] = fields` replaces the whole section, so
    /// stale keys (an old `refresh_token`/`expires_at`) are dropped; a new name is appended.
    pub fn upsert(&mut self, section: Section) {
        match self.get_mut(&section.name) {
            Some(existing) => *existing = section,
            None => self.sections.push(section),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|s| s.name.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.sections.is_empty()
    }
}

/// Why a file is not readable by huggingface_hub (which then treats it as empty).
///
/// Messages follow configparser's but never quote a line: a line may hold a token.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Checked before any line is parsed. Python decodes incrementally, so for a truncated
    /// sequence at the very end it may report a structural error first; both mean "unreadable".
    #[error("'utf-8' codec can't decode byte at position {offset} (line {line}): invalid UTF-8")]
    InvalidUtf8 { line: usize, offset: usize },
    #[error("File contains no section headers. line {line}")]
    MissingSectionHeader { line: usize },
    /// A line that is neither a comment, a header, an option nor a continuation (`[]`, a key
    /// without `=`/`:`, an empty key). configparser reports the first of these only at the end.
    #[error("Source contains parsing errors: [line {line:2}]")]
    Parsing { line: usize },
    #[error("While reading [line {line:2}]: section {} already exists", quoted(.name))]
    DuplicateSection { line: usize, name: String },
    #[error("While reading [line {line:2}]: option {} in section {} already exists", quoted(.key), quoted(.section))]
    DuplicateOption { line: usize, section: String, key: String },
}

/// A section name or value that would corrupt `stored_tokens` (or read back differently).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum NameError {
    #[error("token name must not be empty")]
    Empty,
    #[error("token name 'DEFAULT' is reserved by the INI format")]
    Reserved,
    #[error("token name must not contain control characters (CR, LF, tab, NUL, ...): found {}", codepoint(*.ch))]
    ControlChar { ch: char },
    #[error("token value must not contain a carriage return (CR): it would be read back as a line break")]
    CarriageReturnInValue,
}

/// Python's `%r` of a name, close enough for a message (names are not secret).
fn quoted(s: &str) -> String {
    format!("'{}'", s.escape_debug())
}

fn codepoint(ch: char) -> String {
    format!("U+{:04X}", u32::from(ch))
}

/// Refuses names Python would write but that corrupt the file or that we do not want to own.
///
/// Python itself only rejects `DEFAULT` (`add_section`). An empty name renders as `[]` and a
/// CR/LF splits the header line: either makes every later read fail, i.e. silently loses all
/// tokens. Other control characters (tab, NUL, C1 such as NEL) do round-trip through
/// configparser, but they are invisible in `auth list` and treated as line breaks by other
/// tools, so we refuse them too. Everything else (`[`, `]`, `=`, `:`, `#`, `%`, padding,
/// Unicode, `default`) round-trips through [`render`] and [`parse`].
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name == DEFAULT_SECTION {
        return Err(NameError::Reserved);
    }
    match name.chars().find(|c| c.is_control()) {
        Some(ch) => Err(NameError::ControlChar { ch }),
        None => Ok(()),
    }
}

/// Refuses values that corrupt the file. Python writes a CR raw, and its universal-newline
/// reader then sees a line break: the rest of the value becomes a new line at column 0, which
/// is a parse error or, worse, an injected key (`"a\rk = v"` reads back as two keys). A LF is
/// fine: the writer indents the next line with a tab, making it a continuation line.
pub fn validate_value(value: &str) -> Result<(), NameError> {
    if value.contains('\r') {
        return Err(NameError::CarriageReturnInValue);
    }
    Ok(())
}

/// `_save_stored_tokens_full`, byte for byte.
///
/// Sections are sorted by name (Rust `str` order is UTF-8 byte order, which is code point order,
/// which is Python's `sorted`). Keys go through `optionxform` as `config.set` does; values are
/// written verbatim with `\n` → `\n\t` (configparser's continuation). Names and values are not
/// checked here: use [`validate_name`]/[`validate_value`] first.
pub fn render(file: &IniFile) -> String {
    let mut sections: Vec<&Section> = file.sections.iter().collect();
    sections.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    for section in sections {
        out.push('[');
        out.push_str(&section.name);
        out.push_str("]\n");
        for (key, value) in &section.entries {
            out.push_str(&optionxform(key));
            out.push_str(" = ");
            out.push_str(&value.replace('\n', "\n\t"));
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// `ConfigParser(interpolation=None)` reading `bytes` as huggingface_hub does, then
/// `config.items(name)` for every section: DEFAULT's keys come first (with the section's value
/// when it overrides one), then the section's own keys in file order.
pub fn parse(bytes: &[u8]) -> Result<IniFile, ParseError> {
    parse_noting_defaults(bytes).map(|(file, _)| file)
}

/// [`parse`], and whether the file has a `[DEFAULT]` section with keys. Rendering writes no
/// `[DEFAULT]` (huggingface_hub writes none either): its keys live on only inside the sections
/// that inherit them, so a value every section overrides, or one in a file with no section at
/// all, is gone from a rewrite.
pub fn parse_noting_defaults(bytes: &[u8]) -> Result<(IniFile, bool), ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let before = &bytes[..offset];
        // Universal newlines: CRLF, lone CR and LF each end a line.
        let breaks = count(before, b"\n") + count(before, b"\r") - count(before, b"\r\n");
        ParseError::InvalidUtf8 { line: breaks + 1, offset }
    })?;
    let mut parser = Parser::default();
    for (index, line) in universal_lines(text).enumerate() {
        parser.feed(index + 1, line)?;
    }
    let has_defaults = !parser.defaults.is_empty();
    Ok((parser.finish()?, has_defaults))
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Lines as Python's text-mode `open()` yields them (newline=None): `\r\n`, `\r` and `\n` all
/// end a line, and nothing else does (not VT, FF, NEL or U+2028, unlike `str.splitlines`).
fn universal_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(end) = rest.find(['\r', '\n']) else {
            return Some(std::mem::take(&mut rest));
        };
        let line = &rest[..end];
        let width = if rest[end..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[end + width..];
        Some(line)
    })
}

/// Python's `str.isspace()`, which is also what `str.strip()` and `re`'s `\s` use. It is Rust's
/// `char::is_whitespace` plus the four information separators U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(is_py_space)
}

/// configparser's default `optionxform`: `str.lower()` (full Unicode lowercasing, like Rust's).
fn optionxform(key: &str) -> String {
    key.to_lowercase()
}

/// `SECTCRE.match(line)` with `\[(?P<header>.+)\]`: anchored at the start only, and the greedy
/// `.+` runs to the LAST `]` on the line, so `[a]]` is `a]`, `[a] x ] y` is `a] x ` and any text
/// after the last `]` is ignored. `[]` has no header (`.+` needs one character).
fn section_header(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// Where options currently go: configparser's `cursect`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    Default,
    Section(usize),
}

type Options = Vec<(String, Vec<String>)>;

/// The state of `RawConfigParser._read` (Python 3.11), with the same defaults: comment prefixes
/// `#` and `;` for whole lines only, no inline comments, `strict=True`, `allow_no_value=False`,
/// `empty_lines_in_values=True`, delimiters `=` and `:`.
#[derive(Default)]
struct Parser {
    defaults: Options,
    sections: Vec<(String, Options)>,
    by_name: HashMap<String, usize>,
    /// `elements_added` for options: strict mode refuses a key twice in one section (DEFAULT
    /// included, even across two `[DEFAULT]` blocks).
    added: HashSet<(Target, String)>,
    current: Option<Target>,
    /// `optname`: the option that continuation lines and blank lines extend.
    open: Option<usize>,
    /// Indentation (in characters, as Python counts) of the last header or option line.
    indent_level: usize,
    /// configparser collects non-fatal errors and raises the first-created one at the end,
    /// unless a fatal one (missing header, duplicate) is raised first.
    deferred: Option<ParseError>,
}

impl Parser {
    fn options(&mut self, target: Target) -> &mut Options {
        match target {
            Target::Default => &mut self.defaults,
            Target::Section(i) => &mut self.sections[i].1,
        }
    }

    fn open_value(&mut self) -> Option<&mut Vec<String>> {
        let (target, open) = (self.current?, self.open?);
        Some(&mut self.options(target)[open].1)
    }

    fn defer(&mut self, line: usize) {
        self.deferred.get_or_insert(ParseError::Parsing { line });
    }

    fn feed(&mut self, line: usize, raw: &str) -> Result<(), ParseError> {
        let value = py_strip(raw);
        if value.starts_with(['#', ';']) {
            // A comment neither ends a multi-line value nor adds to it.
            return Ok(());
        }
        if value.is_empty() {
            // empty_lines_in_values: a blank line may be part of a value; trailing ones are
            // dropped by the final rstrip.
            if let Some(pieces) = self.open_value() {
                pieces.push(String::new());
            }
            return Ok(());
        }
        let indent = raw.chars().take_while(|&c| is_py_space(c)).count();
        let level = self.indent_level;
        // A line indented deeper than the option line continues that option's value.
        if let Some(pieces) = self.open_value().filter(|_| indent > level) {
            pieces.push(value.to_owned());
            return Ok(());
        }
        self.indent_level = indent;
        if let Some(name) = section_header(value) {
            self.open = None;
            if self.by_name.contains_key(name) {
                return Err(ParseError::DuplicateSection { line, name: name.to_owned() });
            }
            if name == DEFAULT_SECTION {
                // Not a section: a second [DEFAULT] block just adds to the first.
                self.current = Some(Target::Default);
            } else {
                self.by_name.insert(name.to_owned(), self.sections.len());
                self.current = Some(Target::Section(self.sections.len()));
                self.sections.push((name.to_owned(), Vec::new()));
            }
            return Ok(());
        }
        let Some(target) = self.current else {
            return Err(ParseError::MissingSectionHeader { line });
        };
        // OPTCRE: the lazy `(?P<option>.*?)\s*(=|:)` splits at the first delimiter.
        let Some(at) = value.find(['=', ':']) else {
            // configparser leaves `optname` alone here, so later indented lines still continue
            // the previous value; the file is rejected at the end anyway.
            self.defer(line);
            return Ok(());
        };
        let raw_key = py_rstrip(&value[..at]);
        if raw_key.is_empty() {
            self.defer(line);
        }
        let key = optionxform(raw_key);
        if !self.added.insert((target, key.clone())) {
            let section = match target {
                Target::Default => DEFAULT_SECTION.to_owned(),
                Target::Section(i) => self.sections[i].0.clone(),
            };
            return Err(ParseError::DuplicateOption { line, section, key });
        }
        let options = self.options(target);
        options.push((key, vec![py_strip(&value[at + 1..]).to_owned()]));
        // An empty key is stored but, being falsy in Python, never continued.
        self.open = (!raw_key.is_empty()).then_some(options.len() - 1);
        Ok(())
    }

    fn finish(self) -> Result<IniFile, ParseError> {
        if let Some(error) = self.deferred {
            return Err(error);
        }
        // _join_multiline_values: '\n'.join(pieces).rstrip()
        let join = |(key, pieces): (String, Vec<String>)| (key, py_rstrip(&pieces.join("\n")).to_owned());
        let defaults: Vec<(String, String)> = self.defaults.into_iter().map(join).collect();
        let default_index: HashMap<&str, usize> =
            defaults.iter().enumerate().map(|(i, (k, _))| (k.as_str(), i)).collect();
        let sections = self
            .sections
            .into_iter()
            .map(|(name, options)| {
                // config.items(name): d = defaults.copy(); d.update(section)
                let mut entries = defaults.clone();
                for (key, value) in options.into_iter().map(join) {
                    match default_index.get(key.as_str()) {
                        Some(&i) => entries[i].1 = value,
                        None => entries.push((key, value)),
                    }
                }
                Section { name, entries }
            })
            .collect();
        Ok(IniFile { sections })
    }
}

#[cfg(test)]
#[path = "ini_tests.rs"]
mod tests;
