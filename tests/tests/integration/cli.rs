//! `hf-auth` as a user runs it: spawned with a scrubbed environment, the daemon autostarted,
//! the Hub faked on loopback. Transcripts follow huggingface_hub's wording.

use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::procs::World;

const WORK: &str = "hf_valid_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const READ: &str = "hf_read_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

async fn hub() -> FakeHub {
    let hub = FakeHub::start().await;
    hub.add_token(WORK, Account::user("alice").with_orgs(["acme", "beta-lab"]).with_token_name("work-token", "write"));
    hub.add_token(READ, Account::user("alice").with_token_name("read-token", "read"));
    hub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_token_list_whoami_switch_logout() {
    let hub = hub().await;
    let w = World::new(&hub.endpoint());
    let hf = w.hf_home().display().to_string();

    let r = w.run("hf-auth", &["login", "--token", WORK], None).await.ok();
    assert_eq!(r.stdout(), "");
    let expected = format!(
        "Token is valid (permission: write).\nThe token `work-token` has been saved to {hf}/stored_tokens\nYour token has been saved to {hf}/token\nLogin successful.\nThe current active token is: `work-token`\n"
    );
    assert!(r.stderr().starts_with(&expected), "stderr was:\n{}", r.stderr());
    assert_eq!(w.token_file().unwrap(), WORK);

    let r = w.run("hf-auth", &["token"], None).await.ok();
    assert_eq!(r.stdout(), format!("{WORK}\n"));
    assert_eq!(r.stderr(), "Hint: Run `hf-auth whoami` to see which account this token belongs to.\n");
    let r = w.run("hf-auth", &["token", "-q"], None).await.ok();
    assert_eq!(r.stderr(), "");

    w.run("hf-auth", &["login", "--token", READ], None).await.ok();
    let r = w.run("hf-auth", &["list"], None).await.ok();
    assert_eq!(
        r.stdout(),
        "  name       token      \n- ---------- -----------\n* read-token hf_****BBBB\n  work-token hf_****AAAA\n"
    );
    let r = w.run("hf-auth", &["ls", "--json"], None).await.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(v["tokens"][0]["name"], "read-token");
    assert_eq!(v["tokens"][0]["active"], true);
    assert_eq!(v["tokens"][1]["token"], "hf_****AAAA");
    assert_eq!(v["env_token"], serde_json::Value::Null);

    let r = w.run("hf-auth", &["switch", "--token-name", "work-token"], None).await.ok();
    assert_eq!(
        r.stderr(),
        format!("Your token has been saved to {hf}/token\nThe current active token is: work-token\n")
    );

    let r = w.run("hf-auth", &["whoami"], None).await.ok();
    assert_eq!(
        r.stdout(),
        format!("✓ Logged in\n  user: alice\n  orgs: acme,beta-lab\n  endpoint: {}\n", hub.endpoint())
    );
    let r = w.run("hf-auth", &["whoami", "--format", "quiet"], None).await.ok();
    assert_eq!(r.stdout(), "alice\n");
    let r = w.run("hf-auth", &["whoami", "--json"], None).await.ok();
    assert!(
        r.stdout()
            .starts_with(&format!(r#"{{"user": "alice", "orgs": "acme,beta-lab", "endpoint": "{}""#, hub.endpoint())),
        "{}",
        r.stdout()
    );
    assert_eq!(
        hub.requests("/api/whoami-v2"),
        2,
        "the two logins asked the Hub; every whoami came from their cached answers"
    );

    let r = w.run("hf-auth", &["logout", "--token-name", "work-token"], None).await.ok();
    assert_eq!(
        r.stderr(),
        "Active token 'work-token' has been deleted.\nSuccessfully logged out from access token: work-token.\n"
    );
    let r = w.run("hf-auth", &["logout", "--token-name", "nope"], None).await;
    assert_eq!(r.code(), 1);
    assert!(r.stderr().starts_with("Error: Invalid value. Access token nope not found in "), "{}", r.stderr());
    let r = w.run("hf-auth", &["logout"], None).await.ok();
    assert_eq!(r.stderr(), "Successfully logged out from all access tokens.\n");
    let r = w.run("hf-auth", &["logout"], None).await.ok();
    assert_eq!(r.stderr(), "Not logged in!\n");
    let r = w.run("hf-auth", &["token"], None).await;
    assert_eq!(r.code(), 1);
    assert_eq!(r.stderr(), "Error: Not logged in. Run `hf-auth login` first.\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_from_stdin_and_env_shadowing() {
    let hub = hub().await;
    let mut w = World::new(&hub.endpoint());
    w.run("hf-auth", &["login", "--token", "-"], Some(&format!("{WORK}\n"))).await.ok();
    assert_eq!(w.token_file().unwrap(), WORK);

    w.set_env("HF_TOKEN", "hf_from_env");
    let r = w.run("hf-auth", &["token"], None).await.ok();
    assert_eq!(r.stdout(), "hf_from_env\n");
    let r = w.run("hf-auth", &["login", "--token", READ], None).await.ok();
    assert!(r.stderr().contains(
        "Note: Environment variable `HF_TOKEN` is set and is the current active token independently from the token you've just configured.\n"
    ));
    assert!(!r.stderr().contains("The current active token is"));
    let r = w.run("hf-auth", &["list"], None).await.ok();
    assert!(r.stderr().contains("Note: Environment variable `HF_TOKEN` is set and is the current active token independently from the stored tokens listed above."));
    let r = w.run("hf-auth", &["switch", "--token-name", "work-token"], None).await.ok();
    assert!(r.stderr().ends_with(
        "The environment variable `HF_TOKEN` is set and will override the access token you've just switched to.\n"
    ));
    let r = w.run("hf-auth", &["logout"], None).await;
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("Error: Token has been deleted from your machine but you are still logged in."));
    assert!(w.token_file().is_none() && w.stored_file().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_exit_codes() {
    let hub = hub().await;
    let w = World::new(&hub.endpoint());
    let r = w.run("hf-auth", &["login", "--token", "hf_wrong"], None).await;
    assert_eq!((r.code(), r.stderr()), (1, "Error: Invalid user token.\n".to_owned()));
    let r = w.run("hf-auth", &["login", "--token", "api_org_x"], None).await;
    assert_eq!(
        r.stderr(),
        "Error: Invalid value. You must use your personal account token, not an organization token.\n"
    );
    let r = w.run("hf-auth", &["logout", "extra"], None).await;
    assert_eq!(r.code(), 2, "usage errors exit 2");
    let r = w.run("hf-auth", &["switch"], None).await.ok();
    assert_eq!(r.stdout(), "No token name provided. Aborting.\n");
    assert_eq!(r.stderr(), "No stored tokens found. Please login first.\n");
    w.run("hf-auth", &["login", "--token", WORK], None).await.ok();
    let r = w.run("hf-auth", &["switch"], None).await;
    assert_eq!(r.code(), 1);
    assert_eq!(r.stderr(), "Error: Use --token-name to select a token in non-interactive mode.\n");
    let r = w.run("hf-auth", &["login", "--format", "json"], None).await;
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("is interactive and does not support --format json/quiet"));
    let r = w.run("hf-auth", &["login"], None).await.ok();
    assert_eq!(r.stderr(), "User is already logged in. Use `hf-auth login --force` to force re-login.\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_autostart_says_so() {
    let mut w = World::new("http://127.0.0.1:9");
    w.set_env("HF_AUTH_NO_AUTOSTART", "1");
    let r = w.run("hf-auth", &["token"], None).await;
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("hf-authd is not running"), "{}", r.stderr());
    assert!(r.stderr().contains("HF_AUTH_NO_AUTOSTART"), "{}", r.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_clients_at_once_start_one_daemon() {
    let hub = hub().await;
    let w = World::new(&hub.endpoint());
    let runs = futures_util::future::join_all((0..10).map(|_| w.run("hf-auth", &["status", "--json"], None))).await;
    let mut pids = std::collections::BTreeSet::new();
    for r in runs {
        let r = r.ok();
        let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
        pids.insert(v["pid"].as_u64().unwrap());
    }
    assert_eq!(pids.len(), 1, "one daemon served all ten: {pids:?}");
    assert_eq!(w.daemon_pid().map(|p| p as u64), pids.into_iter().next());
    let r = w.run("hf-auth", &["daemon", "status"], None).await.ok();
    assert!(r.stdout().starts_with("hf-authd "), "{}", r.stdout());
    w.run("hf-auth", &["daemon", "stop"], None).await.ok();
    let r = w.run("hf-auth", &["daemon", "status"], None).await;
    assert_eq!(r.code(), 3);
    assert!(!w.socket().exists(), "a graceful stop removes the socket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_where_the_token_comes_from() {
    let hub = hub().await;
    let w = World::new(&hub.endpoint());
    w.run("hf-auth", &["login", "--token", WORK], None).await.ok();
    let r = w.run("hf-auth", &["status"], None).await.ok();
    let out = r.stdout();
    assert!(out.contains(&format!("socket: {}", w.socket().display())), "{out}");
    assert!(out.contains("Active token: `work-token` from the token file"), "{out}");
    assert!(out.contains("plain text"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_man_page() {
    let w = World::new("http://127.0.0.1:9");
    for shell in ["bash", "zsh", "fish"] {
        let r = w.run("hf-auth", &["completions", shell], None).await.ok();
        assert!(r.stdout().contains("setup-git"), "{shell}");
    }
    let r = w.run("hf-auth", &["man"], None).await.ok();
    assert!(r.stdout().contains(".TH hf-auth"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_daemon_exits_by_itself_and_cleans_up() {
    let w = World::new("http://127.0.0.1:9");
    let mut daemon = w
        .command(hf_auth_tests::procs::bin("hf-authd"))
        .arg("--socket")
        .arg(w.socket())
        .args(["--idle-timeout", "1", "--print-ready"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(daemon.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.starts_with("ready"));
    w.run("hf-auth", &["token"], None).await; // one request resets the idle clock
    let start = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || daemon.wait().unwrap()).await.unwrap();
    assert!(status.success());
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert!(!w.socket().exists(), "the socket is removed on the way out");
}
