//! Forwarding (`[forward]`) and the audit log, with real uids and a real OpenSSH:
//! - the forward socket's policy: `allow_uids` besides the owner, a third uid refused, the main
//!   socket still owner-only, `[forward] token` the only token handed out, the caller's paths and
//!   env token ignored, writes refused; and the audit log records each case, never a secret
//!   (container bind mounts reach the forward socket through `HF_AUTH_SOCKET` exactly so);
//! - `hf-auth ssh` to a second local account through sshd on 127.0.0.1: `hf-auth token`, `git
//!   clone`/`push` through git-credential-hf, login/logout refused, no token in any file there,
//!   and after the session the remote clients say the forward is gone.

use hf_auth_proto::pb;
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::git_server::GitServer;
use hf_auth_tests::harness::{TestDaemon, TestHome};
use hf_auth_tests::procs::{World, bin};
use hf_auth_tests::sshd::Sshd;
use hf_authd::config::{Config, ForwardConfig};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WRITE: &str = "hf_fwdW_WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW";
const READ: &str = "hf_fwdR_RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR";
const THIRD_UID: u32 = 65533;

fn can_switch_uids() -> bool {
    let ok = rustix::process::geteuid().is_root() && Path::new("/usr/bin/setpriv").exists();
    assert!(ok || std::env::var("CI").is_err(), "CI must run as root with setpriv to test other uids");
    if !ok {
        eprintln!("SKIPPED: not root or no setpriv");
    }
    ok
}

/// `hf-auth <args>` as `uid` (root: as is) against `socket`, with a scrubbed environment whose
/// paths name nothing real, and an `HF_TOKEN` of its own (a remote caller's, to be ignored).
async fn client_as(uid: u32, socket: &Path, endpoint: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = if uid == 0 {
        Command::new(bin("hf-auth"))
    } else {
        let mut c = Command::new("/usr/bin/setpriv");
        c.args([format!("--reuid={uid}"), format!("--regid={uid}"), "--clear-groups".into(), "--".into()])
            .arg(bin("hf-auth"));
        c
    };
    cmd.args(args)
        .env_clear()
        .env("HF_AUTH_SOCKET", socket)
        .env("HF_AUTH_NO_AUTOSTART", "1")
        .env("HOME", "/nonexistent/remote-home")
        .env("HF_ENDPOINT", endpoint)
        .env("HF_TOKEN", "hf_remote_callers_own_env_token_0000000000")
        .env("XDG_STATE_HOME", "/nonexistent/state");
    tokio::task::spawn_blocking(move || cmd.output().expect("spawn hf-auth")).await.expect("join")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The audit log's lines, once it has at least `n` (the writer is asynchronous).
async fn audit_lines(path: &Path, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..1000 {
        if let Ok(t) = std::fs::read_to_string(path)
            && t.lines().count() >= n
        {
            return t.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the audit log {} never had {n} lines: {:?}", path.display(), std::fs::read_to_string(path));
}

/// A directory like a container's `/run/hf-auth/` (root's, open to read) holding the forward
/// socket as `docker run -v` would: the same inode. Opened to all so the daemon's own check,
/// not file modes, is what refuses a third uid.
fn container_view(socket: &Path) -> (tempfile::TempDir, PathBuf) {
    let view = tempfile::Builder::new().prefix("hfctr").tempdir().unwrap();
    std::fs::set_permissions(view.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = view.path().join("hf-authd.sock");
    std::fs::hard_link(socket, &link).unwrap();
    std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o666)).unwrap();
    (view, link)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_forward_socket_unless_enabled() {
    let daemon = TestDaemon::start().await;
    assert!(daemon.socket.exists());
    assert!(!daemon.forward_socket().exists(), "[forward] is off by default");
    let st = daemon.client().await.status(pb::StatusRequest { context: None }).await.unwrap().into_inner();
    assert_eq!(st.forward_socket_path, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_policy_holds_for_real_uids_and_the_audit_log_records_each_case() {
    if !can_switch_uids() {
        return;
    }
    let hub = FakeHub::start().await;
    hub.add_token(WRITE, Account::user("alice").with_token_name("personal-write", "write"));
    hub.add_token(READ, Account::user("alice").with_token_name("cluster-read", "read"));
    let home = TestHome::new(&hub.endpoint());
    let config = Config {
        forward: ForwardConfig { enabled: true, token: Some("cluster-read".into()), allow_uids: vec![65534] },
        ..Config::default()
    };
    let preload = vec![(home.ctx.paths.clone(), hub.endpoint(), home.ctx.oauth_client_id.clone())];
    let daemon = TestDaemon::start_full(config, preload).await;
    let mut c = daemon.client().await;
    for t in [READ, WRITE] {
        c.login(pb::LoginRequest { context: home.context(), token: t.into() }).await.unwrap();
    }
    // Local: the active token (the last login), by the owner.
    let local = c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await.unwrap();
    assert_eq!(local.get_ref().token, WRITE);

    let fwd = daemon.forward_socket();
    let meta = std::fs::symlink_metadata(&fwd).expect("the forward socket exists");
    assert_eq!(meta.mode() & 0o777, 0o600, "same rules as the main socket");
    assert_eq!(std::fs::symlink_metadata(fwd.parent().unwrap()).unwrap().mode() & 0o777, 0o700);
    let st = c.status(pb::StatusRequest { context: None }).await.unwrap().into_inner();
    assert_eq!(PathBuf::from(&st.forward_socket_path), fwd);

    let (_view, link) = container_view(&fwd);
    let endpoint = hub.endpoint();
    // Root (container root) and an allowed uid get the forward token, whatever their own
    // paths and env token say.
    for uid in [0, 65534] {
        let out = client_as(uid, &link, &endpoint, &["token"]).await;
        assert_eq!((out.status.code(), text(&out.stdout).trim()), (Some(0), READ), "uid {uid}: {}", text(&out.stderr));
    }
    // A third uid: refused by the daemon (the socket is open to it here, as a careless mount might be).
    let out = client_as(THIRD_UID, &link, &endpoint, &["token"]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("forward socket serves uid 0 and [forward] allow_uids [65534] only"), "{err}");
    assert!(!text(&out.stdout).contains("hf_"), "nothing handed out");
    // With the socket's own mode (0600, as a bind mount keeps it) the kernel refuses it first.
    std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = client_as(THIRD_UID, &link, &endpoint, &["token"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("ermission denied"), "{}", text(&out.stderr));
    std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o666)).unwrap();
    // The main socket stays owner-only, allow_uids or not.
    let (_main_view, main_link) = container_view(&daemon.socket);
    let out = client_as(65534, &main_link, &endpoint, &["token"]).await;
    assert!(text(&out.stderr).contains("serves uid 0 only; this request came from uid 65534"), "{}", text(&out.stderr));

    // `[forward] token` is the only token: another name is refused, and List shows only it.
    let out = client_as(0, &link, &endpoint, &["token", "--token-name", "personal-write"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("only the token \"cluster-read\" is forwarded"), "{}", text(&out.stderr));
    let out = client_as(0, &link, &endpoint, &["list", "--json"]).await;
    let listed = text(&out.stdout);
    assert!(listed.contains("cluster-read") && !listed.contains("personal-write"), "{listed}");
    // Read-only: every write is refused with a clear message, and nothing changes.
    for args in [&["login", "--token", WRITE][..], &["logout"], &["switch", "--token-name", "cluster-read"]] {
        let out = client_as(0, &link, &endpoint, args).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("is not available through a forwarded hf-authd"), "{args:?}: {err}");
    }
    let out = client_as(0, &link, &endpoint, &["daemon", "stop"]).await;
    assert_ne!(out.status.code(), Some(0), "a forwarded caller cannot stop the daemon: {}", text(&out.stderr));
    assert!(home.stored_file().is_some_and(|s| String::from_utf8_lossy(&s).contains("personal-write")));
    c.status(pb::StatusRequest { context: None }).await.expect("still serving");

    // The audit log: every handout and refusal, who and why, never a secret.
    let lines = audit_lines(&daemon.audit_log, 9).await;
    let raw = std::fs::read_to_string(&daemon.audit_log).unwrap();
    for secret in [WRITE, READ, "hf_remote_callers_own_env_token"] {
        assert!(!raw.contains(secret), "the audit log holds a secret: {raw}");
    }
    assert_eq!(std::fs::metadata(&daemon.audit_log).unwrap().mode() & 0o777, 0o600);
    let find = |pred: &dyn Fn(&serde_json::Value) -> bool| lines.iter().any(pred);
    assert!(
        find(&|l| l["event"] == "handout"
            && l["via"] == "local"
            && l["token_name"] == "personal-write"
            && l["why"] == "active"),
        "{raw}"
    );
    for uid in [0, 65534] {
        assert!(
            find(&|l| l["event"] == "handout"
                && l["via"] == "forwarded"
                && l["uid"] == uid
                && l["token_name"] == "cluster-read"
                && l["why"] == "name"
                && l["endpoint"] == endpoint.as_str()
                && l["exe"].as_str().is_some_and(|e| e.ends_with("/hf-auth"))),
            "uid {uid}: {raw}"
        );
    }
    assert!(find(&|l| l["event"] == "refused" && l["uid"] == THIRD_UID), "{raw}");
    assert!(find(&|l| l["event"] == "refused" && l["rpc"] == "login"), "{raw}");
    assert!(find(&|l| l["event"] == "refused" && l["rpc"] == "logout"), "{raw}");
    assert!(find(&|l| l["event"] == "refused" && l["rpc"] == "Resolve"), "only one token: {raw}");

    // `hf-auth audit --json` (the owner, on the main socket) parses, newest first.
    let out = client_as(0, &daemon.socket, &endpoint, &["audit", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("audit --json is a JSON array");
    assert!(entries.len() >= 9);
    let times: Vec<&str> = entries.iter().filter_map(|e| e["time"].as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let out = client_as(0, &daemon.socket, &endpoint, &["audit", "--since", "1h"]).await;
    let table = text(&out.stdout);
    assert!(table.contains("cluster-read") && table.contains("forwarded") && table.contains("TOKEN"), "{table}");
    assert!(!table.contains(READ));
}

/// Every regular file under `dir` that contains `needle` (read as root).
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for e in entries.flatten() {
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => found.extend(files_containing(&path, needle)),
            Ok(t)
                if t.is_file() && std::fs::read(&path).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle)) =>
            {
                found.push(path);
            }
            _ => {}
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hf_auth_ssh_serves_the_remote_machine_without_copying_the_token() {
    let sshd = match Sshd::start() {
        Ok(s) => s,
        Err(why) => {
            assert!(std::env::var("CI").is_err(), "CI must run sshd for the forwarding tests: {why}");
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let (remote_uid, remote_home) = hf_auth_tests::sshd::remote_account().unwrap();
    // The remote machine's account starts with no tokens and no forward left from a previous run.
    let _ = std::fs::remove_dir_all(remote_home.join(".cache"));
    let _ = std::fs::remove_dir_all(remote_home.join("work"));
    let remote_dir = PathBuf::from(format!("/tmp/hf-auth-{remote_uid}"));
    let _ = std::fs::remove_dir_all(&remote_dir);

    let hub = FakeHub::start().await;
    hub.add_token(WRITE, Account::user("alice").with_token_name("lab-write", "write").with_orgs(["lab"]));
    let repos = tempfile::tempdir().unwrap();
    let server = GitServer::start_with_hub(repos.path(), &hub.endpoint()).await;
    server.allow_token(WRITE, "alice");
    let url = server.init_bare("lab/model.git").await;

    let mut w = World::new(&server.url());
    let config_dir = w.dir.path().join("config").join("hf-auth");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("config.toml"), "[forward]\nenabled = true\ntoken = \"lab-write\"\n").unwrap();
    w.set_env("HF_AUTH_SSH", "/usr/bin/ssh");
    w.run("hf-auth", &["login", "--token", WRITE], None).await.ok();

    let bins = bin("hf-auth").parent().unwrap().display().to_string();
    let env = format!(
        "export PATH={bins}:$PATH HF_ENDPOINT={endpoint} GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1 \
         GIT_CONFIG_COUNT=4 GIT_CONFIG_KEY_0=credential.helper GIT_CONFIG_VALUE_0=hf \
         GIT_CONFIG_KEY_1=credential.useHttpPath GIT_CONFIG_VALUE_1=true \
         GIT_CONFIG_KEY_2=user.name GIT_CONFIG_VALUE_2=T GIT_CONFIG_KEY_3=user.email GIT_CONFIG_VALUE_3=t@example.com; cd \"$HOME\"",
        endpoint = server.url()
    );
    let script = format!(
        "{env}; echo \"TOKEN=$(hf-auth token)\"; \
         out=$(hf-auth login --token {WRITE} 2>&1); echo \"LOGIN=$? $out\"; \
         out=$(hf-auth logout 2>&1); echo \"LOGOUT=$? $out\"; \
         git clone -q {url} work && cd work && echo one > one.txt && git add one.txt && git commit -qm one && \
         git push -q origin HEAD:refs/heads/main; echo \"PUSH=$?\""
    );
    let mut args: Vec<String> = vec!["ssh".into()];
    args.extend(sshd.ssh_options());
    args.push(sshd.host().into());
    args.push(script);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = tokio::time::timeout(Duration::from_secs(120), w.run("hf-auth", &args, None))
        .await
        .expect("hf-auth ssh finished");
    let (out, err) = (r.stdout(), r.stderr());
    let ctx = format!("stdout:\n{out}\nstderr:\n{err}\nsshd:\n{}", sshd.log());
    assert_eq!(r.code(), 0, "{ctx}");
    assert!(out.contains(&format!("TOKEN={WRITE}\n")), "{ctx}");
    assert!(out.contains("LOGIN=1 ") && out.contains("login is not available through a forwarded hf-authd"), "{ctx}");
    assert!(out.contains("LOGOUT=1 ") && out.contains("logout is not available through a forwarded hf-authd"), "{ctx}");
    assert!(out.contains("PUSH=0"), "{ctx}");
    assert!(server.attempts().iter().any(|a| a.presented.as_deref() == Some(WRITE)), "git used the forwarded token");
    // The token is still there at home (logout was refused), and nowhere on the remote.
    assert!(w.stored_file().is_some_and(|s| s.contains("lab-write")));
    assert_eq!(files_containing(&remote_home, WRITE), Vec::<PathBuf>::new(), "a token file on the remote");
    assert_eq!(files_containing(&remote_dir, WRITE), Vec::<PathBuf>::new());
    let meta = std::fs::symlink_metadata(&remote_dir).expect("the remote socket directory");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (remote_uid, 0o700));

    // The session is over: remote clients say the forward is gone, and start no daemon there.
    let mut plain = Command::new("/usr/bin/ssh");
    plain.args(sshd.ssh_options()).arg(sshd.host()).arg(format!("{env}; hf-auth token; echo \"CODE=$?\""));
    let after = tokio::task::spawn_blocking(move || plain.output().unwrap()).await.unwrap();
    let (out, err) = (text(&after.stdout), text(&after.stderr));
    assert!(out.contains("CODE=1"), "stdout {out}\nstderr {err}");
    assert!(err.contains("forwarded here by `hf-auth ssh` is gone"), "stderr {err}");
    assert!(!remote_dir.join("hf-authd.sock.pid").exists(), "no daemon was started on the remote");

    // The audit log at home: the forwarded handouts (through ssh) and the refusals.
    let log = w.dir.path().join("state").join("hf-auth").join("audit.log");
    let lines = audit_lines(&log, 3).await;
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(!raw.contains(WRITE), "{raw}");
    assert!(
        lines.iter().any(|l| l["event"] == "handout"
            && l["via"] == "forwarded"
            && l["token_name"] == "lab-write"
            && l["exe"].as_str().is_some_and(|e| e.ends_with("/ssh"))),
        "{raw}"
    );
    assert!(lines.iter().any(|l| l["event"] == "refused" && l["rpc"] == "login"), "{raw}");
}

/// A container of a non-root owner's daemon, without docker: hf-authd runs as `nobody`, its
/// forward socket is hard-linked into a root-owned directory (a bind mount's view), and clients
/// of three uids are pointed at it with `HF_AUTH_SOCKET`: root (`allow_uids = [0]`) and the
/// owner are served; a third uid is refused; root on the main socket is refused (owner-only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mounted_forward_socket_serves_root_and_the_owner_and_refuses_a_third_uid() {
    if !can_switch_uids() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("hfown").tempdir().unwrap();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    for sub in ["run", "home", "hf", "state", "config"] {
        std::fs::create_dir(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("config").join("config.toml"), "[forward]\nenabled = true\nallow_uids = [0]\n").unwrap();
    std::fs::write(d.join("hf").join("token"), READ).unwrap();
    let nobody = Some(rustix::process::Uid::from_raw(65534));
    let group = Some(rustix::process::Gid::from_raw(65534));
    for p in ["run", "home", "hf", "hf/token", "state", "config", "config/config.toml"] {
        rustix::fs::chown(d.join(p), nobody, group).unwrap();
    }
    std::fs::set_permissions(d.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = d.join("run").join("hf-authd.sock");
    let mut daemon = Command::new("/usr/bin/setpriv");
    daemon
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin("hf-authd"))
        .arg("--socket")
        .arg(&socket)
        .arg("--config")
        .arg(d.join("config").join("config.toml"))
        .arg("--print-ready")
        .env_clear()
        .env("HOME", d.join("home"))
        .env("HF_HOME", d.join("hf"))
        .env("XDG_STATE_HOME", d.join("state"))
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = daemon.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        line
    });
    let line = tokio::time::timeout(Duration::from_secs(20), ready).await.expect("ready in time").unwrap();
    assert!(line.starts_with("ready"), "hf-authd as nobody did not start: {line:?}");

    let fwd = hf_auth_proto::socket::forward_socket_path(&socket);
    let (_view, link) = container_view(&fwd);
    std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o600)).unwrap();
    let endpoint = "http://127.0.0.1:9";
    for uid in [0, 65534] {
        let out = client_as(uid, &link, endpoint, &["token"]).await;
        assert_eq!((out.status.code(), text(&out.stdout).trim()), (Some(0), READ), "uid {uid}: {}", text(&out.stderr));
    }
    // A third uid: the socket's mode stops it; opened up, the daemon (and its own client) does.
    let out = client_as(THIRD_UID, &link, endpoint, &["token"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = client_as(THIRD_UID, &link, endpoint, &["token"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(READ));
    // Root on the main socket: owner-only, whatever allow_uids says.
    let (_main_view, main_link) = container_view(&socket);
    let out = client_as(0, &main_link, endpoint, &["token"]).await;
    assert!(text(&out.stderr).contains("serves uid 65534 only; this request came from uid 0"), "{}", text(&out.stderr));
    let audit = d.join("state").join("hf-auth").join("audit.log");
    let lines = audit_lines(&audit, 2).await;
    assert!(lines.iter().any(|l| l["uid"] == 0 && l["via"] == "forwarded" && l["event"] == "handout"));
    assert_eq!(std::fs::metadata(&audit).unwrap().uid(), 65534);
    let _ = child.kill();
    let _ = child.wait();
}

/// `hf-auth audit` right after handouts lists every one of them: the writer batches lines (it
/// lingers between batches instead of waking per request), and `Status` waits for what is queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hf_auth_audit_lists_the_handouts_made_just_before_it() {
    let w = World::new("http://127.0.0.1:9");
    std::fs::write(w.hf_home().join("token"), WRITE).unwrap();
    for _ in 0..5 {
        let r = w.run("hf-auth", &["token"], None).await.ok();
        assert_eq!(r.stdout().trim(), WRITE);
    }
    let r = w.run("hf-auth", &["audit", "--json"], None).await.ok();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&r.stdout()).expect("audit --json is a JSON array");
    let handouts = entries.iter().filter(|e| e["event"] == "handout" && e["rpc"] == "Resolve").count();
    assert_eq!(handouts, 5, "{entries:?}");
    assert!(!r.stdout().contains(WRITE), "the audit log holds the secret");
}

/// `[forward] token` holds for git too: a request naming another account (git's `username=`,
/// which a remote `git push https://alice@…` sends) still gets only the forwarded token, whether
/// the daemon already knows who owns each token or has to ask the Hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_git_request_naming_another_account_gets_only_the_forward_token() {
    let hub = FakeHub::start().await;
    hub.add_token(WRITE, Account::user("alice").with_token_name("personal-write", "write"));
    hub.add_token(READ, Account::user("lab-bot").with_token_name("cluster-read", "read"));
    let home = TestHome::new(&hub.endpoint());
    let config = Config {
        forward: ForwardConfig { enabled: true, token: Some("cluster-read".into()), allow_uids: vec![] },
        ..Config::default()
    };
    let preload = vec![(home.ctx.paths.clone(), hub.endpoint(), home.ctx.oauth_client_id.clone())];
    let daemon = TestDaemon::start_full(config, preload).await;
    let mut c = daemon.client().await;
    for t in [WRITE, READ] {
        c.login(pb::LoginRequest { context: home.context(), token: t.into() }).await.unwrap();
    }
    let host = hub.endpoint().trim_start_matches("http://").to_owned();
    let get = |username: &str| {
        let mut cmd = Command::new(bin("git-credential-hf"));
        cmd.arg("get")
            .env_clear()
            .env("HF_AUTH_SOCKET", daemon.forward_socket())
            .env("HF_AUTH_NO_AUTOSTART", "1")
            .env("HOME", "/nonexistent/remote-home")
            .env("HF_ENDPOINT", hub.endpoint())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let request = format!("protocol=http\nhost={host}\nusername={username}\n\n");
        async move {
            tokio::task::spawn_blocking(move || {
                use std::io::Write;
                let mut child = cmd.spawn().expect("spawn git-credential-hf");
                child.stdin.take().unwrap().write_all(request.as_bytes()).unwrap();
                child.wait_with_output().unwrap()
            })
            .await
            .unwrap()
        }
    };
    // First with nothing cached (the daemon would ask the Hub who owns each token), then again.
    for round in ["cold", "warm"] {
        for username in ["alice", "lab-bot"] {
            let out = get(username).await;
            let answer = text(&out.stdout);
            assert!(!answer.contains(WRITE), "{round}, username={username}: a token not forwarded: {answer}");
            assert!(
                answer.contains(&format!("password={READ}\n")),
                "{round}, {username}: {answer}{}",
                text(&out.stderr)
            );
        }
    }
    // Locally, git's account still picks its own token.
    let local =
        c.resolve(pb::ResolveRequest { context: home.context(), username: "alice".into() }).await.unwrap().into_inner();
    assert_eq!(local.token, WRITE);
}
