//! Browser login (device code) and proactive refresh against the fake Hub, and the refresh race
//! with the real huggingface_hub.

use hf_auth_proto::{HomePaths, pb};
use hf_auth_tests::fake_hub::{Account, DeviceResponse, FakeHub, Mode, RefreshStep, TOKEN, TokenStep};
use hf_auth_tests::harness::{TestDaemon, TestHome, eventually};
use hf_auth_tests::procs::World;
use hf_auth_tests::python;
use hf_authd::config::Config;
use std::time::Duration;
use tokio_stream::StreamExt;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn device_events(
    daemon: &TestDaemon,
    home: &TestHome,
) -> (Vec<pb::device_login_event::Event>, Option<tonic::Status>) {
    let mut c = daemon.client().await;
    let mut stream = c.device_login(pb::DeviceLoginRequest { context: home.context() }).await.unwrap().into_inner();
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(e) => events.extend(e.event),
            Err(status) => return (events, Some(status)),
        }
    }
    (events, None)
}

#[tokio::test]
async fn device_login_stores_refresh_metadata_and_activates() {
    let hub = FakeHub::start().await;
    hub.set_device_response(DeviceResponse::with_interval(0));
    hub.script_device_flow(vec![
        TokenStep::Pending,
        TokenStep::ServerError,
        TokenStep::NotJson,
        TokenStep::Pending,
        TokenStep::Success {
            access_token: "hf_oauth_NEW_5678".into(),
            refresh_token: Some("rt_initial".into()),
            expires_in: Some(2_592_000),
        },
    ]);
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    let before = now();
    let (events, error) = device_events(&daemon, &home).await;
    assert!(error.is_none(), "{error:?}");
    use pb::device_login_event::Event;
    let Event::Code(code) = &events[0] else { panic!("first event is the code: {events:?}") };
    assert_eq!(code.user_code, "ABCD-EFGH");
    assert!(code.verification_uri_complete.ends_with("user_code=ABCD-EFGH"));
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Pending(_))).count(), 2);
    let Some(Event::Success(ok)) = events.last() else { panic!("last event is success: {events:?}") };
    assert_eq!(ok.token_name, "oauth-alice");
    assert!(ok.will_refresh);
    // Checklist 31: the section, in Python's key order, expires_at = now + expires_in.
    let stored = String::from_utf8(home.stored_file().unwrap()).unwrap();
    let expires: i64 = stored.lines().find_map(|l| l.strip_prefix("expires_at = ")).unwrap().parse().unwrap();
    assert!((before + 2_592_000..=now() + 2_592_000).contains(&expires));
    // Python's keys, then the record of who issued it: the endpoint and the OAuth client id.
    let client = hf_auth_proto::context::DEFAULT_OAUTH_CLIENT_ID;
    assert_eq!(
        stored,
        format!(
            "[oauth-alice]\nhf_token = hf_oauth_NEW_5678\nrefresh_token = rt_initial\nexpires_at = {expires}\nhf_auth_endpoint = {}\nhf_auth_client_id = {client}\n\n",
            hub.endpoint()
        )
    );
    assert_eq!(home.token_file().unwrap(), b"hf_oauth_NEW_5678");
    let form = hub.last_form(TOKEN).unwrap();
    assert!(form.contains(&("grant_type".into(), "urn:ietf:params:oauth:grant-type:device_code".into())));
    assert!(form.contains(&("client_id".into(), hf_auth_proto::context::DEFAULT_OAUTH_CLIENT_ID.into())));
}

#[tokio::test]
async fn device_login_failures_use_the_python_wording() {
    let hub = FakeHub::start().await;
    hub.set_device_response(DeviceResponse::with_interval(0));
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    for (step, message) in [
        (TokenStep::Denied, "Authorization was denied. Please try again."),
        (TokenStep::Expired, "Device code expired. Please try again."),
        (TokenStep::OtherError("server_error".into(), "boom".into()), "OAuth error: server_error - boom"),
    ] {
        hub.script_device_flow(vec![TokenStep::Pending, step]);
        let (_, error) = device_events(&daemon, &home).await;
        assert_eq!(error.unwrap().message(), message);
    }
    hub.set_device_response(DeviceResponse::server_error());
    let (_, error) = device_events(&daemon, &home).await;
    let message = error.unwrap().message().to_owned();
    assert!(
        message.starts_with(&format!("Failed to request device code from {}/oauth/device", hub.endpoint())),
        "{message}"
    );
    assert!(home.stored_file().is_none());
}

#[tokio::test]
async fn defaults_apply_when_the_hub_leaves_fields_out() {
    let hub = FakeHub::start().await;
    // interval, expires_in and verification_uri_complete left out: 5 s, 900 s, the plain URI.
    hub.set_device_response(DeviceResponse::minimal());
    hub.script_device_flow(vec![TokenStep::Success {
        access_token: "hf_o".into(),
        refresh_token: None,
        expires_in: None,
    }]);
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    let (events, error) = device_events(&daemon, &home).await;
    assert!(error.is_none(), "{error:?}");
    let pb::device_login_event::Event::Code(code) = &events[0] else { panic!() };
    assert_eq!((code.interval, code.expires_in), (5, 900));
    assert_eq!(code.verification_uri_complete, code.verification_uri);
    // No refresh token: the section has no metadata and the client says it expires.
    assert_eq!(
        String::from_utf8(home.stored_file().unwrap()).unwrap(),
        format!(
            "[oauth-alice]\nhf_token = hf_o\nhf_auth_endpoint = {}\nhf_auth_client_id = {}\n\n",
            hub.endpoint(),
            hf_auth_proto::context::DEFAULT_OAUTH_CLIENT_ID
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hf_auth_login_without_a_terminal_runs_the_browser_flow() {
    let hub = FakeHub::start().await;
    hub.set_device_response(DeviceResponse::with_interval(0));
    hub.script_device_flow(vec![
        TokenStep::Pending,
        TokenStep::Pending,
        TokenStep::Success {
            access_token: "hf_oauth_cli".into(),
            refresh_token: Some("rt".into()),
            expires_in: Some(3600 * 24 * 30),
        },
    ]);
    let w = World::new(&hub.endpoint());
    let r = w.run("hf-auth", &["login"], None).await.ok();
    assert_eq!(
        r.stdout(),
        format!(
            "\n    Open this URL in your browser:\n        {}/oauth/device?user_code=ABCD-EFGH\n\n    And enter the code: ABCD-EFGH\n\n    Waiting for authorization..\n",
            hub.endpoint()
        )
    );
    assert!(r.stderr().contains("Login successful.\nThe current active token is: `oauth-alice`\n"), "{}", r.stderr());
    assert!(r.stderr().contains("Note: This token will be refreshed automatically when it expires."));
    assert_eq!(w.token_file().unwrap(), "hf_oauth_cli");
    let r = w.run("hf-auth", &["list"], None).await.ok();
    assert!(
        r.stderr().contains("Note: `oauth-alice` is refreshed automatically by hf-authd (next: "),
        "{}",
        r.stderr()
    );
}

fn expiring_section(name: &str, token: &str, rt: &str, in_secs: i64) -> String {
    format!("[{name}]\nhf_token = {token}\nrefresh_token = {rt}\nexpires_at = {}\n\n", now() + in_secs)
}

/// These sections carry no record (huggingface_hub wrote them): the fake Hub plays the default
/// endpoint, where such sections are refreshed (see `issuer.rs` for the mirror's side).
fn as_default(hub: &FakeHub) -> Config {
    Config { default_endpoint: hub.endpoint(), ..Config::default() }
}

fn preload(home: &TestHome) -> Vec<(HomePaths, String, String)> {
    vec![(home.ctx.paths.clone(), home.ctx.endpoint.clone(), home.ctx.oauth_client_id.clone())]
}

#[tokio::test]
async fn a_token_expiring_in_an_hour_is_refreshed_without_any_client_call() {
    let hub = FakeHub::start().await;
    hub.add_refresh_token("rt_old", Account::user("alice").oauth());
    hub.script_refresh(vec![RefreshStep::Success {
        access_token: "hf_fresh".into(),
        refresh_token: Some("rt_new".into()),
        expires_in: 28_800,
    }]);
    let home = TestHome::new(&hub.endpoint());
    home.write_stored(
        format!(
            "[a-classic]\nhf_token = hf_classic\n\n{}",
            expiring_section("oauth-alice", "hf_stale", "rt_old", 3600)
        )
        .as_bytes(),
    );
    home.write_token(b"hf_stale");
    let _daemon = TestDaemon::start_full(as_default(&hub), preload(&home)).await;
    let done =
        eventually(Duration::from_secs(10), || async { home.token_file().as_deref() == Some(b"hf_fresh".as_slice()) })
            .await;
    assert!(done.is_some(), "no refresh happened");
    let stored = String::from_utf8(home.stored_file().unwrap()).unwrap();
    let expires: i64 = stored.lines().find_map(|l| l.strip_prefix("expires_at = ")).unwrap().parse().unwrap();
    assert!((expires - now() - 28_800).abs() <= 2);
    assert_eq!(
        stored,
        format!(
            "[a-classic]\nhf_token = hf_classic\n\n[oauth-alice]\nhf_token = hf_fresh\nrefresh_token = rt_new\nexpires_at = {expires}\n\n"
        )
    );
    assert_eq!(hub.requests(TOKEN), 1);
    let form = hub.last_form(TOKEN).unwrap();
    assert!(form.contains(&("grant_type".into(), "refresh_token".into())));
    assert!(form.contains(&("refresh_token".into(), "rt_old".into())));
}

#[tokio::test]
async fn refresh_keeps_the_old_refresh_token_and_an_inactive_token_file() {
    let hub = FakeHub::start().await;
    hub.add_refresh_token("rt_keep", Account::user("alice").oauth());
    hub.script_refresh(vec![RefreshStep::Success {
        access_token: "hf_fresh2".into(),
        refresh_token: None,
        expires_in: 3600 * 48,
    }]);
    let home = TestHome::new(&hub.endpoint());
    home.write_stored(expiring_section("oauth-alice", "hf_stale2", "rt_keep", 60).as_bytes());
    home.write_token(b"hf_something_else");
    let _daemon = TestDaemon::start_full(as_default(&hub), preload(&home)).await;
    let done = eventually(Duration::from_secs(10), || async {
        home.stored_file().is_some_and(|s| String::from_utf8_lossy(&s).contains("hf_fresh2"))
    })
    .await;
    assert!(done.is_some());
    assert!(String::from_utf8(home.stored_file().unwrap()).unwrap().contains("refresh_token = rt_keep\n"));
    assert_eq!(
        home.token_file().unwrap(),
        b"hf_something_else",
        "only the token file holding the old token is rewritten"
    );
}

#[tokio::test]
async fn invalid_grant_stops_and_is_shown_transient_failures_retry() {
    let hub = FakeHub::start().await;
    hub.add_refresh_token("rt_dead", Account::user("alice").oauth());
    hub.add_refresh_token("rt_flaky", Account::user("bob").oauth());
    hub.script_refresh(vec![RefreshStep::InvalidGrant]);
    let home = TestHome::new(&hub.endpoint());
    home.write_stored(expiring_section("oauth-alice", "hf_a_stale", "rt_dead", 100).as_bytes());
    home.write_token(b"hf_a_stale");
    let daemon = TestDaemon::start_full(as_default(&hub), preload(&home)).await;
    let mut c = daemon.client().await;
    let state = |c: &mut hf_auth::connect::Client| {
        let mut c = c.clone();
        let ctx = home.context();
        async move { c.list(pb::ListRequest { context: ctx }).await.unwrap().into_inner().tokens[0].refresh_state }
    };
    let needs_login = eventually(Duration::from_secs(10), || {
        let f = state(&mut c);
        async move { f.await == pb::RefreshState::NeedsLogin as i32 }
    })
    .await;
    assert!(needs_login.is_some());
    // The current token is still served, and the Hub is not asked again.
    let r =
        c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await.unwrap().into_inner();
    assert_eq!(r.token, "hf_a_stale");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hub.requests(TOKEN), 1);

    // A 5xx: retried later, current token served.
    hub.script_refresh(vec![RefreshStep::ServerError]);
    let other = TestHome::new(&hub.endpoint());
    other.write_stored(expiring_section("oauth-bob", "hf_b_stale", "rt_flaky", 100).as_bytes());
    let retrying = eventually(Duration::from_secs(10), || {
        let mut c = c.clone();
        let ctx = other.context();
        async move {
            c.list(pb::ListRequest { context: ctx }).await.unwrap().into_inner().tokens[0].refresh_state
                == pb::RefreshState::Retrying as i32
        }
    })
    .await;
    assert!(retrying.is_some());
}

/// The daemon and several Python processes calling `get_token()` on an expiring token at the
/// same moment make exactly one refresh request, and all end with the same new token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_race_with_python_makes_one_request() {
    let Some(py) = python::python() else { return };
    let hub = FakeHub::start().await;
    hub.add_refresh_token("rt_race", Account::user("alice").oauth());
    // A month-long answer: a second reader must find the new token fresh, not refresh again.
    hub.script_refresh(vec![RefreshStep::Success {
        access_token: "hf_race_new".into(),
        refresh_token: Some("rt_race2".into()),
        expires_in: 30 * 86_400,
    }]);
    // A slow answer: the Python processes arrive while the lock is held for the request.
    hub.set_mode(TOKEN, Mode::Delay(Duration::from_millis(1500)));
    let home = TestHome::new(&hub.endpoint());
    home.write_stored(expiring_section("oauth-alice", "hf_race_old", "rt_race", 600).as_bytes());
    home.write_token(b"hf_race_old");
    let hf_home = home.hf_home().display().to_string();
    let endpoint = hub.endpoint();
    let mut children = Vec::new();
    for _ in 0..4 {
        let mut cmd = std::process::Command::new(&py);
        cmd.args(["-c", "from huggingface_hub import get_token; print(get_token())"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HF_HOME", &hf_home)
            .env("HOME", &hf_home)
            .env("HF_ENDPOINT", &endpoint)
            .env("HF_HUB_DISABLE_UPDATE_CHECK", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        children.push(cmd.spawn().unwrap());
    }
    let daemon = TestDaemon::start_full(as_default(&hub), preload(&home)).await;
    let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let done = eventually(Duration::from_secs(10), || async {
        home.token_file().as_deref() != Some(b"hf_race_old".as_slice())
    })
    .await;
    assert!(done.is_some());
    // Let the daemon settle: it must adopt, not refresh again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hub.requests(TOKEN), 1, "exactly one refresh request");
    let new = String::from_utf8(home.token_file().unwrap()).unwrap();
    for out in outputs {
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), new, "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut c = daemon.client().await;
    let r =
        c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await.unwrap().into_inner();
    assert_eq!(r.token, new);
}

/// Our refresh leaves the same bytes as huggingface_hub's own refresh of the same file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_bytes_match_python() {
    let Some(py) = python::python() else { return };
    let answer = RefreshStep::Success {
        access_token: "hf_same_new".into(),
        refresh_token: Some("rt_same_new".into()),
        expires_in: 28_800,
    };
    let seed =
        format!("[classic]\nhf_token = hf_c\n\n{}", expiring_section("oauth-alice", "hf_same_old", "rt_same", 1800));
    // Python refreshes its copy.
    let py_hub = FakeHub::start().await;
    py_hub.add_refresh_token("rt_same", Account::user("alice").oauth());
    py_hub.script_refresh(vec![answer.clone()]);
    let theirs = TestHome::new(&py_hub.endpoint());
    theirs.write_stored(seed.as_bytes());
    theirs.write_token(b"hf_same_old");
    let dir = theirs.hf_home().display().to_string();
    let out = python::run_ok(
        &py,
        "from huggingface_hub import get_token; print(get_token())",
        &[("HF_HOME", &dir), ("HOME", &dir), ("HF_ENDPOINT", &py_hub.endpoint())],
    );
    assert_eq!(out.trim(), "hf_same_new");
    // We refresh ours.
    let hub = FakeHub::start().await;
    hub.add_refresh_token("rt_same", Account::user("alice").oauth());
    hub.script_refresh(vec![answer]);
    let ours = TestHome::new(&hub.endpoint());
    ours.write_stored(seed.as_bytes());
    ours.write_token(b"hf_same_old");
    let _daemon = TestDaemon::start_full(as_default(&hub), preload(&ours)).await;
    let done = eventually(Duration::from_secs(10), || async {
        ours.token_file().as_deref() == Some(b"hf_same_new".as_slice())
    })
    .await;
    assert!(done.is_some());
    let normalize = |b: Vec<u8>| {
        let s = String::from_utf8(b).unwrap();
        s.lines()
            .map(|l| if l.starts_with("expires_at = ") { "expires_at = <t>" } else { l })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(normalize(ours.stored_file().unwrap()), normalize(theirs.stored_file().unwrap()));
    assert_eq!(ours.token_file(), theirs.token_file());
}

/// Numbers from a hostile or broken endpoint: a device code that "expires" in u64::MAX seconds
/// and a token that lives i64::MAX seconds. The login still completes (the values are clamped),
/// instead of a panic on `Instant + Duration` ending the request with no answer.
#[tokio::test]
async fn a_device_login_with_absurd_numbers_from_the_hub_still_completes() {
    let hub = FakeHub::start().await;
    hub.set_device_response(DeviceResponse { expires_in: Some(u64::MAX), ..DeviceResponse::with_interval(0) });
    hub.script_device_flow(vec![
        TokenStep::Pending,
        TokenStep::Success {
            access_token: "hf_oauth_ABSURD_1234".into(),
            refresh_token: Some("rt_absurd".into()),
            expires_in: Some(i64::MAX),
        },
    ]);
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    let (events, error) = device_events(&daemon, &home).await;
    assert!(error.is_none(), "{error:?}");
    let Some(pb::device_login_event::Event::Success(ok)) = events.last() else { panic!("no success: {events:?}") };
    assert_eq!(ok.token_name, "oauth-alice");
    let stored = String::from_utf8(home.stored_file().unwrap()).unwrap();
    let expires: i64 = stored.lines().find_map(|l| l.strip_prefix("expires_at = ")).unwrap().parse().unwrap();
    assert!(expires > now() && expires < now() + 20 * 365 * 86_400, "a plausible expiry: {expires}");
}

/// A hand-edited (or hostile) `expires_at` at the edge of i64 in one home: the refresher's
/// arithmetic on it overflowed, the panic ended the refresher's task, and no home was refreshed
/// again. Now it saturates: that section is simply due, and another home's token due for a
/// refresh still gets one.
#[tokio::test]
async fn an_absurd_expires_at_in_one_home_stops_no_refresh_of_another() {
    let hub = FakeHub::start().await;
    hub.add_refresh_token("rt_fine", Account::user("alice").oauth());
    hub.script_refresh(vec![RefreshStep::Success {
        access_token: "hf_refreshed".into(),
        refresh_token: Some("rt_next".into()),
        expires_in: 28_800,
    }]);
    let odd = TestHome::new(&hub.endpoint());
    odd.write_stored(
        format!("[odd]\nhf_token = hf_odd\nrefresh_token = rt_odd\nexpires_at = {}\n\n", i64::MIN).as_bytes(),
    );
    let fine = TestHome::new(&hub.endpoint());
    fine.write_stored(expiring_section("oauth-alice", "hf_stale", "rt_fine", 3600).as_bytes());
    fine.write_token(b"hf_stale");
    let mut homes = preload(&odd);
    homes.extend(preload(&fine));
    let _daemon = TestDaemon::start_full(as_default(&hub), homes).await;
    let done = eventually(Duration::from_secs(10), || async {
        fine.token_file().as_deref() == Some(b"hf_refreshed".as_slice())
    })
    .await;
    assert!(done.is_some(), "the other home was not refreshed ({} refresh requests)", hub.requests(TOKEN));
}
