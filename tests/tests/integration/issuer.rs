//! Tokens go back only to the endpoint that issued them (issue 12, item 6): two fake Hubs, the
//! "issuer" that logged the user in and a "mirror" another client points `HF_ENDPOINT` at. The
//! refresh token and the stored tokens the multi-account lookup tries never reach the mirror.

use hf_auth_proto::{ClientContext, pb};
use hf_auth_tests::fake_hub::{Account, DeviceResponse, FakeHub, RefreshStep, TOKEN, TokenStep, WHOAMI};
use hf_auth_tests::harness::{TestDaemon, TestHome, eventually};
use hf_auth_tests::procs::World;
use hf_auth_tests::python;
use hf_authd::config::Config;
use std::time::Duration;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The same home as `home`, seen by a client whose `HF_ENDPOINT` is `endpoint`.
fn at(home: &TestHome, endpoint: &str, client_id: &str) -> Option<pb::ClientContext> {
    let ctx =
        ClientContext { endpoint: endpoint.to_owned(), oauth_client_id: client_id.to_owned(), ..home.ctx.clone() };
    Some(ctx.to_pb())
}

fn default_client() -> &'static str {
    hf_auth_proto::context::DEFAULT_OAUTH_CLIENT_ID
}

/// The exact repro: `hf-auth login` (browser flow) at the issuer, then one `HF_ENDPOINT=<mirror>
/// hf-auth list` and a git lookup for the mirror's host before the refresh is due. The refresh
/// goes to the issuer with the issuer's client id; the mirror never sees the refresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_token_goes_only_to_the_issuer() {
    let issuer = FakeHub::start().await;
    let mirror = FakeHub::start().await;
    issuer.set_device_response(DeviceResponse::with_interval(0));
    // Due 5 s after login (the margin is a day): time for the mirror's client to come first.
    issuer.script_device_flow(vec![TokenStep::Success {
        access_token: "hf_oauth_issued".into(),
        refresh_token: Some("rt_issued".into()),
        expires_in: Some(86_400 + 5),
    }]);
    issuer.script_refresh(vec![RefreshStep::Success {
        access_token: "hf_oauth_refreshed".into(),
        refresh_token: None,
        expires_in: 30 * 86_400,
    }]);
    let mut w = World::new(&issuer.endpoint());
    w.set_env("HF_DEVICE_CODE_OAUTH_CLIENT_ID", "issuer-client");
    w.run("hf-auth", &["login"], None).await.ok();
    let stored = w.stored_file().unwrap();
    assert!(stored.contains(&format!("\nhf_auth_endpoint = {}\n", issuer.endpoint())), "{stored}");
    assert!(stored.contains("\nhf_auth_client_id = issuer-client\n"), "{stored}");

    // The same user in another shell, pointed at a mirror with its own client id.
    w.set_env("HF_ENDPOINT", mirror.endpoint());
    w.set_env("HF_DEVICE_CODE_OAUTH_CLIENT_ID", "mirror-client");
    w.run("hf-auth", &["list"], None).await.ok();
    let git = format!("protocol=http\nhost={}\n\n", mirror.addr());
    w.run("git-credential-hf", &["get"], Some(&git)).await;

    let refreshed =
        eventually(Duration::from_secs(20), || async { w.token_file().as_deref() == Some("hf_oauth_refreshed") }).await;
    assert!(
        refreshed.is_some(),
        "not refreshed at the issuer; the mirror got {} token requests",
        mirror.requests(TOKEN)
    );
    assert_eq!(mirror.requests(TOKEN), 0, "the mirror was asked to refresh");
    assert!(!mirror.ever_received("rt_issued"), "the mirror saw the refresh token");
    let form = issuer.last_form(TOKEN).unwrap();
    assert!(form.contains(&("grant_type".into(), "refresh_token".into())), "{form:?}");
    assert!(form.contains(&("refresh_token".into(), "rt_issued".into())), "{form:?}");
    assert!(form.contains(&("client_id".into(), "issuer-client".into())), "{form:?}");
    // The record survives our refresh.
    let stored = w.stored_file().unwrap();
    assert!(stored.contains(&format!("\nhf_auth_endpoint = {}\n", issuer.endpoint())), "{stored}");
    assert!(stored.contains("\nhf_auth_client_id = issuer-client\n"), "{stored}");
}

fn python_section(name: &str, token: &str, rt: &str, in_secs: i64) -> String {
    format!("[{name}]\nhf_token = {token}\nrefresh_token = {rt}\nexpires_at = {}\n\n", now() + in_secs)
}

/// A section with no record (written by Python's `hf auth login`) is refreshed only at the
/// default endpoint, and only once a client of that endpoint uses the home: a mirror's client
/// alone never gets it scheduled. Refreshed, it stays without a record (Python's bytes).
#[tokio::test]
async fn a_section_without_a_record_is_refreshed_only_for_the_default_endpoint() {
    let issuer = FakeHub::start().await;
    let mirror = FakeHub::start().await;
    issuer.add_refresh_token("rt_py", Account::user("alice").oauth());
    mirror.add_refresh_token("rt_py", Account::user("alice").oauth());
    issuer.script_refresh(vec![RefreshStep::Success {
        access_token: "hf_py_new".into(),
        refresh_token: None,
        expires_in: 30 * 86_400,
    }]);
    let home = TestHome::new(&mirror.endpoint());
    home.write_stored(python_section("oauth-alice", "hf_py_old", "rt_py", 600).as_bytes());
    home.write_token(b"hf_py_old");
    // The issuer plays huggingface.co here.
    let config = Config { default_endpoint: issuer.endpoint(), ..Config::default() };
    let daemon = TestDaemon::start_with(config).await;
    let mut c = daemon.client().await;

    let list = c.list(pb::ListRequest { context: at(&home, &mirror.endpoint(), "mirror-client") }).await.unwrap();
    let state = list.into_inner().tokens[0].refresh_state;
    assert_eq!(state, pb::RefreshState::None as i32, "scheduled for a mirror's client");
    let r = c
        .resolve(pb::ResolveRequest {
            context: at(&home, &mirror.endpoint(), "mirror-client"),
            username: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.token, "hf_py_old", "the current token is still served");

    // A client of the default endpoint uses the home: now it is refreshed, there.
    c.list(pb::ListRequest { context: at(&home, &issuer.endpoint(), default_client()) }).await.unwrap();
    let done =
        eventually(Duration::from_secs(10), || async { home.token_file().as_deref() == Some(b"hf_py_new".as_slice()) })
            .await;
    assert!(done.is_some(), "not refreshed at the default endpoint");
    assert_eq!(mirror.requests(TOKEN), 0);
    assert!(!mirror.ever_received("rt_py"));
    let form = issuer.last_form(TOKEN).unwrap();
    assert!(form.contains(&("client_id".into(), default_client().into())), "{form:?}");
    let stored = String::from_utf8(home.stored_file().unwrap()).unwrap();
    assert!(!stored.contains("hf_auth_"), "a section Python made stays as Python writes it: {stored}");
}

/// huggingface_hub's own refresh rewrites the whole section and drops our record. A refresh
/// token the daemon saw recorded keeps its issuer (the same refresh token, the same issuer): the
/// next refresh still goes there, never to the mirror in use, and writes the record back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_python_dropped_is_kept_by_its_refresh_token() {
    let Some(py) = python::python() else { return };
    let issuer = FakeHub::start().await;
    let mirror = FakeHub::start().await;
    issuer.add_refresh_token("rt_kept", Account::user("alice").oauth());
    // Python's refresh: not rotated, and short-lived, so that the daemon's (margin 60 s) is due
    // 2 s after it.
    issuer.script_refresh(vec![
        RefreshStep::Success { access_token: "hf_by_python".into(), refresh_token: None, expires_in: 62 },
        RefreshStep::Success { access_token: "hf_by_daemon".into(), refresh_token: None, expires_in: 30 * 86_400 },
    ]);
    let home = TestHome::new(&issuer.endpoint());
    let record = format!("hf_auth_endpoint = {}\nhf_auth_client_id = issuer-client\n", issuer.endpoint());
    home.write_stored(
        format!("[oauth-alice]\nhf_token = hf_old\nrefresh_token = rt_kept\nexpires_at = {}\n{record}\n", now() + 3600)
            .as_bytes(),
    );
    home.write_token(b"hf_old");
    let config = Config { refresh_margin_secs: 60, ..Config::default() };
    let daemon = TestDaemon::start_with(config).await;
    let mut c = daemon.client().await;
    // The daemon reads the recorded section (and a mirror's client uses the home).
    let list = c.list(pb::ListRequest { context: at(&home, &mirror.endpoint(), "mirror-client") }).await.unwrap();
    assert_eq!(list.into_inner().tokens[0].refresh_state, pb::RefreshState::Scheduled as i32);

    // Python refreshes at the issuer (its margin is a day): the section loses the record.
    let dir = home.hf_home().display().to_string();
    let out = python::run_ok(
        &py,
        "from huggingface_hub import get_token; print(get_token())",
        &[("HF_HOME", &dir), ("HOME", &dir), ("HF_ENDPOINT", &issuer.endpoint())],
    );
    assert_eq!(out.trim(), "hf_by_python");
    assert!(!String::from_utf8(home.stored_file().unwrap()).unwrap().contains("hf_auth_endpoint"));
    c.list(pb::ListRequest { context: at(&home, &mirror.endpoint(), "mirror-client") }).await.unwrap();

    let done = eventually(Duration::from_secs(15), || async {
        home.token_file().as_deref() == Some(b"hf_by_daemon".as_slice())
    })
    .await;
    assert!(
        done.is_some(),
        "the daemon did not refresh at the issuer; mirror token requests: {}",
        mirror.requests(TOKEN)
    );
    assert_eq!(mirror.requests(TOKEN), 0);
    assert!(!mirror.ever_received("rt_kept"));
    assert_eq!(issuer.requests(TOKEN), 2);
    let form = issuer.last_form(TOKEN).unwrap();
    assert!(form.contains(&("client_id".into(), "issuer-client".into())), "{form:?}");
    let stored = String::from_utf8(home.stored_file().unwrap()).unwrap();
    assert!(stored.contains(&record), "the record is written back: {stored}");
}

/// Python reads our keys and keeps them when it rewrites the file for another section.
#[test]
fn python_reads_the_record_and_keeps_it() {
    let Some(py) = python::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let section = "[oauth-alice]\nhf_token = hf_o\nrefresh_token = rt\nexpires_at = 1797921368\nhf_auth_endpoint = https://hub.example:8443\nhf_auth_client_id = 26be6b09-91c5-47da-9861-d2d2bb7a7e36\n\n";
    std::fs::write(dir.path().join("stored_tokens"), section).unwrap();
    let d = dir.path().display().to_string();
    let out = python::run_ok(
        &py,
        r#"
from huggingface_hub.utils._auth import _read_stored_tokens_full, _save_token, get_stored_tokens
full = _read_stored_tokens_full()["oauth-alice"]
print(full["hf_auth_endpoint"], full["hf_auth_client_id"], get_stored_tokens()["oauth-alice"])
_save_token("hf_other", "other")
"#,
        &[("HF_HOME", &d), ("HOME", &d)],
    );
    assert_eq!(out.trim(), "https://hub.example:8443 26be6b09-91c5-47da-9861-d2d2bb7a7e36 hf_o");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("stored_tokens")).unwrap(),
        format!("{section}[other]\nhf_token = hf_other\n\n")
    );
}

const A: &str = "hf_alice_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const B: &str = "hf_bob_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const C: &str = "hf_carol_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";
const D: &str = "hf_dave_DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD";

/// git asks the mirror's host for `username=<someone>`: the daemon may try the stored tokens to
/// find that account's, but asks the mirror only about tokens the mirror issued. Tokens logged in
/// at the issuer, and a section without a record (taken to be the default endpoint's), never
/// reach the mirror's whoami.
#[tokio::test]
async fn the_owner_lookup_asks_an_endpoint_only_about_its_own_tokens() {
    let issuer = FakeHub::start().await;
    let mirror = FakeHub::start().await;
    issuer.add_token(A, Account::user("alice").with_token_name("alice-token", "write"));
    issuer.add_token(B, Account::user("bob").with_token_name("bob-token", "write"));
    mirror.add_token(C, Account::user("carol").with_token_name("carol-token", "write"));
    // A mirror that would answer for them, were it asked.
    mirror.add_token(A, Account::user("alice").with_token_name("alice-token", "write"));
    mirror.add_token(D, Account::user("dave").with_token_name("dave-token", "write"));
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&issuer.endpoint());
    let mut c = daemon.client().await;
    for token in [A, B] {
        c.login(pb::LoginRequest { context: home.context(), token: token.into() }).await.unwrap();
    }
    let stored = String::from_utf8(home.stored_file().unwrap()).unwrap();
    assert!(stored.contains(&format!("hf_auth_endpoint = {}\n", issuer.endpoint())), "{stored}");
    // A token Python logged in: no record.
    let mut text = stored.clone();
    text.push_str(&format!("[zz-dave]\nhf_token = {D}\n\n"));
    home.write_stored(text.as_bytes());
    let mirror_ctx = || at(&home, &mirror.endpoint(), default_client());
    c.login(pb::LoginRequest { context: mirror_ctx(), token: C.into() }).await.unwrap();

    let ask = |user: &str| pb::ResolveRequest { context: mirror_ctx(), username: user.into() };
    // No alice token from the mirror: the active one is the answer, and the others stayed home.
    let r = c.resolve(ask("alice")).await.unwrap().into_inner();
    assert_eq!(r.token, C);
    for (who, token) in [("alice", A), ("bob", B), ("dave", D)] {
        assert!(!mirror.received(WHOAMI, token), "{who}'s token was sent to the mirror");
    }
    // The mirror's own token is found for its owner even when it is not active.
    c.switch(pb::SwitchRequest { context: home.context(), token_name: "bob-token".into() }).await.unwrap();
    let r = c.resolve(ask("carol")).await.unwrap().into_inner();
    assert_eq!((r.token.as_str(), r.username.as_str()), (C, "carol"));
    // At the issuer, its own tokens are looked up as before.
    let r =
        c.resolve(pb::ResolveRequest { context: home.context(), username: "alice".into() }).await.unwrap().into_inner();
    assert_eq!((r.token.as_str(), r.username.as_str()), (A, "alice"));
    assert!(!issuer.received(WHOAMI, C), "carol's token was sent to the issuer");
    for token in [A, B, D] {
        assert!(!mirror.received(WHOAMI, token));
    }
}
