//! The real git with git-credential-hf: `git credential fill` through `credential.helper=hf`,
//! `hf-auth setup-git` in the global git config, and a real `git clone`/`git push` over smart HTTP
//! to a loopback server (`git http-backend` behind Basic auth) before and after `hf-auth switch`.
//! Also git's helper test cases that apply to a read-only helper, and the injection cases, driven
//! through the built binary as git drives it (stdin → stdout).

use hf_auth_tests::fake_hub::{Account, FakeHub, WHOAMI};
use hf_auth_tests::git_server::GitServer;
use hf_auth_tests::procs::{Run, World, bin};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const A: &str = "hf_gitA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const B: &str = "hf_gitB_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
/// Any git command here that takes longer has hung (a prompt, a helper that blocks).
const GIT_LIMIT: Duration = Duration::from_secs(60);

/// The git on PATH.
pub(crate) fn git() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join("git")).find(|p| p.is_file()).expect("git on PATH")
}

/// PATH with our built binaries first, so git finds `git-credential-hf` for `credential.helper=hf`.
fn path_with_bins() -> OsString {
    let dir = bin("git-credential-hf").parent().expect("bin dir").to_owned();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&rest))).expect("join PATH")
}

async fn hub() -> FakeHub {
    let hub = FakeHub::start().await;
    // Both write to the org `lab` (so switching, not scope, picks the token for lab/model).
    hub.add_token(A, Account::user("alice").with_token_name("work-token", "write").with_orgs(["lab"]));
    hub.add_token(B, Account::user("bob").with_token_name("bob-token", "write").with_orgs(["lab"]));
    hub
}

/// A world whose git finds our helper and never prompts.
pub(crate) fn world(endpoint: &str) -> World {
    let mut w = World::new(endpoint);
    w.set_env("PATH", path_with_bins());
    w.set_env("GIT_TERMINAL_PROMPT", "0");
    w
}

pub(crate) async fn run_git(w: &World, args: &[&str], input: Option<&str>) -> Run {
    tokio::time::timeout(GIT_LIMIT, w.run_program(&git(), args, input))
        .await
        .unwrap_or_else(|_| panic!("git {args:?} did not finish within {GIT_LIMIT:?}"))
}

async fn helper(w: &World, op: &str, input: &str) -> Run {
    tokio::time::timeout(GIT_LIMIT, w.run("git-credential-hf", &[op], Some(input)))
        .await
        .unwrap_or_else(|_| panic!("git-credential-hf {op} did not finish within {GIT_LIMIT:?}"))
}

/// Asserts the helper answered nothing at all, as git requires for "not mine".
#[track_caller]
fn assert_silent(r: &Run, case: &str) {
    assert_eq!((r.code(), r.stdout().as_str()), (0, ""), "{case}: stderr {}", r.stderr());
}

// a. `git credential fill` through `credential.helper=hf`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_credential_fill_uses_the_active_token_for_our_host_only() {
    let hub = hub().await;
    let w = world(&hub.endpoint());
    let host = hub.addr().to_string();
    w.run("hf-auth", &["login", "--token", A], None).await.ok();
    // The user name comes from the daemon's whoami cache (login itself leaves it empty).
    w.run("hf-auth", &["whoami"], None).await.ok();

    let fill = ["-c", "credential.helper=", "-c", "credential.helper=hf", "credential", "fill"];
    let r = run_git(&w, &fill, Some(&format!("protocol=http\nhost={host}\n\n"))).await.ok();
    assert_eq!(r.stdout(), format!("protocol=http\nhost={host}\nusername=alice\npassword={A}\n"));
    // The same through a URL with a path, as git sends it for a remote.
    let r = run_git(&w, &fill, Some(&format!("url=http://{host}/alice/model.git\n\n"))).await.ok();
    assert!(r.stdout().contains(&format!("\npassword={A}\n")), "{}", r.stdout());

    // Another host, another scheme, another port: git gets nothing from us and, unable to
    // prompt, fails. Our token appears nowhere.
    let other_port = format!("127.0.0.1:{}", hub.addr().port().wrapping_add(1).max(1));
    for input in [
        "protocol=https\nhost=evil.example\n\n".to_owned(),
        format!("protocol=https\nhost={host}\n\n"),
        format!("protocol=http\nhost={other_port}\n\n"),
        "protocol=https\nhost=huggingface.co\n\n".to_owned(),
    ] {
        let r = run_git(&w, &["-c", "credential.helper=hf", "credential", "fill"], Some(&input)).await;
        assert_ne!(r.code(), 0, "git must fail without a credential for {input:?}: {}", r.stdout());
        assert!(!r.stdout().contains(A) && !r.stderr().contains(A), "token leaked for {input:?}");
        assert!(!r.stdout().contains("password="), "{input:?}: {}", r.stdout());
    }
}

// b. `hf-auth setup-git`: the global config entries, idempotence, --unset, foreign helpers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_git_writes_recognises_and_removes_its_entry() {
    let hub = hub().await;
    let w = world(&hub.endpoint());
    let endpoint = hub.endpoint();
    let key = format!("credential.{endpoint}.helper");
    let gitconfig = w.home().join(".gitconfig");
    let values = || async { run_git(&w, &["config", "--global", "--get-all", &key], None).await.stdout() };

    let r = w.run("hf-auth", &["setup-git"], None).await.ok();
    assert_eq!(r.stdout(), "");
    assert!(r.stderr().contains(&format!("Git will now ask hf-auth for credentials for {endpoint}")), "{}", r.stderr());
    assert_eq!(values().await, "\nhf\n", "a reset, then our helper by name (it is on PATH)");
    let written = std::fs::read_to_string(&gitconfig).expect("setup-git wrote $GIT_CONFIG_GLOBAL");
    assert!(written.contains(&format!("[credential \"{endpoint}\"]")), "{written}");

    let r = w.run("hf-auth", &["setup-git"], None).await.ok();
    assert_eq!(r.stderr(), format!("Git is already set up to use hf-auth for {endpoint}.\n"));
    assert_eq!(std::fs::read_to_string(&gitconfig).unwrap(), written, "a second run changes nothing");

    // With the config in place, plain `git credential fill` (no -c) asks us.
    w.run("hf-auth", &["login", "--token", A], None).await.ok();
    let input = format!("protocol=http\nhost={}\n\n", hub.addr());
    let r = run_git(&w, &["credential", "fill"], Some(&input)).await.ok();
    assert!(r.stdout().ends_with(&format!("password={A}\n")), "{}", r.stdout());

    let r = w.run("hf-auth", &["setup-git", "--unset"], None).await.ok();
    assert_eq!(r.stderr(), format!("Git no longer asks hf-auth for credentials for {endpoint}.\n"));
    assert_eq!(values().await, "");
    let r = run_git(&w, &["credential", "fill"], Some(&input)).await;
    assert_ne!(r.code(), 0, "not asked any more: {}", r.stdout());
    let r = w.run("hf-auth", &["setup-git", "--unset"], None).await.ok();
    assert_eq!(r.stderr(), format!("Git was not set up to use hf-auth for {endpoint}; nothing to undo.\n"));

    // A helper the user configured for this URL is not replaced without --force, and is named.
    run_git(&w, &["config", "--global", "--add", &key, "store"], None).await.ok();
    let r = w.run("hf-auth", &["setup-git"], None).await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(r.stderr().contains(&key) && r.stderr().contains("`store`"), "{}", r.stderr());
    assert!(r.stderr().contains("--force"), "{}", r.stderr());
    assert_eq!(values().await, "store\n", "untouched");
    w.run("hf-auth", &["setup-git", "--force"], None).await.ok();
    assert_eq!(values().await, "\nhf\n");

    // --unset removes only what we wrote: a helper the user added after ours stays.
    run_git(&w, &["config", "--global", "--add", &key, "cache"], None).await.ok();
    w.run("hf-auth", &["setup-git", "--unset"], None).await.ok();
    assert_eq!(values().await, "cache\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_git_uses_an_absolute_path_when_the_helper_is_not_on_path_and_login_can_do_it() {
    let hub = hub().await;
    let mut w = World::new(&hub.endpoint());
    w.set_env("GIT_TERMINAL_PROMPT", "0");
    // Another git-credential-hf (say an older packaged one) first on PATH is not ours: git would
    // run it for `hf`, so our own helper must be named by its absolute path.
    let decoy = w.dir.path().join("decoy-bin");
    std::fs::create_dir_all(&decoy).expect("mkdir");
    let fake = decoy.join("git-credential-hf");
    std::fs::write(&fake, "#!/bin/sh\necho password=not-ours\n").expect("write decoy");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let mut path = std::ffi::OsString::from(&decoy);
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    w.set_env("PATH", path);
    let key = format!("credential.{}.helper", hub.endpoint());

    let r = w.run("hf-auth", &["login", "--token", A], None).await.ok();
    assert!(r.stderr().contains("run `hf-auth setup-git`"), "login says git is not set up: {}", r.stderr());
    w.run("hf-auth", &["login", "--token", A, "--add-to-git-credential", "--force"], None).await.ok();
    let abs = bin("git-credential-hf").display().to_string();
    let r = run_git(&w, &["config", "--global", "--get-all", &key], None).await.ok();
    assert_eq!(r.stdout(), format!("\n{abs}\n"));
    let r = w.run("hf-auth", &["setup-git"], None).await.ok();
    assert!(r.stderr().starts_with("Git is already set up"), "its own absolute entry is recognised: {}", r.stderr());

    // git runs the absolute path as given: no PATH entry needed.
    let r = run_git(&w, &["credential", "fill"], Some(&format!("protocol=http\nhost={}\n\n", hub.addr()))).await.ok();
    assert!(r.stdout().ends_with(&format!("password={A}\n")), "{}", r.stdout());
}

// c. The real thing: clone and push over HTTP with Basic auth, before and after switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_and_push_follow_login_and_switch_and_a_rejected_token_logs_nobody_out() {
    let hub = hub().await;
    let repos = tempfile::tempdir().expect("tempdir");
    let server = GitServer::start_with_hub(repos.path(), &hub.endpoint()).await;
    server.allow_token(A, "alice");
    server.allow_token(B, "bob");
    let url = server.init_bare("lab/model.git").await;
    let mut w = world(&server.url());
    for (k, v) in [("GIT_AUTHOR_NAME", "T"), ("GIT_AUTHOR_EMAIL", "t@example.com")] {
        w.set_env(k, v);
        w.set_env(&k.replace("AUTHOR", "COMMITTER"), v);
    }

    w.run("hf-auth", &["setup-git"], None).await.ok();
    // Not logged in: git gets nothing from us and fails at once instead of prompting.
    let r = run_git(&w, &["ls-remote", &url], None).await;
    assert_ne!(r.code(), 0);
    assert!(server.auth_log().iter().all(Option::is_none));

    w.run("hf-auth", &["login", "--token", A], None).await.ok();
    let mark = server.attempts().len();
    let t = Instant::now();
    run_git(&w, &["clone", "--quiet", &url, "work"], None).await.ok();
    eprintln!("git clone: {:?}", t.elapsed());
    assert_eq!(used_since(&server, mark), BTreeSet::from([A.to_owned()]));

    let t = Instant::now();
    let r = commit_and_push(&w, "one").await.ok();
    eprintln!("git push (token A): {:?}", t.elapsed());
    assert!(!r.stderr().contains(A), "{}", r.stderr());
    // Each git process starts without credentials: a 401, then the helper's answer.
    let attempts = server.attempts();
    assert_eq!(attempts[mark_after_clone(&attempts, mark)].presented, None);

    // A second login makes B the active token; git uses it at once (nothing cached on git's side).
    w.run("hf-auth", &["login", "--token", B], None).await.ok();
    let mark = server.attempts().len();
    commit_and_push(&w, "two").await.ok();
    assert_eq!(used_since(&server, mark), BTreeSet::from([B.to_owned()]));

    let r = w.run("hf-auth", &["switch", "--token-name", "work-token"], None).await.ok();
    assert!(r.stderr().contains("The current active token is: work-token"), "{}", r.stderr());
    let mark = server.attempts().len();
    commit_and_push(&w, "three").await.ok();
    assert_eq!(used_since(&server, mark), BTreeSet::from([A.to_owned()]));

    let r = run_git(
        &w,
        &["--git-dir", &server.repo_path("lab/model.git").display().to_string(), "log", "--format=%s", "main"],
        None,
    )
    .await
    .ok();
    assert_eq!(r.stdout(), "three\ntwo\none\n", "all three pushes landed");

    // A is revoked: the push fails without hanging, git runs our `erase`, and the user is still
    // logged in with A (erase only drops the whoami cache, so the next whoami asks the Hub).
    w.run("hf-auth", &["whoami"], None).await.ok();
    server.remove_token(A);
    hub.remove_token(A);
    let whoamis = hub.requests(WHOAMI);
    w.run("hf-auth", &["whoami"], None).await.ok();
    assert_eq!(hub.requests(WHOAMI), whoamis, "served from the cache");
    let mark = server.attempts().len();
    let t = Instant::now();
    let r = commit_and_push(&w, "four").await;
    eprintln!("git push (revoked token): {:?}, exit {}", t.elapsed(), r.code());
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("Authentication failed"), "{}", r.stderr());
    assert!(!r.stderr().contains(A), "{}", r.stderr());
    let tried: Vec<_> = server.attempts()[mark..].iter().map(|a| (a.presented.clone(), a.accepted)).collect();
    assert_eq!(tried, vec![(None, false), (Some(A.to_owned()), false)]);
    let r = w.run("hf-auth", &["list"], None).await.ok();
    assert!(r.stdout().contains("* work-token"), "A is still stored and active:\n{}", r.stdout());
    assert_eq!(w.token_file().as_deref(), Some(A));
    let _ = w.run("hf-auth", &["whoami"], None).await;
    assert_eq!(hub.requests(WHOAMI), whoamis + 1, "git's erase dropped the whoami cache entry for A");
    server.shutdown().await;
}

/// Index of the first receive-pack (push) request at or after `mark`.
fn mark_after_clone(attempts: &[hf_auth_tests::git_server::AuthAttempt], mark: usize) -> usize {
    // The clone of an empty repository is one info/refs request, challenged then answered.
    attempts[mark..]
        .iter()
        .position(|a| a.request.contains("git-receive-pack"))
        .map(|i| mark + i)
        .expect("a receive-pack request")
}

/// The accepted tokens since `mark`, after checking every request since then was either
/// accepted or one without credentials (the first request of each git process).
fn used_since(server: &GitServer, mark: usize) -> BTreeSet<String> {
    let attempts = server.attempts();
    assert!(attempts.len() > mark, "no request reached the server");
    for a in &attempts[mark..] {
        assert!(a.accepted || a.presented.is_none(), "rejected credentials: {a:?}");
    }
    attempts[mark..].iter().filter(|a| a.accepted).filter_map(|a| a.presented.clone()).collect()
}

async fn commit_and_push(w: &World, message: &str) -> Run {
    std::fs::write(w.home().join("work").join(format!("{message}.txt")), message).expect("write");
    run_git(w, &["-C", "work", "add", "."], None).await.ok();
    run_git(w, &["-C", "work", "commit", "--quiet", "-m", message], None).await.ok();
    run_git(w, &["-C", "work", "push", "--quiet", "origin", "HEAD:refs/heads/main"], None).await
}

// d. git's helper test cases that apply to a read-only helper, and the injection cases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_protocol_cases_through_the_binary() {
    let hub = hub().await;
    let w = world(&hub.endpoint());
    let host = hub.addr().to_string();
    let ours = format!("protocol=http\nhost={host}\n\n");

    // No data: nothing returned.
    assert_silent(&helper(&w, "get", &ours).await, "not logged in");

    w.run("hf-auth", &["login", "--token", A], None).await.ok();
    w.run("hf-auth", &["whoami"], None).await.ok();
    let answer_a = format!("username=alice\npassword={A}\n");
    assert_eq!(helper(&w, "get", &ours).await.ok().stdout(), answer_a);

    // store is ignored: the daemon's token still comes back, not the stored one.
    let r = helper(&w, "store", &format!("protocol=http\nhost={host}\nusername=mallory\npassword=hf_other\n\n")).await;
    assert_silent(&r, "store");
    assert_eq!(helper(&w, "get", &ours).await.ok().stdout(), answer_a);
    // Same through git: approve a different password, then fill.
    let approve = format!("protocol=http\nhost={host}\nusername=alice\npassword=hf_other\n\n");
    run_git(&w, &["-c", "credential.helper=hf", "credential", "approve"], Some(&approve)).await.ok();
    let r = run_git(&w, &["-c", "credential.helper=hf", "credential", "fill"], Some(&ours)).await.ok();
    assert!(r.stdout().ends_with(&format!("password={A}\n")), "{}", r.stdout());

    // erase removes nothing: neither through the helper nor through git's reject. It only drops
    // the whoami cache entry, so the token comes back with the default user name until the next
    // whoami.
    let erase = format!("protocol=http\nhost={host}\nusername=alice\npassword={A}\n\n");
    assert_silent(&helper(&w, "erase", &erase).await, "erase");
    assert_eq!(helper(&w, "get", &ours).await.ok().stdout(), format!("username=hf_user\npassword={A}\n"));
    w.run("hf-auth", &["whoami"], None).await.ok();
    assert_eq!(helper(&w, "get", &ours).await.ok().stdout(), answer_a);
    run_git(&w, &["-c", "credential.helper=hf", "credential", "reject"], Some(&erase)).await.ok();
    let r = run_git(&w, &["-c", "credential.helper=hf", "credential", "fill"], Some(&ours)).await.ok();
    assert!(r.stdout().ends_with(&format!("password={A}\n")), "{}", r.stdout());
    assert_eq!(w.token_file().as_deref(), Some(A));
    assert!(w.stored_file().unwrap_or_default().contains(A));
    w.run("hf-auth", &["whoami"], None).await.ok();

    // Protocol, host and port must each match the endpoint (http://127.0.0.1:PORT here).
    for (case, input) in [
        ("https for an http endpoint", format!("protocol=https\nhost={host}\n\n")),
        ("another host", "protocol=http\nhost=evil.example\n\n".to_owned()),
        ("no port", "protocol=http\nhost=127.0.0.1\n\n".to_owned()),
        ("host as a suffix", format!("protocol=http\nhost=evil.{host}\n\n")),
        ("the default Hub", "protocol=https\nhost=huggingface.co\n\n".to_owned()),
    ] {
        assert_silent(&helper(&w, "get", &input).await, case);
    }
    // What git sends for a remote URL: a path does not matter; CRLF line ends are accepted.
    assert_eq!(
        helper(&w, "get", &format!("protocol=http\nhost={host}\npath=alice/m.git\n\n")).await.ok().stdout(),
        answer_a
    );
    assert_eq!(helper(&w, "get", &format!("protocol=http\r\nhost={host}\r\n\r\n")).await.ok().stdout(), answer_a);
    assert_eq!(helper(&w, "get", &format!("url=http://{host}/alice/m.git\n\n")).await.ok().stdout(), answer_a);

    // Several users side by side: the username git asks for picks that user's stored token.
    w.run("hf-auth", &["login", "--token", B], None).await.ok();
    w.run("hf-auth", &["whoami"], None).await.ok();
    assert_eq!(helper(&w, "get", &ours).await.ok().stdout(), format!("username=bob\npassword={B}\n"));
    let as_alice = format!("protocol=http\nhost={host}\nusername=alice\n\n");
    assert_eq!(helper(&w, "get", &as_alice).await.ok().stdout(), answer_a);
    let as_bob = format!("protocol=http\nhost={host}\nusername=bob\n\n");
    assert_eq!(helper(&w, "get", &as_bob).await.ok().stdout(), format!("username=bob\npassword={B}\n"));

    // capability: `version 0` first; unknown operations: silence, exit 0.
    let r = helper(&w, "capability", "").await.ok();
    assert_eq!(r.stdout().lines().next(), Some("version 0"));
    for op in ["frobnicate", "GET", ""] {
        assert_silent(&helper(&w, op, &ours).await, op);
    }
    let r = w.run("git-credential-hf", &[], Some(&ours)).await;
    assert_silent(&r, "no operation");

    // Injection: every one of these is refused, silently.
    let long = "x".repeat(2048);
    let huge = "x".repeat(70 * 1024);
    let big_line = format!("wwwauth[]={}\n", "y".repeat(60_000));
    for (case, input) in [
        ("CR at the end of host", format!("protocol=http\nhost={host}\r")),
        ("CR before CRLF", format!("protocol=http\nhost={host}\r\r\n\n")),
        ("CR smuggling a second host", format!("protocol=http\nhost=evil.example\rhost={host}\n\n")),
        ("CR in protocol", format!("protocol=http\rx\nhost={host}\n\n")),
        ("NUL after host", format!("protocol=http\nhost={host}\0evil.example\n\n")),
        ("NUL in an unknown key", format!("protocol=http\nhost={host}\nx\0y=1\n\n")),
        ("missing host", "protocol=http\n\n".to_owned()),
        ("empty host", "protocol=http\nhost=\n\n".to_owned()),
        ("missing protocol", format!("host={host}\n\n")),
        ("empty input", String::new()),
        ("line without =", format!("protocol=http\nhost={host}\ngarbage\n\n")),
        (
            "long header ending in our host",
            format!("protocol=http\nhost=evil.example\nwwwauth[]={long}host={host}\n\n"),
        ),
        ("oversized line", format!("protocol=http\nhost={host}\nwwwauth[]={huge}\n\n")),
        ("oversized request", format!("protocol=http\nhost={host}\n{}\n", big_line.repeat(5))),
        ("LF smuggled in a URL", format!("url=http://evil.example%0ahost={host}/\n\n")),
        ("CR smuggled in a URL", format!("url=http://{host}%0d/\n\n")),
        ("NUL in a URL", format!("url=http://{host}%00/\n\n")),
        // What an older git writes for a value with a newline in it: a repeated attribute.
        ("host repeated, ours last", format!("protocol=http\nhost=evil.example\nhost={host}\n\n")),
        ("host repeated, same value", format!("protocol=http\nhost={host}\nhost={host}\n\n")),
        ("protocol repeated", format!("protocol=https\nprotocol=http\nhost={host}\n\n")),
        ("path repeated", format!("protocol=http\nhost={host}\npath=a\npath=b\n\n")),
        ("username repeated", format!("protocol=http\nhost={host}\nusername=x\nusername=bob\n\n")),
        ("a url after the host", format!("protocol=http\nhost=evil.example\nurl=http://{host}/\n\n")),
    ] {
        assert_silent(&helper(&w, "get", &input).await, case);
    }
    // The control: the same long header with our host as host is answered, whole.
    let r = helper(&w, "get", &format!("protocol=http\nhost={host}\nwwwauth[]={long}host=evil.example\n\n")).await.ok();
    assert_eq!(r.stdout(), format!("username=bob\npassword={B}\n"));
}

// An OAuth token's answer says when it expires, so a caching helper after ours (credential-cache)
// never serves it past that: git (>= 2.41) reads password_expiry_utc, and keeps it in its output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_tokens_answer_carries_its_expiry() {
    const OAUTH: &str = "hf_oauth_GitExpiry_CCCCCCCCCCCCCCCCCCCCCCC";
    let hub = hub().await;
    hub.add_token(OAUTH, Account::user("carol").oauth());
    let w = world(&hub.endpoint());
    let host = hub.addr().to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let expires = now + 6 * 3600;
    std::fs::write(
        w.hf_home().join("stored_tokens"),
        format!("[oauth-carol]\nhf_token = {OAUTH}\nrefresh_token = rt_carol\nexpires_at = {expires}\n\n[plain]\nhf_token = {A}\n\n"),
    )
    .unwrap();
    std::fs::write(w.hf_home().join("token"), OAUTH).unwrap();
    let fill = ["-c", "credential.helper=", "-c", "credential.helper=hf", "credential", "fill"];
    let r = run_git(&w, &fill, Some(&format!("protocol=http\nhost={host}\n\n"))).await.ok();
    assert!(r.stdout().contains(&format!("\npassword={OAUTH}\n")), "{}", r.stdout());
    assert!(r.stdout().contains(&format!("\npassword_expiry_utc={expires}\n")), "{}", r.stdout());
    // A plain token has no expiry: no such line.
    w.run("hf-auth", &["switch", "--token-name", "plain"], None).await.ok();
    let r = run_git(&w, &fill, Some(&format!("protocol=http\nhost={host}\n\n"))).await.ok();
    assert!(r.stdout().contains(&format!("\npassword={A}\n")), "{}", r.stdout());
    assert!(!r.stdout().contains("password_expiry_utc"), "{}", r.stdout());
}

// e. Never blocks git.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_never_blocks_git_without_a_daemon() {
    let mut w = World::new("http://127.0.0.1:9");
    w.set_env("HF_AUTH_NO_AUTOSTART", "1");
    let ours = "protocol=http\nhost=127.0.0.1:9\n\n";

    let t = Instant::now();
    let r = helper(&w, "get", ours).await;
    let took = t.elapsed();
    eprintln!("git-credential-hf get, no daemon, no autostart: {took:?}");
    assert_silent(&r, "no daemon");
    assert_eq!(r.stderr(), "", "quiet without HF_AUTH_DEBUG");
    assert!(took < Duration::from_secs(5), "{took:?}");

    w.set_env("HF_AUTH_DEBUG", "1");
    let r = helper(&w, "get", ours).await;
    assert_silent(&r, "no daemon, debug");
    assert_eq!(r.stderr().lines().count(), 1, "exactly one line: {:?}", r.stderr());
    assert!(r.stderr().starts_with("git-credential-hf: "), "{}", r.stderr());
    // The same one line for a request that is not ours or not well-formed.
    for input in ["protocol=https\nhost=evil.example\n\n", "host=x\n\n", "protocol=http\nhost=a\0\n\n"] {
        let r = helper(&w, "get", input).await;
        assert_silent(&r, input);
        assert_eq!(r.stderr().lines().count(), 1, "{input:?}: {:?}", r.stderr());
    }
    // git, with us as its only helper and no prompt, fails promptly instead of waiting.
    w.set_env("PATH", path_with_bins());
    w.set_env("GIT_TERMINAL_PROMPT", "0");
    w.unset_env("HF_AUTH_DEBUG");
    let t = Instant::now();
    let r = run_git(&w, &["-c", "credential.helper=hf", "credential", "fill"], Some(ours)).await;
    eprintln!("git credential fill, no daemon: {:?}", t.elapsed());
    assert_ne!(r.code(), 0);
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_never_blocks_git_on_a_daemon_that_does_not_answer() {
    let mut w = World::new("http://127.0.0.1:9");
    // A socket that accepts connections (the kernel queues them) but never answers.
    let listener = std::os::unix::net::UnixListener::bind(w.socket()).expect("bind");
    let ours = "protocol=http\nhost=127.0.0.1:9\n\n";
    for autostart in ["1", "0"] {
        w.set_env("HF_AUTH_NO_AUTOSTART", autostart);
        let t = Instant::now();
        let r = helper(&w, "get", ours).await;
        let took = t.elapsed();
        eprintln!("git-credential-hf get, hung daemon, HF_AUTH_NO_AUTOSTART={autostart}: {took:?}");
        assert_silent(&r, "hung daemon");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_never_blocks_git_on_a_stuck_autostart() {
    let w = World::new("http://127.0.0.1:9");
    // Another starter holds the autostart lock and never finishes: the helper's autostart waits
    // on it, but git must get its (empty) answer within the helper's own budget.
    let mut lock_path = w.socket().into_os_string();
    lock_path.push(".start.lock");
    let lock = std::fs::File::create(&lock_path).expect("create the start lock");
    #[allow(clippy::incompatible_msrv)] // test-only; flock(2), as the client's autostart uses
    lock.lock().expect("hold the start lock");
    let t = Instant::now();
    let r = helper(&w, "get", "protocol=http\nhost=127.0.0.1:9\n\n").await;
    let took = t.elapsed();
    eprintln!("git-credential-hf get, autostart stuck on its lock: {took:?}");
    assert_silent(&r, "stuck autostart");
    assert!(took < Duration::from_secs(5), "{took:?}");
    drop(lock);
}
