//! Every unary RPC against a real daemon and a fake Hub: the outcomes and the file bytes.

use hf_auth_proto::{EnvVar, pb};
use hf_auth_tests::fake_hub::{Account, FakeHub, Mode};
use hf_auth_tests::harness::{TestDaemon, TestHome};
use tonic::Code;

const WORK: &str = "hf_valid_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const READ: &str = "hf_read_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

async fn setup() -> (FakeHub, TestDaemon, TestHome) {
    let hub = FakeHub::start().await;
    hub.add_token(WORK, Account::user("alice").with_orgs(["acme"]).with_token_name("work-token", "write"));
    hub.add_token(READ, Account::user("alice").with_token_name("read-token", "read"));
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    (hub, daemon, home)
}

async fn login(daemon: &TestDaemon, home: &TestHome, token: &str) -> Result<pb::LoginResponse, tonic::Status> {
    let mut c = daemon.client().await;
    c.login(pb::LoginRequest { context: home.context(), token: token.into() }).await.map(|r| r.into_inner())
}

#[tokio::test]
async fn login_writes_python_bytes_and_activates() {
    let (hub, daemon, home) = setup().await;
    let r = login(&daemon, &home, WORK).await.unwrap();
    assert_eq!(r.token_name, "work-token");
    assert_eq!(r.role, "write");
    assert_eq!(r.username, "alice");
    assert!(r.shadowed_by_env.is_empty());
    // Checklist 11, 12, 22.
    assert_eq!(home.token_file().unwrap(), WORK.as_bytes());
    // Python's bytes, plus the record of the endpoint that validated it (not the default one).
    let rec = format!("hf_auth_endpoint = {}\n", hub.endpoint());
    assert_eq!(home.stored_file().unwrap(), format!("[work-token]\nhf_token = {WORK}\n{rec}\n").as_bytes());
    // Checklist 30: the Hub saw a bearer token and our user agent.
    assert_eq!(hub.last_header("/api/whoami-v2", "authorization").unwrap(), format!("Bearer {WORK}"));
    assert!(hub.last_header("/api/whoami-v2", "user-agent").unwrap().starts_with("hf-auth/"));
    // Checklist 29: a second login keeps the first section and switches.
    login(&daemon, &home, READ).await.unwrap();
    assert_eq!(home.token_file().unwrap(), READ.as_bytes());
    assert_eq!(
        home.stored_file().unwrap(),
        format!("[read-token]\nhf_token = {READ}\n{rec}\n[work-token]\nhf_token = {WORK}\n{rec}\n").as_bytes()
    );
}

#[tokio::test]
async fn login_rejections_touch_nothing() {
    let (hub, daemon, home) = setup().await;
    // Checklist 25: org tokens before any request.
    let e = login(&daemon, &home, "api_org_xxx").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "You must use your personal account token, not an organization token.");
    assert_eq!(hub.requests("/api/whoami-v2"), 0);
    // Checklist 26: 401.
    let e = login(&daemon, &home, "hf_unknown").await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(e.message(), "Invalid user token.");
    // Whitespace is refused with a clear message rather than sent.
    let e = login(&daemon, &home, " hf_x ").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // Checklist 27: 429, 500, offline.
    hub.set_whoami_mode(Mode::Status(429));
    let e = login(&daemon, &home, WORK).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    hub.set_whoami_mode(Mode::Status(500));
    let e = login(&daemon, &home, WORK).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert!(e.message().starts_with("Server error '500 Internal Server Error'"), "{}", e.message());
    hub.set_whoami_mode(Mode::Normal);
    let before = hub.requests("/api/whoami-v2");
    let mut c = daemon.client().await;
    let e = c.login(pb::LoginRequest { context: home.offline_context(), token: WORK.into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert!(e.message().contains("offline mode is enabled"), "{}", e.message());
    assert_eq!(hub.requests("/api/whoami-v2"), before, "offline sends nothing");
    assert!(home.token_file().is_none() && home.stored_file().is_none());
}

#[tokio::test]
async fn oauth_style_account_is_named_after_the_user() {
    let (hub, daemon, home) = setup().await;
    hub.add_token("hf_oauth_token_1234", Account::user("bob").oauth());
    let r = login(&daemon, &home, "hf_oauth_token_1234").await.unwrap();
    assert_eq!(r.token_name, "oauth-bob");
    assert_eq!(r.role, "");
}

#[tokio::test]
async fn env_token_shadows_and_is_reported() {
    let (_hub, daemon, home) = setup().await;
    let mut c = daemon.client().await;
    let r = c
        .login(pb::LoginRequest { context: home.context_with_env("hf_env", EnvVar::HfToken), token: WORK.into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.shadowed_by_env, "HF_TOKEN");
    let resolved = c
        .resolve(pb::ResolveRequest {
            context: home.context_with_env("hf_env", EnvVar::HfToken),
            username: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.token, "hf_env");
    assert_eq!(resolved.source, pb::TokenSource::EnvHfToken as i32);
}

#[tokio::test]
async fn list_switch_logout_follow_python() {
    let (_hub, daemon, home) = setup().await;
    login(&daemon, &home, WORK).await.unwrap();
    login(&daemon, &home, READ).await.unwrap();
    let mut c = daemon.client().await;
    let list = c.list(pb::ListRequest { context: home.context() }).await.unwrap().into_inner();
    let rows: Vec<(String, String, bool)> =
        list.tokens.iter().map(|t| (t.name.clone(), t.masked.clone(), t.active)).collect();
    assert_eq!(
        rows,
        vec![("read-token".into(), "hf_****BBBB".into(), true), ("work-token".into(), "hf_****AAAA".into(), false)]
    );

    // Switch (checklist 49): token file only; stored_tokens untouched.
    let stored_before = home.stored_file().unwrap();
    let r = c
        .switch(pb::SwitchRequest { context: home.context(), token_name: "work-token".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(r.overridden_by_env.is_empty());
    assert_eq!(home.token_file().unwrap(), WORK.as_bytes());
    assert_eq!(home.stored_file().unwrap(), stored_before);
    // Checklist 50.
    let e = c.switch(pb::SwitchRequest { context: home.context(), token_name: "nope".into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), format!("Access token nope not found in {}", home.ctx.paths.stored_tokens.display()));
    // Checklist 51.
    let r = c
        .switch(pb::SwitchRequest {
            context: home.context_with_env("hf_other", EnvVar::HfToken),
            token_name: "read-token".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.overridden_by_env, "HF_TOKEN");

    // Logout of the non-active name (checklist 42): token file untouched.
    let r = c
        .logout(pb::LogoutRequest { context: home.context(), token_name: Some("work-token".into()) })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.active_deleted && !r.all);
    assert_eq!(home.token_file().unwrap(), READ.as_bytes());
    // Missing name: NOT_FOUND, files untouched (our deliberate difference).
    let e = c.logout(pb::LogoutRequest { context: home.context(), token_name: Some("nope".into()) }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // The active one (checklists 43, 44): token file gone, stored_tokens empty.
    let r = c
        .logout(pb::LogoutRequest { context: home.context(), token_name: Some("read-token".into()) })
        .await
        .unwrap()
        .into_inner();
    assert!(r.active_deleted);
    assert!(home.token_file().is_none());
    assert_eq!(home.stored_file().unwrap(), b"");
    // Checklist 40.
    let r = c.logout(pb::LogoutRequest { context: home.context(), token_name: None }).await.unwrap().into_inner();
    assert!(r.not_logged_in);
}

#[tokio::test]
async fn logout_all_deletes_both_files_and_keeps_the_dir() {
    let (_hub, daemon, home) = setup().await;
    login(&daemon, &home, WORK).await.unwrap();
    let mut c = daemon.client().await;
    // Checklist 46: an empty name means all.
    let r = c
        .logout(pb::LogoutRequest { context: home.context(), token_name: Some(String::new()) })
        .await
        .unwrap()
        .into_inner();
    assert!(r.all);
    assert!(home.token_file().is_none() && home.stored_file().is_none());
    assert!(home.hf_home().is_dir());
    let resolved =
        c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await.unwrap().into_inner();
    assert!(resolved.token.is_empty());
}

#[tokio::test]
async fn corrupt_stored_tokens_is_backed_up_before_a_login_rewrites_it() {
    let (hub, daemon, home) = setup().await;
    let corrupt = b"[a]\nhf_token = hf_a\n[a]\nhf_token = hf_dup\n";
    home.write_stored(corrupt);
    let r = login(&daemon, &home, WORK).await.unwrap();
    assert!(!r.backup_path.is_empty());
    assert_eq!(std::fs::read(&r.backup_path).unwrap(), corrupt);
    let rec = format!("hf_auth_endpoint = {}\n", hub.endpoint());
    assert_eq!(home.stored_file().unwrap(), format!("[work-token]\nhf_token = {WORK}\n{rec}\n").as_bytes());
}

#[tokio::test]
async fn unreadable_token_file_is_a_clear_error_and_the_daemon_keeps_serving() {
    let (_hub, daemon, home) = setup().await;
    home.write_token(b"\xff\xfehf");
    let mut c = daemon.client().await;
    let e = c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("not valid UTF-8"), "{}", e.message());
    // A directory where the token file should be.
    let other = TestHome::new(&home.ctx.endpoint);
    std::fs::create_dir_all(&other.ctx.paths.token).unwrap();
    let e = c.resolve(pb::ResolveRequest { context: other.context(), username: String::new() }).await.unwrap_err();
    assert!(e.message().contains("is a directory"), "{}", e.message());
    let st = c.status(pb::StatusRequest { context: None }).await.unwrap().into_inner();
    assert_eq!(st.protocol, hf_auth_proto::PROTOCOL_VERSION);
}

#[tokio::test]
async fn bad_context_is_invalid_argument() {
    let (_hub, daemon, _home) = setup().await;
    let mut c = daemon.client().await;
    let e = c.resolve(pb::ResolveRequest { context: None, username: String::new() }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let mut ctx = TestHome::new("http://x").ctx.to_pb();
    ctx.token_path = "relative/token".into();
    let e = c.resolve(pb::ResolveRequest { context: Some(ctx), username: String::new() }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn status_reports_homes_and_the_active_source() {
    let (_hub, daemon, home) = setup().await;
    login(&daemon, &home, WORK).await.unwrap();
    let mut c = daemon.client().await;
    let st = c.status(pb::StatusRequest { context: home.context() }).await.unwrap().into_inner();
    assert_eq!(st.pid, std::process::id());
    assert_eq!(st.homes.len(), 1);
    assert_eq!(st.homes[0].stored_tokens, 1);
    assert_eq!(st.active_source, pb::TokenSource::File as i32);
    assert_eq!(st.active_name, "work-token");
    assert!(st.requests_served >= 2);
}

#[tokio::test]
async fn shutdown_rpc_stops_gracefully_and_removes_the_socket() {
    let (_hub, daemon, _home) = setup().await;
    let socket = daemon.socket.clone();
    let mut c = daemon.client().await;
    c.shutdown(pb::ShutdownRequest {}).await.unwrap();
    daemon.stop().await.unwrap();
    assert!(!socket.exists());
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    let (_hub, daemon, _home) = setup().await;
    let channel = tonic::transport::Endpoint::from_static("http://x")
        .connect_with_connector(tower::service_fn({
            let socket = daemon.socket.clone();
            move |_| {
                let socket = socket.clone();
                async move { tokio::net::UnixStream::connect(socket).await.map(hyper_util::rt::TokioIo::new) }
            }
        }))
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let r = health
        .check(tonic_health::pb::HealthCheckRequest { service: "hfauth.v1.HfAuth".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
}

#[tokio::test]
async fn temp_files_left_by_a_crash_are_swept_when_the_home_opens() {
    let (_hub, daemon, home) = setup().await;
    home.write_token(WORK.as_bytes());
    let leftover = home.hf_home().join(".hf-auth-tmp-stored_tokens.4242.0000beef0");
    std::fs::write(&leftover, "half a write").unwrap();
    let mut c = daemon.client().await;
    let r = c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await.unwrap();
    assert_eq!(r.into_inner().token, WORK);
    assert!(!leftover.exists());
    assert_eq!(home.token_file().unwrap(), WORK.as_bytes());
}

#[tokio::test]
async fn read_only_requests_create_nothing() {
    let (_hub, daemon, home) = setup().await;
    let mut c = daemon.client().await;
    c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await.unwrap();
    c.list(pb::ListRequest { context: home.context() }).await.unwrap();
    let r = c.logout(pb::LogoutRequest { context: home.context(), token_name: None }).await.unwrap().into_inner();
    assert!(r.not_logged_in);
    // Checklist 10: no HF home appears for read-only commands.
    assert!(!home.hf_home().exists());
}
