//! Routing at the process level: the right token per repo, directory and CI job, with no global
//! switch. Real git (through `hf-auth setup-git`, so git sends the repo path) against a git server
//! that enforces per-namespace push permissions as the Hub does, `[[route]]` rules and scope from
//! realistic whoami bodies (org roles, fine-grained grants), `hf-auth which`, live reloads of
//! config.toml, Python's `hf auth` beside it all, and OIDC trusted publishing against the fake
//! Hub's token exchange and a fake GitHub Actions id-token endpoint.

use crate::git::{git, run_git, world};
use hf_auth_tests::fake_hub::{ACTIONS_ID_TOKEN, Account, FakeHub, Mode, Scoped, TOKEN};
use hf_auth_tests::git_server::{GitServer, Push};
use hf_auth_tests::procs::{Run, World};
use hf_auth_tests::python;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod oidc;

/// alice's personal token: writes to alice/*, only reads acme (roleInOrg "read").
const PERSONAL: &str = "hf_personal_PPPPPPPPPPPPPPPPPPPPPPPPPPPPPP";
/// The acme org's bot token (a classic write token of a member with write).
const ACME: &str = "hf_acmewrite_AAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
/// The beta org's bot token.
const BETA: &str = "hf_betawrite_BBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
/// alice's fine-grained token with repo.write on the org acme only.
const FINE: &str = "hf_finegrained_FFFFFFFFFFFFFFFFFFFFFFFFFFF";
/// alice's read token: pushes nowhere.
const READER: &str = "hf_reader_RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR";
/// Waiting longer than this for the daemon to notice a config edit means it never will.
const RELOAD_LIMIT: Duration = Duration::from_secs(10);

fn personal() -> Account {
    Account::user("alice").with_token_name("personal", "write").with_org_role("acme", "read")
}

fn acme_bot() -> Account {
    Account::user("acme-bot").with_token_name("acme-write", "write").with_orgs(["acme"])
}

/// The CI job's identity in the OIDC tests.
fn ci_bot() -> Account {
    Account::user("ci-bot").with_token_name("ci", "write").with_orgs(["acme"])
}

/// A fake Hub that knows every token above, and a git server in front of it (one `HF_ENDPOINT`
/// for whoami, the OIDC exchange and git) whose push rules match what each token may do.
struct Hub {
    hub: FakeHub,
    git: GitServer,
    _repos: tempfile::TempDir,
}

async fn hub() -> Hub {
    let hub = FakeHub::start().await;
    hub.add_token(PERSONAL, personal());
    hub.add_token(ACME, acme_bot());
    hub.add_token(BETA, Account::user("beta-bot").with_token_name("beta-write", "write").with_orgs(["beta"]));
    let fine = Account::user("alice").with_token_name("acme-fg", "fineGrained").with_scoped(Scoped::org_write("acme"));
    hub.add_token(FINE, fine);
    hub.add_token(READER, Account::user("alice").with_token_name("reader", "read").with_org_role("acme", "read"));
    let repos = tempfile::tempdir().expect("tempdir");
    let git = GitServer::start_with_hub(repos.path(), &hub.endpoint()).await;
    for (token, user, push) in [
        (PERSONAL, "alice", Push::to(&["alice"])),
        (ACME, "acme-bot", Push::to(&["acme"])),
        (BETA, "beta-bot", Push::to(&["beta"])),
        (FINE, "alice", Push::to(&["acme"])),
        (READER, "alice", Push::nowhere()),
    ] {
        git.allow_token_pushing(token, user, push);
    }
    for repo in ["acme/x.git", "alice/y.git", "beta/z.git"] {
        git.init_bare(repo).await;
    }
    Hub { hub, git, _repos: repos }
}

/// A git-ready world on `hub`'s endpoint: `config` (if any) written first, as a user setting up
/// would, then these tokens logged in, in order (the last one is active), then `setup-git`.
async fn shell(hub: &Hub, config: Option<&str>, logins: &[&str]) -> World {
    let mut w = world(&hub.git.url());
    if let Some(text) = config {
        write_config(&w, text);
    }
    for (k, v) in [("GIT_AUTHOR_NAME", "T"), ("GIT_AUTHOR_EMAIL", "t@example.com")] {
        w.set_env(k, v);
        w.set_env(&k.replace("AUTHOR", "COMMITTER"), v);
    }
    for token in logins {
        w.run("hf-auth", &["login", "--token", token], None).await.ok();
    }
    w.run("hf-auth", &["setup-git"], None).await.ok();
    let key = format!("credential.{}.useHttpPath", hub.git.url());
    let r = run_git(&w, &["config", "--global", "--get", &key], None).await.ok();
    assert_eq!(r.stdout(), "true\n", "setup-git makes git send the repo path");
    w
}

fn config_path(w: &World) -> PathBuf {
    w.dir.path().join("config").join("hf-auth").join("config.toml")
}

/// Writes config.toml atomically (as an editor's save would), returns the line of each `[[route]]`.
fn write_config(w: &World, text: &str) -> Vec<usize> {
    let path = config_path(w);
    std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir config");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write config");
    std::fs::rename(&tmp, &path).expect("rename config");
    text.lines().enumerate().filter(|(_, l)| l.trim() == "[[route]]").map(|(i, _)| i + 1).collect()
}

async fn status(w: &World) -> Value {
    let r = w.run("hf-auth", &["status", "--json"], None).await.ok();
    serde_json::from_str(&r.stdout()).unwrap_or_else(|e| panic!("status --json: {e}: {}", r.stdout()))
}

/// Polls `status` until `done` holds (the daemon saw the config edit), or panics.
async fn until_status(w: &World, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let st = status(w).await;
        if done(&st) {
            return st;
        }
        assert!(start.elapsed() < RELOAD_LIMIT, "{what}: not seen within {RELOAD_LIMIT:?}; status: {st}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn which(w: &World, args: &[&str]) -> Value {
    let mut all = vec!["which", "--json"];
    all.extend_from_slice(args);
    let r = w.run("hf-auth", &all, None).await.ok();
    serde_json::from_str(&r.stdout()).unwrap_or_else(|e| panic!("which --json: {e}: {}", r.stdout()))
}

/// Clones `repo` (e.g. `acme/x`) into `dir` under the home directory.
async fn clone(w: &World, hub: &Hub, repo: &str, dir: &str) {
    run_git(w, &["clone", "--quiet", &format!("{}/{repo}.git", hub.git.url()), dir], None).await.ok();
}

/// Commits a file in the clone `dir` and pushes it.
async fn push(w: &World, dir: &str, message: &str) -> Run {
    std::fs::write(w.home().join(dir).join(format!("{message}.txt")), message).expect("write");
    run_git(w, &["-C", dir, "add", "."], None).await.ok();
    run_git(w, &["-C", dir, "commit", "--quiet", "-m", message], None).await.ok();
    run_git(w, &["-C", dir, "push", "--quiet", "origin", "HEAD:refs/heads/main"], None).await
}

/// The tokens that pushed to `repo` (e.g. `acme/x`) since attempt number `mark`.
fn pushed_to(hub: &Hub, repo: &str, mark: usize) -> Vec<String> {
    let prefix = format!("/{repo}.git/");
    let attempts = hub.git.attempts();
    attempts[mark.min(attempts.len())..]
        .iter()
        .filter(|a| a.accepted && !a.forbidden && a.request.contains("git-receive-pack"))
        .filter(|a| a.request.contains(&prefix))
        .filter_map(|a| a.presented.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The commit subjects on `repo`'s main branch, newest first.
async fn log_of(w: &World, hub: &Hub, repo: &str) -> String {
    let dir = hub.git.repo_path(&format!("{repo}.git")).display().to_string();
    run_git(w, &["--git-dir", &dir, "log", "--format=%s", "main"], None).await.ok().stdout()
}

fn files(w: &World) -> (Option<String>, Option<String>) {
    (w.token_file(), w.stored_file())
}

const RULE_CONFIG: &str =
    "route_by_scope = false\n\n# the org's bot\n[[route]]\ntoken = \"acme-write\"\nrepos = [\"acme/*\"]\n";

// Real git, one shell, no `switch`: a rule sends acme/x to the org token, alice/y gets the
// personal (active) one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shell_pushes_to_an_org_and_a_personal_repo_by_rule() {
    let hub = hub().await;
    let w = shell(&hub, Some(RULE_CONFIG), &[ACME, PERSONAL]).await;
    let before = files(&w);
    assert_eq!(w.token_file().as_deref(), Some(PERSONAL));
    // The rule named a token not stored when the daemon started; the login made it good.
    let st = until_status(&w, "the rule checked after the login", |st| st["routes_error"].is_null()).await;
    assert_eq!(st["routes"], serde_json::json!(["#1 (line 4): acme-write for repos acme/*"]), "{st}");

    clone(&w, &hub, "acme/x", "x").await;
    clone(&w, &hub, "alice/y", "y").await;
    let mark = hub.git.attempts().len();
    push(&w, "x", "org").await.ok();
    push(&w, "y", "mine").await.ok();
    push(&w, "x", "org again").await.ok();
    assert_eq!(pushed_to(&hub, "acme/x", mark), [ACME]);
    assert_eq!(pushed_to(&hub, "alice/y", mark), [PERSONAL]);
    assert_eq!(log_of(&w, &hub, "acme/x").await, "org again\norg\n");
    assert_eq!(log_of(&w, &hub, "alice/y").await, "mine\n");
    assert_eq!(files(&w), before, "routing wrote nothing");

    let j = which(&w, &["--repo", "acme/x"]).await;
    assert_eq!((j["reason"].as_str(), j["name"].as_str()), (Some("rule"), Some("acme-write")), "{j}");
    assert_eq!(j["rule"], serde_json::json!({"index": 1, "line": 4}), "{j}");

    // A read token pushes nowhere: asked for by name, the push is refused (by the server, so
    // these pushes prove the server enforces what the routing avoids).
    w.run("hf-auth", &["login", "--token", READER], None).await.ok();
    w.run("hf-auth", &["switch", "--token-name", "personal"], None).await.ok();
    let mut w = w;
    w.set_env("HF_AUTH_TOKEN_NAME", "reader");
    let r = push(&w, "y", "read only").await;
    assert_ne!(r.code(), 0, "a read token cannot push");
    assert!(r.stderr().contains("403"), "{}", r.stderr());
    assert!(hub.git.attempts().iter().any(|a| a.forbidden && a.presented.as_deref() == Some(READER)));
}

// The same shell by scope: no rule; the personal token may only read acme, the fine-grained one
// may write there, so git's push to acme/x gets the fine-grained token and alice/y the personal
// one. Turned off live (`route_by_scope = false`), the push to acme/x is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shell_pushes_to_an_org_and_a_personal_repo_by_scope() {
    let hub = hub().await;
    let w = shell(&hub, None, &[FINE, PERSONAL]).await;
    let before = files(&w);
    // A fresh daemon, started by git's helper: no whoami answer is cached, so scope asks the Hub
    // within git's budget.
    w.run("hf-auth", &["daemon", "stop"], None).await.ok();
    clone(&w, &hub, "acme/x", "x").await;
    clone(&w, &hub, "alice/y", "y").await;
    let mark = hub.git.attempts().len();
    push(&w, "x", "org").await.ok();
    push(&w, "y", "mine").await.ok();
    assert_eq!(pushed_to(&hub, "acme/x", mark), [FINE]);
    assert_eq!(pushed_to(&hub, "alice/y", mark), [PERSONAL]);
    assert_eq!(files(&w), before, "routing wrote nothing");
    let j = which(&w, &["--repo", "acme/x", "--write"]).await;
    assert_eq!((j["reason"].as_str(), j["name"].as_str()), (Some("scope"), Some("acme-fg")), "{j}");
    let j = which(&w, &["--repo", "alice/y", "--write"]).await;
    assert_eq!((j["reason"].as_str(), j["name"].as_str()), (Some("active"), Some("personal")), "{j}");

    write_config(&w, "route_by_scope = false\n");
    until_status(&w, "route_by_scope = false", |st| st["route_by_scope"] == false).await;
    let r = push(&w, "x", "refused").await;
    assert_ne!(r.code(), 0, "the personal token cannot push to acme");
    assert!(r.stderr().contains("403"), "{}", r.stderr());
    let j = which(&w, &["--repo", "acme/x", "--write"]).await;
    assert_eq!(j["reason"], "active", "{j}");
}

// Two shells at once, pushing to different orgs, each routed by rule: both succeed every time
// and the active token (the token file) never changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_shells_push_to_different_orgs_and_the_active_token_never_changes() {
    let hub = hub().await;
    let config = "[[route]]\ntoken = \"acme-write\"\nrepos = [\"acme/*\"]\n\n[[route]]\ntoken = \"beta-write\"\nrepos = [\"beta/*\"]\n";
    let w = shell(&hub, Some(config), &[ACME, BETA, PERSONAL]).await;
    clone(&w, &hub, "acme/x", "x").await;
    clone(&w, &hub, "beta/z", "z").await;
    let before = files(&w);
    let mark = hub.git.attempts().len();
    for round in 0..3 {
        let (m1, m2) = (format!("acme {round}"), format!("beta {round}"));
        let (a, b) = tokio::join!(push(&w, "x", &m1), push(&w, "z", &m2));
        a.ok();
        b.ok();
        assert_eq!(files(&w), before, "round {round}: the token files changed");
    }
    assert_eq!(pushed_to(&hub, "acme/x", mark), [ACME]);
    assert_eq!(pushed_to(&hub, "beta/z", mark), [BETA]);
    assert_eq!(log_of(&w, &hub, "beta/z").await, "beta 2\nbeta 1\nbeta 0\n");
    let r = w.run("hf-auth", &["list"], None).await.ok();
    assert!(r.stdout().contains("* personal"), "{}", r.stdout());
}

// A rule's `dirs` applies to `hf-auth token` run from inside that directory (any depth), and
// not from a sibling whose name merely starts the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_directory_applies_to_hf_auth_token_run_inside_it() {
    let hub = hub().await;
    let w = shell(&hub, Some("[[route]]\ntoken = \"acme-write\"\ndirs = [\"~/work/acme\"]\n"), &[ACME, PERSONAL]).await;
    let inside = w.home().join("work/acme/models/deep");
    let sibling = w.home().join("work/acme-other");
    for d in [&inside, &sibling] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let token_in = |dir: PathBuf| {
        let w = &w;
        async move { w.run_in(&dir, "hf-auth", &["token"]).await.ok().stdout() }
    };
    assert_eq!(token_in(w.home().join("work/acme")).await.trim(), ACME);
    assert_eq!(token_in(inside.clone()).await.trim(), ACME);
    assert_eq!(token_in(sibling).await.trim(), PERSONAL);
    assert_eq!(token_in(w.home()).await.trim(), PERSONAL);
    let r = w.run_in(&inside, "hf-auth", &["which", "--json"]).await.ok();
    let j: Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!((j["reason"].as_str(), j["rule"]["line"].as_u64()), (Some("rule"), Some(1)), "{j}");
    // And git run there (here: `git credential fill`, for a repo no rule names) gets it too.
    let input = format!("protocol=http\nhost={}\npath=alice/y.git\n\n", hub.git.host());
    let mut cmd = w.command(git());
    cmd.current_dir(&inside).args(["credential", "fill"]);
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("password={ACME}")), "{out:?}");
}

// `hf-auth which` says why for each case, for people and as JSON, and an unknown name is an
// error everywhere (which, token, whoami, the environment, git's helper), never a fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn which_explains_env_name_rule_scope_and_active_and_an_unknown_name_is_an_error() {
    let hub = hub().await;
    let config = "# reader on the servers\n[[route]]\ntoken = \"reader\"\ndirs = [\"/srv/nowhere\"]\n\n[[route]]\ntoken = \"acme-write\"\nrepos = [\"acme/x\"]\n";
    let mut w = shell(&hub, Some(config), &[ACME, FINE, BETA, READER, PERSONAL]).await;
    until_status(&w, "rules checked", |st| st["routes_error"].is_null()).await;

    let cases: [(&[&str], &str, Option<&str>, &str); 6] = [
        (&[], "active", Some("personal"), "the active token"),
        (&["--repo", "alice/y", "--write"], "active", Some("personal"), "the active token"),
        (&["--token-name", "reader"], "name", Some("reader"), "asked for by name"),
        (&["--repo", "acme/x"], "rule", Some("acme-write"), "[[route]] rule #2 at line 6 of config.toml matches"),
        (&["--repo", "beta/z", "--write"], "scope", Some("beta-write"), "this is the one stored token that can"),
        // Two stored tokens could write to acme/other: none is chosen, and the note says why.
        (&["--repo", "acme/other", "--write"], "active", Some("personal"), "the active token"),
    ];
    for (args, reason, name, because) in cases {
        let j = which(&w, args).await;
        assert_eq!((j["reason"].as_str(), j["name"].as_str()), (Some(reason), name), "{args:?}: {j}");
        let masked = j["token"].as_str().unwrap_or_default();
        assert!(masked.starts_with("hf_") && masked.contains("****"), "{args:?}: {j}");
        let mut human = vec!["which"];
        human.extend_from_slice(args);
        let r = w.run("hf-auth", &human, None).await.ok();
        let text = r.stdout();
        assert!(text.contains(&format!("because: {because}")) || text.contains(because), "{args:?}: {text}");
        for secret in [PERSONAL, ACME, FINE, BETA, READER] {
            assert!(!text.contains(secret) && !j.to_string().contains(secret), "{args:?}: a whole token shown");
        }
    }
    let j = which(&w, &["--repo", "acme/x"]).await;
    assert_eq!(j["rule"], serde_json::json!({"index": 2, "line": 6}), "{j}");
    let j = which(&w, &["--repo", "acme/other", "--write"]).await;
    let notes = j["notes"].to_string();
    assert!(notes.contains("2 stored tokens can") && notes.contains("acme-fg"), "{j}");
    let r = w.run("hf-auth", &["which", "--repo", "acme/other", "--write"], None).await.ok();
    assert!(r.stdout().contains("note: the active token cannot write to acme/other"), "{}", r.stdout());

    w.set_env("HF_AUTH_TOKEN_NAME", "reader");
    assert_eq!(which(&w, &[]).await["reason"], "name");
    w.unset_env("HF_AUTH_TOKEN_NAME");
    w.set_env("HF_TOKEN", "hf_from_env_EEEEEEEEEEEEEEEEEEEEEEEEEEEE");
    let j = which(&w, &["--repo", "acme/x"]).await;
    assert_eq!((j["reason"].as_str(), j["name"].as_str()), (Some("env"), None), "the env token wins over rules: {j}");
    let r = w.run("hf-auth", &["which"], None).await.ok();
    assert!(r.stdout().contains("because: HF_TOKEN is set in this environment"), "{}", r.stdout());
    w.unset_env("HF_TOKEN");

    // Unknown names.
    let unknown = "no stored token is named \"nope\"";
    for args in [
        &["which", "--token-name", "nope"][..],
        &["token", "--token-name", "nope"],
        &["token", "--repo", "acme/x", "--token-name", "nope"],
        &["whoami", "--token-name", "nope"],
    ] {
        let r = w.run("hf-auth", args, None).await;
        assert_eq!((r.code(), r.stdout().as_str()), (1, ""), "{args:?}: {}", r.stderr());
        assert!(r.stderr().contains(unknown), "{args:?}: {}", r.stderr());
    }
    w.set_env("HF_AUTH_TOKEN_NAME", "nope");
    let r = w.run("hf-auth", &["token"], None).await;
    assert_eq!((r.code(), r.stdout().as_str()), (1, ""), "{}", r.stderr());
    assert!(r.stderr().contains(unknown) && r.stderr().contains("HF_AUTH_TOKEN_NAME"), "{}", r.stderr());
    let get = format!("protocol=http\nhost={}\npath=alice/y.git\n\n", hub.git.host());
    let r = w.run("git-credential-hf", &["get"], Some(&get)).await.ok();
    assert_eq!(r.stdout(), "", "git gets nothing rather than another token");
}

// A bad rule written while the daemon runs is reported with its line (status, the log), and
// the rules in force stay; a good edit then takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rule_written_while_running_is_reported_and_the_previous_rules_stay() {
    let hub = hub().await;
    let w =
        shell(&hub, Some("[[route]]\ntoken = \"acme-write\"\nrepos = [\"acme/*\"]\n"), &[ACME, BETA, PERSONAL]).await;
    let good = until_status(&w, "rules checked", |st| st["routes_error"].is_null()).await;
    let in_force = good["routes"].clone();
    let log = std::path::PathBuf::from(good["log"].as_str().expect("the daemon's log"));

    for (text, wanted) in [
        (
            "# the org\n\n\n\n[[route]]\ntoken = \"nope\"\nrepos = [\"acme/*\"]\n",
            "line 5: no stored token is named \"nope\"",
        ),
        ("[[route]]\ntoken = \"acme-write\"\nrepos = [\"acme/[x]\"]\n", "line 1: repo pattern \"acme/[x]\""),
        ("[[route]\ntoken = \"acme-write\"\n", "line 1"),
    ] {
        write_config(&w, text);
        let st = until_status(&w, wanted, |st| st["routes_error"].as_str().is_some_and(|e| e.contains(wanted))).await;
        assert_eq!(st["routes"], in_force, "the previous rules stay in force: {st}");
        let j = which(&w, &["--repo", "acme/x"]).await;
        assert_eq!((j["reason"].as_str(), j["name"].as_str()), (Some("rule"), Some("acme-write")), "{j}");
        let r = w.run("hf-auth", &["status"], None).await.ok();
        assert!(r.stdout().contains("routing rules NOT reloaded (the previous ones stay)"), "{}", r.stdout());
        assert!(r.stdout().contains(wanted), "{}", r.stdout());
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(logged.contains("the previous ones stay in force") && logged.contains(wanted), "{logged}");
    }

    write_config(&w, "[[route]]\ntoken = \"beta-write\"\nrepos = [\"acme/*\"]\n");
    let st = until_status(&w, "the good edit", |st| st["routes_error"].is_null()).await;
    assert_eq!(st["routes"], serde_json::json!(["#1 (line 1): beta-write for repos acme/*"]), "{st}");
    assert_eq!(which(&w, &["--repo", "acme/x"]).await["name"], "beta-write");
}

// Python's `hf auth` beside routing: routed answers never touch the files (byte for byte), and
// what Python does (whoami, get_token, list, switch) is what it always was; routing follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_hf_auth_keeps_working_beside_routing_and_routing_writes_no_file() {
    let (Some(hf), Some(py)) = (python::hf_cli(), python::python()) else { return };
    let hub = hub().await;
    let w = shell(&hub, Some("[[route]]\ntoken = \"acme-write\"\nrepos = [\"acme/*\"]\n"), &[ACME, PERSONAL]).await;
    until_status(&w, "rules checked", |st| st["routes_error"].is_null()).await;
    let bytes = |name: &str| std::fs::read(w.hf_home().join(name)).ok();
    let before = (bytes("token"), bytes("stored_tokens"));

    let get = format!("protocol=http\nhost={}\npath=acme/x.git\n\n", hub.git.host());
    let r = w.run("git-credential-hf", &["get"], Some(&get)).await.ok();
    assert!(r.stdout().contains(&format!("password={ACME}")), "{}", r.stdout());
    assert_eq!(w.run("hf-auth", &["token", "--repo", "acme/x"], None).await.ok().stdout().trim(), ACME);
    assert_eq!(w.run("hf-auth", &["token", "--token-name", "acme-write"], None).await.ok().stdout().trim(), ACME);
    let r = w.run("hf-auth", &["whoami", "--token-name", "acme-write", "--json"], None).await.ok();
    assert!(r.stdout().contains("\"acme-bot\""), "{}", r.stdout());
    which(&w, &["--repo", "acme/x"]).await;
    assert_eq!((bytes("token"), bytes("stored_tokens")), before, "routing wrote a file");

    // Python sees the active token, as it always did.
    let py_token = w.run_program(&py, &["-c", "from huggingface_hub import get_token; print(get_token())"], None);
    assert_eq!(py_token.await.ok().stdout().trim(), PERSONAL);
    let r = w.run_program(&hf, &["auth", "whoami"], None).await.ok();
    assert!(r.stdout().contains("alice"), "{}", r.stdout());
    let r = w.run_program(&hf, &["auth", "list"], None).await.ok();
    assert!(r.stdout().contains("acme-write") && r.stdout().contains("personal"), "{}", r.stdout());
    // Python switches; the rule still wins for acme, scope picks the personal token for alice/y.
    w.run_program(&hf, &["auth", "switch", "--token-name", "acme-write"], None).await.ok();
    assert_eq!(w.token_file().as_deref(), Some(ACME));
    let j = which(&w, &[]).await;
    assert_eq!((j["reason"].as_str(), j["name"].as_str()), (Some("active"), Some("acme-write")), "{j}");
    let j = which(&w, &["--repo", "alice/y", "--write"]).await;
    assert_eq!((j["reason"].as_str(), j["name"].as_str()), (Some("scope"), Some("personal")), "{j}");
    assert_eq!(w.run("hf-auth", &["token", "--repo", "acme/x"], None).await.ok().stdout().trim(), ACME);
    let after_switch = (bytes("token"), bytes("stored_tokens"));
    which(&w, &["--repo", "alice/y", "--write"]).await;
    w.run("hf-auth", &["token", "--repo", "alice/y"], None).await.ok();
    assert_eq!((bytes("token"), bytes("stored_tokens")), after_switch, "routing wrote a file");
    let py_token = w.run_program(&py, &["-c", "from huggingface_hub import get_token; print(get_token())"], None);
    assert_eq!(py_token.await.ok().stdout().trim(), ACME);
}
