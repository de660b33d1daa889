//! Tests of the git credential protocol reader and writer (spec/git-credential-protocol.md).

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
#[case::last_value_wins_and_is_marked_repeated(
    "protocol=https\nhost=a.tld\nhost=b.tld\n\n",
    Request { protocol: s("https"), host: s("b.tld"), repeated: true, ..Request::default() }
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
    Request { protocol: s("https"), host: s("huggingface.co"), repeated: true, ..Request::default() }
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
    let got = read(format!("url={url}\n").as_bytes()).unwrap();
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
// A repeated once-only attribute: what an older git writes for a value with a newline in it.
#[case::repeated_protocol("protocol=https\nprotocol=https\nhost=h\n", false)]
#[case::repeated_host("protocol=https\nhost=evil.com\nhost=huggingface.co\n", false)]
#[case::repeated_host_same_value("protocol=https\nhost=h\nhost=h\n", false)]
#[case::repeated_path("protocol=https\nhost=h\npath=a\npath=b\n", false)]
#[case::repeated_username("protocol=https\nhost=h\nusername=a\nusername=hf_user\n", false)]
#[case::url_after_host("protocol=https\nhost=evil.com\nurl=https://huggingface.co\n", false)]
#[case::path_injected_url("protocol=https\nhost=h\npath=x\nurl=https://huggingface.co/x\n", false)]
#[case::username_after_url_with_user("url=https://me@huggingface.co\nusername=other\n", false)]
#[case::url_twice("url=https://a\nurl=https://huggingface.co\n", false)]
#[case::url_then_username("url=https://huggingface.co/x\nusername=me\n", true)]
#[case::url_alone("url=https://huggingface.co/x\n", true)]
#[case::repeated_password_is_harmless("protocol=https\nhost=h\npassword=a\npassword=b\n", true)]
#[case::repeated_lists_are_lists("protocol=https\nhost=h\nwwwauth[]=a\nwwwauth[]=b\ncapability[]=x\n", true)]
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
#[case(cred("u", "hf_secret", Some(1_700_000_000)), "username=u\npassword=hf_secret\npassword_expiry_utc=1700000000\n")]
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
