//! git's credential stream reaches `git-credential-hf` from git, which takes it from URLs and
//! server headers an attacker controls. The reader must never panic on any bytes, and a request
//! it deems answerable must have a protocol and a host and no CR, LF or NUL in any value (the
//! injection advisories, CVE-2020-5260 and CVE-2024-52006). What we would answer with its
//! username and password reads back as exactly those two values.
#![no_main]

use hf_auth::git_credential::protocol::{self, Credential};
use libfuzzer_sys::fuzz_target;

fn clean(v: &str) -> bool {
    !v.contains(['\r', '\n', '\0'])
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = protocol::read_request(data) else { return };
    if !request.is_answerable() {
        return;
    }
    let singles = [&request.protocol, &request.host, &request.path, &request.username, &request.password];
    for value in singles.into_iter().flatten().chain(&request.capabilities).chain(&request.wwwauth) {
        assert!(clean(value), "an answerable request carries CR, LF or NUL: {request:?}");
    }
    assert!(request.protocol.as_deref().is_some_and(|p| !p.is_empty()), "answerable without a protocol");
    assert!(request.host.as_deref().is_some_and(|h| !h.is_empty()), "answerable without a host");
    // Echo the request's username and password back as an answer: git must read the same two values.
    let credential = Credential {
        username: request.username.clone().unwrap_or_default(),
        password: request.password.clone().unwrap_or_default(),
        password_expiry_utc: None,
    };
    let mut out = Vec::new();
    protocol::write_credential(&mut out, &credential).expect("clean values are written");
    let back = protocol::read_request(out.as_slice()).expect("our answer reads back");
    assert_eq!(back.username.as_deref(), Some(credential.username.as_str()));
    assert_eq!(back.password.as_deref(), Some(credential.password.as_str()));
});
