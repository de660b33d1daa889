//! The fake Hub checked against raw HTTP, so the end-to-end tests can trust what it answers.

use super::*;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap()
}

async fn whoami(hub: &FakeHub, token: Option<&str>) -> reqwest::Response {
    let mut request = client().get(format!("{}{WHOAMI}", hub.endpoint()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn post(hub: &FakeHub, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client().post(format!("{}{path}", hub.endpoint())).form(form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn device_code(hub: &FakeHub) -> String {
    let (status, body) = post(hub, DEVICE, &[("client_id", "hf-cli")]).await;
    assert_eq!(status, 200, "{body}");
    body["device_code"].as_str().unwrap().to_owned()
}

async fn poll(hub: &FakeHub, code: &str) -> (u16, Value) {
    post(hub, TOKEN, &[("grant_type", DEVICE_GRANT), ("device_code", code), ("client_id", "hf-cli")]).await
}

async fn refresh(hub: &FakeHub, rt: &str) -> (u16, Value) {
    post(hub, TOKEN, &[("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", "hf-cli")]).await
}

#[tokio::test]
async fn a_known_token_gets_the_accounts_whoami_and_the_request_is_recorded() {
    let hub = FakeHub::start().await;
    hub.add_token(
        "hf_work",
        Account::user("alice").with_orgs(["acme", "beta-lab"]).with_token_name("work-token", "write"),
    );

    let response = whoami(&hub, Some("hf_work")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "user");
    assert_eq!(body["name"], "alice");
    assert_eq!(body["fullname"], "Alice Example");
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(body["orgs"][1]["name"], "beta-lab");
    assert_eq!(body["orgs"][0]["type"], "org");
    assert_eq!(body["orgs"][0]["email"], Value::Null);
    assert_eq!(body["auth"]["type"], "access_token");
    assert_eq!(body["auth"]["accessToken"]["displayName"], "work-token");
    assert_eq!(body["auth"]["accessToken"]["role"], "write");
    assert_eq!(body["id"].as_str().unwrap().len(), 24);

    assert_eq!(hub.requests(WHOAMI), 1);
    assert_eq!(hub.total_requests(), 1);
    assert_eq!(hub.last_header(WHOAMI, "authorization").as_deref(), Some("Bearer hf_work"));
    assert!(hub.last_headers(WHOAMI).unwrap().contains_key("host"));
    assert_eq!(hub.last_form(WHOAMI), None);
    hub.shutdown().await;
}

#[tokio::test]
async fn fine_grained_and_oauth_tokens_have_their_own_auth_shapes() {
    let hub = FakeHub::start().await;
    hub.add_token("hf_fg", Account::user("bob").with_token_name("ci", "fineGrained"));
    hub.add_token("hf_oauth_x", Account::user("carol").oauth());

    let fine: Value = whoami(&hub, Some("hf_fg")).await.json().await.unwrap();
    assert_eq!(fine["auth"]["accessToken"]["role"], "fineGrained");
    assert_eq!(fine["auth"]["accessToken"]["fineGrained"]["scoped"][0]["entity"]["name"], "bob");

    let oauth: Value = whoami(&hub, Some("hf_oauth_x")).await.json().await.unwrap();
    assert_eq!(oauth["auth"]["type"], "oauth");
    assert!(oauth["auth"].get("accessToken").is_none());
    assert!(oauth["auth"]["expiresAt"].as_str().unwrap().ends_with(".000Z"));
    hub.shutdown().await;
}

#[tokio::test]
async fn unknown_or_missing_tokens_get_the_hubs_401() {
    let hub = FakeHub::start().await;
    hub.add_token("hf_good", Account::user("alice"));
    for token in [Some("hf_bad"), None] {
        let response = whoami(&hub, token).await;
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["x-error-message"], INVALID_CREDENTIALS);
        assert_eq!(response.text().await.unwrap(), r#"{"error":"Invalid credentials in Authorization header"}"#);
    }
    hub.remove_token("hf_good");
    assert_eq!(whoami(&hub, Some("hf_good")).await.status(), 401);
    assert_eq!(hub.requests(WHOAMI), 3);
    hub.shutdown().await;
}

#[tokio::test]
async fn status_mode_answers_the_hubs_error_until_set_back() {
    let hub = FakeHub::start().await;
    hub.add_token("hf_good", Account::user("alice"));
    hub.set_whoami_mode(Mode::Status(429));
    let response = whoami(&hub, Some("hf_good")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["x-request-id"], "Root=1-429");
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().starts_with("You have been rate-limited"));

    hub.set_whoami_mode(Mode::Status(500));
    let response = whoami(&hub, Some("hf_good")).await;
    assert_eq!(response.status(), 500);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "Internal Error");

    hub.set_whoami_mode(Mode::Normal);
    assert_eq!(whoami(&hub, Some("hf_good")).await.status(), 200);
    assert_eq!(hub.requests(WHOAMI), 3);
    hub.shutdown().await;
}

#[tokio::test]
async fn reset_mode_drops_the_connection_without_a_byte() {
    let hub = FakeHub::start().await;
    hub.set_whoami_mode(Mode::ResetConnection);
    let mut stream = tokio::net::TcpStream::connect(hub.addr()).await.unwrap();
    let request = format!("GET {WHOAMI} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer x\r\n\r\n", hub.addr());
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer).await;
    assert!(answer.is_empty(), "got {:?}", String::from_utf8_lossy(&answer));
    assert_eq!(read.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
    assert!(client().get(format!("{}{WHOAMI}", hub.endpoint())).send().await.is_err());
    assert_eq!(hub.requests(WHOAMI), 2);
    hub.shutdown().await;
}

#[tokio::test]
async fn delay_answers_late_and_hang_never_answers_but_shutdown_still_ends() {
    let hub = FakeHub::start().await;
    hub.add_token("hf_good", Account::user("alice"));
    hub.set_whoami_mode(Mode::Delay(Duration::from_millis(150)));
    let started = std::time::Instant::now();
    assert_eq!(whoami(&hub, Some("hf_good")).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));

    hub.set_whoami_mode(Mode::Hang);
    let quick = reqwest::Client::builder().timeout(Duration::from_millis(200)).build().unwrap();
    let error = quick.get(format!("{}{WHOAMI}", hub.endpoint())).send().await.unwrap_err();
    assert!(error.is_timeout());
    let stopping = std::time::Instant::now();
    hub.shutdown().await;
    assert!(stopping.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn device_flow_polls_pending_then_success_and_the_token_works() {
    let hub = FakeHub::start().await;
    hub.set_device_response(DeviceResponse::with_interval(0));
    hub.set_oauth_account(Account::user("alice").oauth().with_orgs(["acme"]));
    let (status, grant) = post(&hub, DEVICE, &[("client_id", "hf-cli")]).await;
    assert_eq!(status, 200);
    assert_eq!(grant["user_code"], "ABCD-EFGH");
    assert_eq!(grant["interval"], 0);
    assert_eq!(grant["expires_in"], 900);
    assert_eq!(grant["verification_uri"], format!("{}/oauth/device", hub.endpoint()));
    assert_eq!(grant["verification_uri_complete"], format!("{}/oauth/device?user_code=ABCD-EFGH", hub.endpoint()));
    let code = grant["device_code"].as_str().unwrap();

    hub.script_device_flow(vec![
        TokenStep::Pending,
        TokenStep::SlowDown,
        TokenStep::Success {
            access_token: "hf_oauth_a".into(),
            refresh_token: Some("rt_a".into()),
            expires_in: Some(3600),
        },
    ]);
    assert_eq!(poll(&hub, code).await.1["error"], "authorization_pending");
    assert_eq!(
        poll(&hub, code).await,
        (
            400,
            serde_json::json!({"error": "slow_down", "error_description": "Polling too frequently, increase the interval by 5 seconds"})
        )
    );
    let (status, token) = poll(&hub, code).await;
    assert_eq!(status, 200);
    assert_eq!(token["access_token"], "hf_oauth_a");
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["refresh_token"], "rt_a");
    assert_eq!(token["expires_in"], 3600);
    assert_eq!(hub.requests(TOKEN), 3);
    let form = hub.last_form(TOKEN).unwrap();
    assert!(form.contains(&("device_code".into(), code.into())));
    assert!(form.contains(&("grant_type".into(), DEVICE_GRANT.into())));

    let me: Value = whoami(&hub, Some("hf_oauth_a")).await.json().await.unwrap();
    assert_eq!((me["name"].as_str(), me["auth"]["type"].as_str()), (Some("alice"), Some("oauth")));
    assert_eq!(me["orgs"][0]["name"], "acme");
    assert!(hub.is_refresh_token_valid("rt_a"));
    // A spent device code is no longer accepted.
    assert_eq!(poll(&hub, code).await.1["error"], "invalid_grant");
    hub.shutdown().await;
}

#[tokio::test]
async fn device_endpoint_can_omit_defaults_or_fail() {
    let hub = FakeHub::start().await;
    hub.set_device_response(DeviceResponse::minimal());
    let (_, grant) = post(&hub, DEVICE, &[("client_id", "hf-cli")]).await;
    for field in ["interval", "expires_in", "verification_uri_complete"] {
        assert!(grant.get(field).is_none(), "{field} in {grant}");
    }
    assert_eq!(hub.last_form(DEVICE), Some(vec![("client_id".into(), "hf-cli".into())]));
    hub.set_device_response(DeviceResponse::server_error());
    assert_eq!(post(&hub, DEVICE, &[("client_id", "hf-cli")]).await.0, 500);
    hub.set_device_response(DeviceResponse::default());
    let code = device_code(&hub).await;
    for (step, error) in [(TokenStep::Denied, "access_denied"), (TokenStep::Expired, "expired_token")] {
        let code = device_code(&hub).await;
        hub.script_device_flow(vec![step]);
        assert_eq!(poll(&hub, &code).await.1["error"], error);
    }
    hub.script_device_flow(vec![
        TokenStep::ServerError,
        TokenStep::NotJson,
        TokenStep::OtherError("x".into(), "y".into()),
    ]);
    assert_eq!(poll(&hub, &code).await.0, 500);
    assert_eq!(poll(&hub, &code).await, (200, Value::Null));
    assert_eq!(poll(&hub, &code).await, (400, serde_json::json!({"error": "x", "error_description": "y"})));
    assert_eq!(poll(&hub, &code).await.1["error"], "authorization_pending");
    hub.shutdown().await;
}

#[tokio::test]
async fn refresh_rotates_then_a_revoked_token_is_invalid_grant() {
    let hub = FakeHub::start().await;
    hub.add_refresh_token("rt_1", Account::user("bob").oauth());
    hub.script_refresh(vec![
        RefreshStep::Success {
            access_token: "hf_oauth_2".into(),
            refresh_token: Some("rt_2".into()),
            expires_in: 3600,
        },
        RefreshStep::Success { access_token: "hf_oauth_3".into(), refresh_token: None, expires_in: 3600 },
        RefreshStep::InvalidGrant,
    ]);
    let (status, token) = refresh(&hub, "rt_1").await;
    assert_eq!(
        (status, token["access_token"].as_str(), token["refresh_token"].as_str()),
        (200, Some("hf_oauth_2"), Some("rt_2"))
    );
    assert!(!hub.is_refresh_token_valid("rt_1"));
    let revoked = serde_json::json!({"error": "invalid_grant", "error_description": "refresh token revoked"});
    assert_eq!(refresh(&hub, "rt_1").await, (400, revoked.clone()));

    let (status, token) = refresh(&hub, "rt_2").await;
    assert_eq!((status, token.get("refresh_token")), (200, None));
    assert!(hub.is_refresh_token_valid("rt_2"));
    assert_eq!(whoami(&hub, Some("hf_oauth_3")).await.json::<Value>().await.unwrap()["name"], "bob");

    assert_eq!(refresh(&hub, "rt_2").await, (400, revoked));
    assert!(!hub.is_refresh_token_valid("rt_2"));
    assert_eq!(hub.last_form(TOKEN).unwrap()[1], ("refresh_token".into(), "rt_2".into()));

    // Unscripted refreshes succeed with a rotated token, like the Hub.
    hub.add_refresh_token("rt_x", Account::user("bob").oauth());
    let (status, token) = refresh(&hub, "rt_x").await;
    assert_eq!(status, 200);
    let new_rt = token["refresh_token"].as_str().unwrap();
    assert!(hub.is_refresh_token_valid(new_rt) && !hub.is_refresh_token_valid("rt_x"));
    assert!(hub.is_token_valid(token["access_token"].as_str().unwrap()));
    hub.shutdown().await;
}

#[test]
fn forms_decode_like_a_server_would() {
    let pairs = handlers::parse_form(b"grant_type=urn%3Aietf%3Aparams&a+b=c%2Bd+e&empty=&bare&bad=%zz");
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        [("grant_type", "urn:ietf:params"), ("a b", "c+d e"), ("empty", ""), ("bare", ""), ("bad", "%zz")]
    );
}

#[test]
fn iso8601_formats_utc() {
    assert_eq!(body::iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(body::iso8601(1_714_557_600), "2024-05-01T10:00:00.000Z");
    assert_eq!(body::iso8601(951_782_400), "2000-02-29T00:00:00.000Z");
}

#[tokio::test]
async fn org_roles_and_scoped_fine_grained_grants_are_reported() {
    let hub = FakeHub::start().await;
    hub.add_token("hf_p", Account::user("alice").with_orgs(["lab"]).with_org_role("acme", "read"));
    let me: Value = whoami(&hub, Some("hf_p")).await.json().await.unwrap();
    assert_eq!((me["orgs"][0]["name"].as_str(), me["orgs"][0]["roleInOrg"].as_str()), (Some("lab"), Some("write")));
    assert_eq!((me["orgs"][1]["name"].as_str(), me["orgs"][1]["roleInOrg"].as_str()), (Some("acme"), Some("read")));

    let fine = Account::user("alice")
        .with_token_name("acme-fg", "fineGrained")
        .with_scoped(Scoped::org_write("acme"))
        .with_scoped(Scoped::new("dataset", "other/data", &["repo.content.read"]));
    hub.add_token("hf_f", fine);
    let me: Value = whoami(&hub, Some("hf_f")).await.json().await.unwrap();
    let token = &me["auth"]["accessToken"];
    assert_eq!(token["role"], "fineGrained");
    let scoped = &token["fineGrained"]["scoped"];
    assert_eq!(scoped[0]["entity"]["type"], "org");
    assert_eq!(scoped[0]["entity"]["name"], "acme");
    assert_eq!(scoped[0]["entity"]["_id"].as_str().map(str::len), Some(24));
    assert_eq!(scoped[0]["permissions"], serde_json::json!(["repo.content.read", "repo.write"]));
    assert_eq!(scoped[1]["entity"]["name"], "other/data");
    hub.shutdown().await;
}

#[tokio::test]
async fn oidc_exchange_and_actions_minting_and_their_failures() {
    let hub = FakeHub::start().await;
    let bot = Account::user("ci-bot");
    let exchange = |subject: &str, resource: &str| {
        serde_json::json!({
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "subject_token": subject,
            "resource": resource,
        })
    };
    let post_json = |body: Value| {
        let url = format!("{}{TOKEN}", hub.endpoint());
        async move {
            let r = client().post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let id = hub.trust_id_token(bot.clone());
    let (status, answer) = post_json(exchange(&id, "acme/x")).await;
    assert_eq!(status, 200, "{answer}");
    let token = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token, hub.oidc_token(&bot, "acme/x"));
    assert_eq!(answer["expires_in"], 3600);
    assert_eq!(whoami(&hub, Some(&token)).await.json::<Value>().await.unwrap()["name"], "ci-bot");
    assert_eq!(hub.last_json(TOKEN).unwrap()["resource"], "acme/x");
    assert!(hub.received(TOKEN, &id));

    // Another id token of the same job: the same Hub token; another resource: another one.
    let again = hub.trust_id_token(bot.clone());
    assert_eq!(post_json(exchange(&again, "acme/x")).await.1["access_token"], token.as_str());
    assert_ne!(post_json(exchange(&again, "acme/y")).await.1["access_token"], token.as_str());
    assert_eq!(hub.oidc_exchanges(), 3);
    let (status, answer) = post_json(exchange("eyJ.unknown.sig", "acme/x")).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(hub.oidc_exchanges(), 3);
    // The form grants still work beside it.
    assert_eq!(refresh(&hub, "rt_unknown").await.1["error"], "invalid_grant");

    // The Actions endpoint mints for a known request token and the audience asked for.
    hub.add_actions_runner("ghs_request", bot.clone());
    let mint = |bearer: &'static str, audience: Option<&'static str>| {
        let mut request = client().get(hub.actions_url()).bearer_auth(bearer);
        if let Some(a) = audience {
            request = request.query(&[("audience", a)]);
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, minted) = mint("ghs_request", Some("https://hub.example")).await;
    assert_eq!(status, 200, "{minted}");
    let minted = minted["value"].as_str().unwrap().to_owned();
    assert!(hub.last_query(ACTIONS_ID_TOKEN).unwrap().contains("audience=https%3A%2F%2Fhub.example"));
    assert_eq!(post_json(exchange(&minted, "acme/x")).await.1["access_token"], token.as_str());
    assert_eq!(mint("ghs_other", Some("x")).await.0, 403);
    assert_eq!(mint("ghs_request", None).await.0, 403);
    hub.shutdown().await;
}
