//! The whoami cache: one Hub request for many calls, stale answers when the Hub fails, short
//! memory for 401s, nothing sent offline.

use hf_auth_proto::pb;
use hf_auth_tests::fake_hub::{Account, FakeHub, Mode};
use hf_auth_tests::harness::{TestDaemon, TestHome};
use hf_authd::config::Config;
use tonic::Code;

const TOKEN: &str = "hf_valid_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const PATH: &str = "/api/whoami-v2";

async fn whoami(daemon: &TestDaemon, ctx: Option<pb::ClientContext>) -> Result<pb::WhoAmIResponse, tonic::Status> {
    let mut c = daemon.client().await;
    c.who_am_i(pb::WhoAmIRequest { context: ctx, token: String::new(), fresh: false }).await.map(|r| r.into_inner())
}

#[tokio::test]
async fn a_thousand_calls_make_one_hub_request() {
    let hub = FakeHub::start().await;
    hub.add_token(TOKEN, Account::user("alice").with_orgs(["acme", "beta-lab"]).with_token_name("work", "write"));
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    home.write_token(TOKEN.as_bytes());
    let client = daemon.client().await;
    let mut calls = Vec::new();
    for _ in 0..1000 {
        let mut c = client.clone();
        let ctx = home.context();
        calls.push(tokio::spawn(async move {
            c.who_am_i(pb::WhoAmIRequest { context: ctx, token: String::new(), fresh: false })
                .await
                .map(|r| r.into_inner())
        }));
    }
    for call in calls {
        let r = call.await.unwrap().unwrap();
        assert_eq!(r.name, "alice");
        assert_eq!(r.orgs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["acme", "beta-lab"]);
    }
    assert_eq!(hub.requests(PATH), 1);
}

#[tokio::test]
async fn stale_answers_when_the_hub_fails_and_fresh_ones_after_expiry() {
    let hub = FakeHub::start().await;
    hub.add_token(TOKEN, Account::user("alice"));
    let daemon = TestDaemon::start_with(Config { whoami_ttl_secs: 0, ..Config::default() }).await;
    let home = TestHome::new(&hub.endpoint());
    home.write_token(TOKEN.as_bytes());
    let r = whoami(&daemon, home.context()).await.unwrap();
    assert!(!r.cached && !r.stale);
    for status in [429, 500, 503] {
        hub.set_whoami_mode(Mode::Status(status));
        let r = whoami(&daemon, home.context()).await.unwrap();
        assert!(r.stale, "status {status} should serve stale");
        assert_eq!(r.name, "alice");
    }
    hub.set_whoami_mode(Mode::ResetConnection);
    assert!(whoami(&daemon, home.context()).await.unwrap().stale);
    hub.set_whoami_mode(Mode::Normal);
    let r = whoami(&daemon, home.context()).await.unwrap();
    assert!(!r.stale && !r.cached);
}

#[tokio::test]
async fn unauthorized_is_remembered_briefly_and_worded_by_source() {
    let hub = FakeHub::start().await;
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    home.write_token(b"hf_revoked");
    let e = whoami(&daemon, home.context()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(
        e.message(),
        "Invalid user token. The token stored is invalid. Please run `hf-auth login --force` to set a new token."
    );
    let _ = whoami(&daemon, home.context()).await.unwrap_err();
    assert_eq!(hub.requests(PATH), 1, "a 401 is cached briefly");
    let e = whoami(&daemon, home.context_with_env("hf_env_bad", hf_auth_proto::EnvVar::HfToken)).await.unwrap_err();
    assert!(e.message().contains("The token from HF_TOKEN environment variable is invalid."), "{}", e.message());
}

#[tokio::test]
async fn not_logged_in_and_offline() {
    let hub = FakeHub::start().await;
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    let e = whoami(&daemon, home.context()).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(e.message(), "Not logged in. Run `hf-auth login` first.");
    home.write_token(TOKEN.as_bytes());
    let seen = hf_auth_tests::harness::eventually(std::time::Duration::from_secs(5), || async {
        let mut c = daemon.client().await;
        let r = c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await;
        r.is_ok_and(|r| r.into_inner().token == TOKEN)
    })
    .await;
    assert!(seen.is_some());
    let e = whoami(&daemon, home.offline_context()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert_eq!(
        e.message(),
        format!(
            "Cannot reach {}/api/whoami-v2: offline mode is enabled. To disable it, please unset the `HF_HUB_OFFLINE` environment variable.",
            hub.endpoint()
        )
    );
    assert_eq!(hub.total_requests(), 0);
}

#[tokio::test]
async fn forget_drops_the_cached_answer() {
    let hub = FakeHub::start().await;
    hub.add_token(TOKEN, Account::user("alice"));
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    home.write_token(TOKEN.as_bytes());
    whoami(&daemon, home.context()).await.unwrap();
    assert!(whoami(&daemon, home.context()).await.unwrap().cached);
    let mut c = daemon.client().await;
    let r = c.forget_who_am_i(pb::ForgetWhoAmIRequest { context: home.context(), token: TOKEN.into() }).await.unwrap();
    assert!(r.into_inner().forgotten);
    assert!(!whoami(&daemon, home.context()).await.unwrap().cached);
    assert_eq!(hub.requests(PATH), 2);
}
