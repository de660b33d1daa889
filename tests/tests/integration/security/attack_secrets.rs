//! Secrets never reach an error message or a log, whatever the endpoint answers: an OIDC token
//! exchange that fails with an error body echoing the id token it was sent (a misconfigured
//! proxy, a verbose server) must not put the id token in the CLI's error — CI logs are often
//! public, and the id token buys a Hub token for its whole lifetime — nor in the daemon's log.

use hf_auth_tests::procs::World;

/// Looks like a GitHub Actions id token (a JWT): what the Hub would be sent.
const ID_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUvY2kifQ.SecretSignatureOfTheIdToken0123456789";

async fn echoing_endpoint() -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/oauth/token",
        post(|body: String| async move {
            let subject = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("subject_token").and_then(|s| s.as_str()).map(str::to_owned))
                .unwrap_or_default();
            let answer = serde_json::json!({
                "error": "invalid_grant",
                "error_description": format!("subject_token {subject} is not trusted for this resource"),
            });
            (axum::http::StatusCode::BAD_REQUEST, answer.to_string())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_echoed_in_an_oidc_error_body_is_not_repeated() {
    let endpoint = echoing_endpoint().await;
    let mut w = World::new(&endpoint);
    w.set_env("HF_OIDC_RESOURCE", "acme/ci-model");
    w.set_env("HF_OIDC_ID_TOKEN", ID_TOKEN);
    let run = w.run("hf-auth", &["token"], None).await;
    assert_ne!(run.code(), 0, "the exchange failed: {}", run.stdout());
    let shown = format!("{}{}", run.stdout(), run.stderr());
    assert!(shown.contains("OIDC Exchange failed"), "{shown}");
    assert!(shown.contains("invalid_grant") || shown.contains("not trusted"), "the Hub's reason is kept: {shown}");
    assert!(!shown.contains("SecretSignatureOfTheIdToken"), "the id token was echoed to the terminal:\n{shown}");
    let log = std::fs::read_to_string(w.dir.path().join("state/hf-auth/hf-authd.log")).unwrap_or_default();
    assert!(!log.contains("SecretSignatureOfTheIdToken"), "the id token reached the daemon's log:\n{log}");
}

/// Credentials written into `HF_ENDPOINT` (`https://user:password@mirror/`, for a proxy or a
/// mirror) are not repeated: not in the audit log's `endpoint`, nor in an error about that
/// endpoint, nor in the daemon's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_endpoint_reach_neither_the_audit_log_nor_an_error() {
    const PASSWORD: &str = "ProxyPassword0123456789";
    let endpoint = format!("http://proxyuser:{PASSWORD}@127.0.0.1:9");
    let w = World::new(&endpoint);
    std::fs::write(w.hf_home().join("token"), "hf_endpointcreds_EEEEEEEEEEEEEEEEEEEEEEEEE").unwrap();
    let token = w.run("hf-auth", &["token"], None).await;
    assert_eq!(token.code(), 0, "{}", token.stderr());
    let whoami = w.run("hf-auth", &["whoami"], None).await;
    let shown = format!("{}{}", whoami.stdout(), whoami.stderr());
    assert_ne!(whoami.code(), 0, "nothing listens there: {shown}");
    assert!(shown.contains("http://127.0.0.1:9"), "the endpoint is still named: {shown}");
    assert!(!shown.contains(PASSWORD), "the endpoint's password in an error:\n{shown}");
    // `hf-auth audit` waits for the log's writer, then shows the log.
    let listed = w.run("hf-auth", &["audit"], None).await;
    assert!(
        listed.stdout().contains("http://127.0.0.1:9") && !listed.stdout().contains(PASSWORD),
        "{}",
        listed.stdout()
    );
    let state = w.dir.path().join("state/hf-auth");
    let audit = std::fs::read_to_string(state.join("audit.log")).unwrap_or_default();
    assert!(audit.contains("\"endpoint\":\"http://127.0.0.1:9\""), "the handout is recorded: {audit}");
    assert!(!audit.contains(PASSWORD), "the endpoint's password in the audit log:\n{audit}");
    let log = std::fs::read_to_string(state.join("hf-authd.log")).unwrap_or_default();
    assert!(!log.contains(PASSWORD), "the endpoint's password in the daemon's log:\n{log}");
}
