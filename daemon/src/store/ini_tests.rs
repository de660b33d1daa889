//! Byte-exact cases for `stored_tokens`. Every expectation was produced by Python 3.11.7's
//! `configparser` driven the way huggingface_hub 2.4.0 drives it (spec §3.2, checklist 12–21).

use super::*;
use rstest::rstest;

/// Builds an `IniFile` from `(name, [(key, value)])` literals.
fn ini(sections: &[(&str, &[(&str, &str)])]) -> IniFile {
    IniFile {
        sections: sections
            .iter()
            .map(|(name, entries)| Section {
                name: (*name).to_owned(),
                entries: entries.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            })
            .collect(),
    }
}

/// `file` with its sections in the order `render` writes them.
fn sorted(mut file: IniFile) -> IniFile {
    file.sections.sort_by(|a, b| a.name.cmp(&b.name));
    file
}

fn one(name: &str, token: &str) -> IniFile {
    ini(&[(name, &[("hf_token", token)])])
}

// --- Writer (checklist 12, 13, 14, 17) ---

#[rstest]
#[case::one_token(one("work-token", "hf_valid_AAAA"), "[work-token]\nhf_token = hf_valid_AAAA\n\n")]
#[case::two_tokens_sorted(
    ini(&[("work-token", &[("hf_token", "hf_valid_AAAA")]), ("read-token", &[("hf_token", "hf_read_BBBB")])]),
    "[read-token]\nhf_token = hf_read_BBBB\n\n[work-token]\nhf_token = hf_valid_AAAA\n\n"
)]
#[case::oauth(
    ini(&[("oauth-alice", &[("hf_token", "hf_oauth_NEWTOKEN_5678"), ("refresh_token", "rt_initial"), ("expires_at", "1797921368")])]),
    "[oauth-alice]\nhf_token = hf_oauth_NEWTOKEN_5678\nrefresh_token = rt_initial\nexpires_at = 1797921368\n\n"
)]
#[case::name_with_spaces(
    one("my laptop token", "hf_valid_space_abcdef"),
    "[my laptop token]\nhf_token = hf_valid_space_abcdef\n\n"
)]
#[case::odd_name(
    one("we[ir]d = name", "hf_valid_weird_zzzzzz"),
    "[we[ir]d = name]\nhf_token = hf_valid_weird_zzzzzz\n\n"
)]
#[case::unicode_name(one("🤗 laptop", "hf_unicode"), "[\u{1f917} laptop]\nhf_token = hf_unicode\n\n")]
#[case::empty_value(one("tok3", ""), "[tok3]\nhf_token = \n\n")]
#[case::padded_value_written_raw(one("tok", "  hf_padded_value  "), "[tok]\nhf_token =   hf_padded_value  \n\n")]
#[case::percent_literal(one("p", "hf_%(x)s%"), "[p]\nhf_token = hf_%(x)s%\n\n")]
#[case::multi_line_value(one("m", "hf_multi\nline"), "[m]\nhf_token = hf_multi\n\tline\n\n")]
#[case::keys_lowercased_like_config_set(ini(&[("u", &[("HF_Token", "x")])]), "[u]\nhf_token = x\n\n")]
#[case::section_without_keys(ini(&[("bare", &[])]), "[bare]\n\n")]
#[case::empty(IniFile::default(), "")]
fn render_is_byte_exact(#[case] file: IniFile, #[case] expected: &str) {
    assert_eq!(render(&file), expected);
}

#[test]
fn sections_sorted_by_code_point() {
    let names = [
        "with space",
        "a=b",
        "a:b",
        "we[ir]d",
        "a]",
        "[x]",
        "pct%name",
        "UPPER",
        "🤗 laptop",
        "default",
        "  lead-trail  ",
        "  lead",
    ];
    let mut file = IniFile::default();
    for name in names {
        file.upsert(Section { name: name.to_owned(), entries: vec![("hf_token".into(), "t".into())] });
    }
    let rendered = render(&file);
    let headers: Vec<&str> = rendered.lines().filter(|l| l.starts_with('[')).collect();
    let expected = [
        "[  lead]",
        "[  lead-trail  ]",
        "[UPPER]",
        "[[x]]",
        "[a:b]",
        "[a=b]",
        "[a]]",
        "[default]",
        "[pct%name]",
        "[we[ir]d]",
        "[with space]",
        "[🤗 laptop]",
    ];
    assert_eq!(headers, expected);
    assert_eq!(parse(rendered.as_bytes()).map(|f| f.names().count()), Ok(names.len()));
}

// --- Upsert / normalisation (checklist 15, 16) ---

#[test]
fn saving_normalizes_a_foreign_file() {
    let input = b"# my comment\n[b]\nHF_TOKEN: hf_b\nfoo = bar\n[a]\nhf_token=hf_a\n";
    let mut file = parse(input).expect("parses");
    file.upsert(one("c", "hf_c").sections.remove(0));
    assert_eq!(render(&file), "[a]\nhf_token = hf_a\n\n[b]\nhf_token = hf_b\nfoo = bar\n\n[c]\nhf_token = hf_c\n\n");
}

#[test]
fn replacing_a_section_drops_stale_oauth_keys() {
    let mut file =
        parse(b"[n]\nhf_token = old\nrefresh_token = rt\nexpires_at = 1\n\n[z]\nhf_token = keep\n\n").expect("parses");
    let mut fresh = Section::new("n");
    fresh.set("hf_token", "new");
    file.upsert(fresh);
    assert_eq!(file.names().collect::<Vec<_>>(), ["n", "z"], "replaced in place");
    assert_eq!(render(&file), "[n]\nhf_token = new\n\n[z]\nhf_token = keep\n\n");
}

#[test]
fn section_and_file_accessors() {
    let mut s = Section::new("a");
    s.set("HF_TOKEN", "one");
    s.set("extra", "x");
    s.set("hf_token", "two");
    assert_eq!(s.entries, [("hf_token".to_owned(), "two".to_owned()), ("extra".to_owned(), "x".to_owned())]);
    assert_eq!((s.get("Hf_Token"), s.get("missing")), (Some("two"), None));

    let mut file = IniFile::default();
    assert!(file.is_empty());
    file.upsert(s);
    file.upsert(Section::new("b"));
    if let Some(b) = file.get_mut("b") {
        b.set("hf_token", "bb");
    }
    assert_eq!(file.get("b").and_then(|b| b.get("hf_token")), Some("bb"));
    assert_eq!(file.remove("a").map(|a| a.name), Some("a".to_owned()));
    assert_eq!((file.remove("a"), file.names().collect::<Vec<_>>()), (None, vec!["b"]));
}

#[test]
fn debug_redacts_values() {
    let file = ini(&[("work", &[("hf_token", "hf_SECRET"), ("refresh_token", "rt_SECRET")])]);
    let shown = format!("{file:?} {:?}", file.sections[0]);
    assert!(
        shown.contains("\"work\"") && shown.contains("\"hf_token\"") && shown.contains("\"refresh_token\""),
        "{shown}"
    );
    assert!(!shown.contains("SECRET"), "{shown}");
}

// --- Reader (checklist 18) ---

#[rstest]
#[case::spec_one_token(b"[work-token]\nhf_token = hf_valid_AAAA\n\n", ini(&[("work-token", &[("hf_token", "hf_valid_AAAA")])]))]
#[case::empty_file(b"", IniFile::default())]
#[case::whitespace_only(b"   \n\n  \t\n", IniFile::default())]
#[case::comments_only(b"# a\n  ; b\n", IniFile::default())]
#[case::colon_delimiter(b"[a]\nk: v\n", ini(&[("a", &[("k", "v")])]))]
#[case::first_delimiter_splits(b"[a]\nk : v = w\nj = a:b\n", ini(&[("a", &[("k", "v = w"), ("j", "a:b")])]))]
#[case::uppercase_key(b"[a]\nHF_TOKEN = hf_x\n", ini(&[("a", &[("hf_token", "hf_x")])]))]
#[case::unicode_lowercasing(b"[a]\nK\xc4\xb0 = v\n\xce\x91\xce\xa3 = w\n", ini(&[("a", &[("ki\u{307}", "v"), ("\u{3b1}\u{3c2}", "w")])]))]
#[case::crlf(b"[a]\r\nk = v\r\n\r\n[b]\r\nk = w\r\n", ini(&[("a", &[("k", "v")]), ("b", &[("k", "w")])]))]
#[case::lone_cr_is_a_line_break(b"[a]\rk = v\r", ini(&[("a", &[("k", "v")])]))]
#[case::no_inline_comments(b"[a]\nhf_token = hf_a ;x #y\n", ini(&[("a", &[("hf_token", "hf_a ;x #y")])]))]
#[case::value_stripped(b"[a]\nk =   v  \x0b\x1f\n", ini(&[("a", &[("k", "v")])]))]
#[case::percent_literal(b"[a]\nk = %(x)s %\n", ini(&[("a", &[("k", "%(x)s %")])]))]
#[case::nul_in_value(b"[a]\nk=v\x00w\n", ini(&[("a", &[("k", "v\0w")])]))]
#[case::header_inner_spaces_kept(b"[ a ]\n", ini(&[(" a ", &[])]))]
#[case::header_greedy_to_last_bracket(b"[a]]\n[[x]]\n[we[ir]d]\n", ini(&[("a]", &[]), ("[x]", &[]), ("we[ir]d", &[])]))]
#[case::header_text_after_last_bracket_ignored(b"[a] trailing\n[b] x ] y\n", ini(&[("a", &[]), ("b] x ", &[])]))]
#[case::header_indented_and_padded(b"  [a]  \n\x1c[b]\x1c\n", ini(&[("a", &[]), ("b", &[])]))]
#[case::brackets_as_key(b"[a]\n[]=x\n", ini(&[("a", &[("[]", "x")])]))]
#[case::defaults_inherited(
    b"[DEFAULT]\nhf_token = hf_def\n[a]\n[b]\nhf_token = hf_b\n",
    ini(&[("a", &[("hf_token", "hf_def")]), ("b", &[("hf_token", "hf_b")])])
)]
#[case::defaults_first_then_own_keys(
    b"[DEFAULT]\nx = 1\nhf_token = d\n[b]\nz = 3\nhf_token = b\n[a]\n",
    ini(&[("b", &[("x", "1"), ("hf_token", "b"), ("z", "3")]), ("a", &[("x", "1"), ("hf_token", "d")])])
)]
#[case::default_alone_is_no_section(b"[DEFAULT]\nx=1\n", IniFile::default())]
#[case::two_default_blocks_merge(b"[DEFAULT]\nk=1\n[DEFAULT]\nj=2\n[a]\n", ini(&[("a", &[("k", "1"), ("j", "2")])]))]
#[case::lowercase_default_is_a_section(b"[default]\nhf_token = x\n", ini(&[("default", &[("hf_token", "x")])]))]
#[case::continuation_roundtrip(b"[m]\nhf_token = hf_multi\n\tline\n\n", ini(&[("m", &[("hf_token", "hf_multi\nline")])]))]
#[case::continuation_blank_lines_kept_inside_dropped_at_end(b"[a]\nk = v\n\n\n  cont\n\n", ini(&[("a", &[("k", "v\n\n\ncont")])]))]
#[case::continuation_skips_comments(b"[a]\nk = v\n  # c\n;d\n  cont  \n", ini(&[("a", &[("k", "v\ncont")])]))]
#[case::continuation_after_empty_value(b"[a]\nk =\n  cont\n", ini(&[("a", &[("k", "\ncont")])]))]
#[case::continuation_swallows_indented_header(b"[a]\nk=v\n  [b]\n  x = 1\n", ini(&[("a", &[("k", "v\n[b]\nx = 1")])]))]
#[case::continuation_relative_to_option_indent(b"[a]\n  k = v\nj = w\n   c\n", ini(&[("a", &[("k", "v"), ("j", "w\nc")])]))]
#[case::indent_counted_in_characters(b"[a]\n\xe3\x80\x80k = v\n  c\n", ini(&[("a", &[("k", "v\nc")])]))]
#[case::python_only_whitespace(b"[a]\nk=v\n\x1c\x1dc\n", ini(&[("a", &[("k", "v\nc")])]))]
#[case::crlf_continuation(b"[a]\nk=v\r\n\r\n  c\r\n", ini(&[("a", &[("k", "v\n\nc")])]))]
#[case::section_without_hf_token(b"[a]\nfoo = bar\n", ini(&[("a", &[("foo", "bar")])]))]
#[case::file_order_kept(b"[b]\n[a]\n", ini(&[("b", &[]), ("a", &[])]))]
fn parse_matches_configparser(#[case] input: &[u8], #[case] expected: IniFile) {
    assert_eq!(parse(input), Ok(expected));
}

// --- Reader errors (checklist 19) ---

#[rstest]
#[case::text_before_header(b"x\n[a]\n", ParseError::MissingSectionHeader { line: 1 })]
#[case::option_before_header(b"# c\n\nk = v\n[a]\n", ParseError::MissingSectionHeader { line: 3 })]
#[case::bom(b"\xef\xbb\xbf[a]\nhf_token = x\n", ParseError::MissingSectionHeader { line: 1 })]
#[case::empty_brackets_first(b"[]\n", ParseError::MissingSectionHeader { line: 1 })]
#[case::empty_brackets_later(b"[a]\n[]\n", ParseError::Parsing { line: 2 })]
#[case::key_without_delimiter(b"[a]\nk\n", ParseError::Parsing { line: 2 })]
#[case::empty_key(b"[a]\n= v\n", ParseError::Parsing { line: 2 })]
#[case::same_indent_is_not_continuation(b"[a]\n  k = v\n  c\n", ParseError::Parsing { line: 3 })]
#[case::header_closes_value(b"[a]\nk = v\n[b]\n  c\n", ParseError::Parsing { line: 4 })]
#[case::first_deferred_error_wins(b"[a]\nx\ny\n", ParseError::Parsing { line: 2 })]
#[case::duplicate_section(b"[a]\nk = v\n[b]\n[a]\n", ParseError::DuplicateSection { line: 4, name: "a".into() })]
#[case::fatal_beats_deferred(b"[a]\nbad\n[a]\n", ParseError::DuplicateSection { line: 3, name: "a".into() })]
#[case::duplicate_key_after_lowercasing(
    b"[a]\nK=1\nk=2\n",
    ParseError::DuplicateOption { line: 3, section: "a".into(), key: "k".into() }
)]
#[case::duplicate_key_across_default_blocks(
    b"[DEFAULT]\nk=1\n[DEFAULT]\nk=2\n[a]\n",
    ParseError::DuplicateOption { line: 4, section: "DEFAULT".into(), key: "k".into() }
)]
#[case::duplicate_empty_key(b"[a]\n=v\n=w\n", ParseError::DuplicateOption { line: 3, section: "a".into(), key: "".into() })]
#[case::invalid_utf8(b"[a]\nk=\xff\n", ParseError::InvalidUtf8 { line: 2, offset: 6 })]
#[case::invalid_utf8_after_cr(b"[a]\rk=v\r\n\x85", ParseError::InvalidUtf8 { line: 3, offset: 9 })]
#[case::value_with_cr_injects_a_line(b"[n]\nhf_token = a\rb\n", ParseError::Parsing { line: 3 })]
fn parse_errors_match_configparser(#[case] input: &[u8], #[case] expected: ParseError) {
    assert_eq!(parse(input), Err(expected));
}

#[rstest]
#[case(ParseError::MissingSectionHeader { line: 1 }, "File contains no section headers. line 1")]
#[case(ParseError::Parsing { line: 2 }, "Source contains parsing errors: [line  2]")]
#[case(ParseError::DuplicateSection { line: 4, name: "a".into() }, "While reading [line  4]: section 'a' already exists")]
#[case(
    ParseError::DuplicateOption { line: 12, section: "DEFAULT".into(), key: "k".into() },
    "While reading [line 12]: option 'k' in section 'DEFAULT' already exists"
)]
#[case(ParseError::InvalidUtf8 { line: 2, offset: 6 }, "'utf-8' codec can't decode byte at position 6 (line 2): invalid UTF-8")]
fn parse_error_messages(#[case] error: ParseError, #[case] expected: &str) {
    assert_eq!(error.to_string(), expected);
}

#[test]
fn parse_errors_never_quote_values() {
    for input in [&b"hf_SECRET\n[a]\n"[..], b"[a]\nhf_SECRET\n", b"[a]\nk = hf_SECRET\xff\n"] {
        let message = parse(input).map(|_| ()).expect_err("rejected").to_string();
        assert!(!message.contains("SECRET"), "{message}");
    }
}

// --- Names and values (checklist 20, 21) ---

const ACCEPTED_NAMES: [&str; 14] = [
    "work-token",
    "with space",
    "a=b",
    "a:b",
    "we[ir]d",
    "a]",
    "[x]",
    "pct%name",
    "UPPER",
    "🤗 laptop",
    "default",
    "  lead-trail  ",
    "#x",
    "; [] = :",
];

#[rstest]
fn accepted_names(#[values(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)] index: usize) {
    assert_eq!(validate_name(ACCEPTED_NAMES[index]), Ok(()));
}

#[rstest]
#[case::empty("", NameError::Empty, "token name must not be empty")]
#[case::reserved("DEFAULT", NameError::Reserved, "token name 'DEFAULT' is reserved by the INI format")]
#[case::newline(
    "line1\nline2",
    NameError::ControlChar { ch: '\n' },
    "token name must not contain control characters (CR, LF, tab, NUL, ...): found U+000A"
)]
#[case::carriage_return("a\rb", NameError::ControlChar { ch: '\r' }, "token name must not contain control characters (CR, LF, tab, NUL, ...): found U+000D")]
#[case::nul("nul\0", NameError::ControlChar { ch: '\0' }, "token name must not contain control characters (CR, LF, tab, NUL, ...): found U+0000")]
#[case::tab("a\tb", NameError::ControlChar { ch: '\t' }, "token name must not contain control characters (CR, LF, tab, NUL, ...): found U+0009")]
#[case::del("a\x7f", NameError::ControlChar { ch: '\x7f' }, "token name must not contain control characters (CR, LF, tab, NUL, ...): found U+007F")]
#[case::nel("a\u{85}b", NameError::ControlChar { ch: '\u{85}' }, "token name must not contain control characters (CR, LF, tab, NUL, ...): found U+0085")]
fn rejected_names(#[case] name: &str, #[case] error: NameError, #[case] message: &str) {
    assert_eq!(validate_name(name), Err(error.clone()));
    assert_eq!(error.to_string(), message);
}

#[rstest]
#[case("hf_x", true)]
#[case("", true)]
#[case("hf_multi\nline", true)]
#[case("a\rk = v", false)]
#[case("a\r\n", false)]
fn values(#[case] value: &str, #[case] accepted: bool) {
    assert_eq!(validate_value(value).is_ok(), accepted);
}

/// Values already in configparser's normal form: they read back unchanged.
const NORMAL_VALUES: [&str; 10] =
    ["hf_valid_AAAA", "", "hf_%(x)s%", "a ;b #c", "hf_multi\nline", "a\n\nb", "\nx", "v = w", "[x]", "🤗\0"];

#[test]
fn accepted_names_and_normal_values_round_trip() {
    for name in ACCEPTED_NAMES {
        for value in NORMAL_VALUES {
            assert_eq!((validate_name(name), validate_value(value)), (Ok(()), Ok(())));
            let mut section = Section::new(name);
            section.set("hf_token", value);
            section.set("refresh_token", value);
            let file = IniFile { sections: vec![section, one("zz-other", "hf_o").sections.remove(0)] };
            assert_eq!(parse(render(&file).as_bytes()), Ok(sorted(file)), "name {name:?} value {value:?}");
        }
    }
}

/// Valid but not normal values come back the way huggingface_hub would read them.
#[rstest]
#[case::padded("  hf_padded_value  ", "hf_padded_value")]
#[case::trailing_newline("x\n", "x")]
#[case::continuation_lines_stripped("a\n  b  \n \n c", "a\nb\n\nc")]
#[case::comment_like_continuation_dropped("a\n#c\n;d", "a")]
fn values_normalized_on_read(#[case] written: &str, #[case] read: &str) {
    let rendered = render(&one("n", written));
    assert_eq!(parse(rendered.as_bytes()), Ok(one("n", read)));
}

#[rstest]
#[case::foreign(&b"# my comment\n[b]\nHF_TOKEN: hf_b\nfoo = bar\n[a]\nhf_token=hf_a\n"[..])]
#[case::defaults(b"[DEFAULT]\nx = 1\nhf_token = d\n[b]\nz = 3\nhf_token = b\n[a]\n")]
#[case::messy(b"\r\n; c\r\n  [ z ]  \r\nK :  v ; not a comment \r\n\tmore\r\n\r\n[a]]\nk =\n\n  x\n\n")]
#[case::empty(b"")]
fn normalization_is_idempotent(#[case] input: &[u8]) {
    let first = parse(input).expect("parses");
    let rendered = render(&first);
    let second = parse(rendered.as_bytes()).expect("re-parses");
    assert_eq!(second, sorted(first), "same content, in written order");
    assert_eq!(render(&second), rendered);
}
