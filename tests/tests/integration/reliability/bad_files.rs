//! Hostile files: a table of `stored_tokens` (and token files) no program should trust — invalid
//! UTF-8, a BOM, duplicate sections, 100 MB, a directory, a FIFO, a symlink to another user's file.
//! For each: `Resolve` and `List` answer at once with a clear error or the documented fallback, the
//! daemon keeps serving other homes, and a login never destroys the file: it is refused (the file
//! untouched) or the file is backed up byte for byte first.
//!
//! The documented fallbacks (daemon/src/store/disk.rs): an unreadable or unparseable
//! `stored_tokens` lists as empty, as huggingface_hub reads it; the active token comes from the
//! token file alone, so `Resolve` is unaffected; an unparseable file is backed up before a rewrite;
//! an unreadable one (not a regular file, too large, not ours) is never written. A daemon running as
//! root takes no other user's file either, through a symlink or not (daemon/src/secure_fs/).

use super::{connect, context_for, private_run_dir};
use hf_auth::connect::Client;
use hf_auth_proto::pb;
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::harness::TestDaemon;
use hf_auth_tests::procs::bin;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};
use tonic::Code;

const ACTIVE: &str = "hf_active_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const FRESH: &str = "hf_fresh_FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF";
/// Every answer about a bad file must come at least this fast (it is local; a FIFO must not block).
const FAST: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Login {
    /// Unparseable but readable: copied aside byte for byte, then rewritten.
    BacksUp,
    /// Not a file we may read: refused, nothing written anywhere.
    Refused,
}

/// Puts something bad at a path.
type Make = fn(&Path);

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o600), 0)
        .expect("mkfifo");
}

fn bad_stored_tokens() -> Vec<(&'static str, Make, Login)> {
    vec![
        ("invalid UTF-8", |p| std::fs::write(p, b"[a]\nhf_token = hf_\xff\xfe_not_utf8\n\n").unwrap(), Login::BacksUp),
        ("UTF-8 BOM", |p| std::fs::write(p, b"\xef\xbb\xbf[a]\nhf_token = hf_bom_token\n\n").unwrap(), Login::BacksUp),
        (
            "duplicate sections",
            |p| std::fs::write(p, "[a]\nhf_token = hf_one\n\n[a]\nhf_token = hf_two\n\n").unwrap(),
            Login::BacksUp,
        ),
        (
            "100 MB (sparse)",
            |p| {
                std::fs::write(p, "[a]\nhf_token = hf_big\n\n").unwrap();
                std::fs::OpenOptions::new().write(true).open(p).unwrap().set_len(100 << 20).unwrap();
            },
            Login::Refused,
        ),
        (
            "a directory",
            |p| {
                std::fs::create_dir(p).unwrap();
                std::fs::write(p.join("inside"), "precious").unwrap();
            },
            Login::Refused,
        ),
        ("a FIFO", mkfifo, Login::Refused),
    ]
}

/// What is at `path`, in enough detail to tell whether anything changed.
fn fingerprint(path: &Path) -> String {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return "missing".into() };
    let ft = meta.file_type();
    if ft.is_dir() {
        let mut entries: Vec<String> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                format!("{}={:?}", e.file_name().to_string_lossy(), std::fs::read(e.path()).ok())
            })
            .collect();
        entries.sort();
        return format!("dir {entries:?}");
    }
    if ft.is_fifo() {
        return format!("fifo ino {}", meta.ino());
    }
    if meta.len() > 1 << 20 {
        use std::io::Read;
        let mut head = vec![0; 4096];
        let n = std::fs::File::open(path).unwrap().read(&mut head).unwrap();
        return format!("file ino {} len {} head {:?}", meta.ino(), meta.len(), &head[..n]);
    }
    format!("file {:?}", std::fs::read(path).unwrap())
}

async fn timed<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    let start = Instant::now();
    let out = tokio::time::timeout(FAST * 5, fut).await.unwrap_or_else(|_| panic!("{what} blocked"));
    assert!(start.elapsed() < FAST, "{what} took {:?}", start.elapsed());
    out
}

/// A home that is fine, served by the same daemon throughout.
async fn assert_good_home_served(c: &mut Client, good: &pb::ClientContext, case: &str) {
    let r = timed(
        "resolve of a good home",
        c.resolve(pb::ResolveRequest { context: Some(good.clone()), username: String::new() }),
    )
    .await;
    assert_eq!(r.unwrap_or_else(|e| panic!("{case}: good home: {e:?}")).into_inner().token, "hf_good_token", "{case}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stored_tokens_files_get_clear_answers_and_are_never_destroyed() {
    let hub = FakeHub::start().await;
    hub.add_token(FRESH, Account::user("alice").with_token_name("fresh", "write"));
    let daemon = TestDaemon::start().await;
    let mut c = connect(&daemon.socket).await;
    let good_dir = tempfile::tempdir().unwrap();
    std::fs::write(good_dir.path().join("token"), "hf_good_token").unwrap();
    let good = context_for(good_dir.path(), &hub.endpoint());
    assert_good_home_served(&mut c, &good, "before").await;

    for (case, make, login) in bad_stored_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let stored = dir.path().join("stored_tokens");
        make(&stored);
        std::fs::write(dir.path().join("token"), ACTIVE).unwrap();
        let before = fingerprint(&stored);
        let ctx = context_for(dir.path(), &hub.endpoint());

        // Resolve: the token file alone decides; List: the documented empty fallback.
        let r =
            timed(case, c.resolve(pb::ResolveRequest { context: Some(ctx.clone()), username: String::new() })).await;
        let r = r.unwrap_or_else(|e| panic!("{case}: Resolve failed: {e:?}")).into_inner();
        assert_eq!((r.token.as_str(), r.name.as_str()), (ACTIVE, ""), "{case}: Resolve");
        let l = timed(case, c.list(pb::ListRequest { context: Some(ctx.clone()) })).await;
        let l = l.unwrap_or_else(|e| panic!("{case}: List failed: {e:?}")).into_inner();
        assert!(l.tokens.is_empty(), "{case}: List shows {:?}", l.tokens);
        // ... but never a silent one: the answer says why, and what will happen to the file.
        let problem = &l.stored_tokens_problem;
        let expected = match login {
            Login::Refused => "cannot be read",
            Login::BacksUp => "backed up beside itself before anything rewrites it",
        };
        assert!(problem.starts_with("stored_tokens ") && problem.contains(expected), "{case}: {problem:?}");
        assert_good_home_served(&mut c, &good, case).await;

        let r = timed(case, c.login(pb::LoginRequest { context: Some(ctx.clone()), token: FRESH.into() })).await;
        match login {
            Login::Refused => {
                let e = r.expect_err(&format!("{case}: a login must be refused"));
                assert_eq!(e.code(), Code::FailedPrecondition, "{case}: {e:?}");
                assert!(
                    e.message().contains(&stored.display().to_string()) && e.message().contains("left untouched"),
                    "{case}: the error must name the file and say it was left alone: {}",
                    e.message()
                );
                assert!(!e.message().contains(FRESH) && !e.message().contains(ACTIVE), "{case}: token in an error");
                assert_eq!(fingerprint(&stored), before, "{case}: the file changed");
                assert_eq!(std::fs::read_to_string(dir.path().join("token")).unwrap(), ACTIVE, "{case}: token file");
                let e = c
                    .switch(pb::SwitchRequest { context: Some(ctx.clone()), token_name: "a".into() })
                    .await
                    .expect_err("switch reads the file: refused too");
                assert_eq!(e.code(), Code::FailedPrecondition, "{case}: switch: {e:?}");
                assert_eq!(fingerprint(&stored), before, "{case}: the file changed on switch");
            }
            Login::BacksUp => {
                let r = r.unwrap_or_else(|e| panic!("{case}: login failed: {e:?}")).into_inner();
                assert!(!r.backup_path.is_empty(), "{case}: the unparseable file was rewritten without a backup");
                let backup = Path::new(&r.backup_path);
                assert_eq!(format!("file {:?}", std::fs::read(backup).unwrap()), before, "{case}: backup bytes");
                assert_eq!(std::fs::metadata(backup).unwrap().permissions().mode() & 0o777, 0o600, "{case}");
                let now = super::parsed_sections(&std::fs::read(&stored).unwrap()).expect("rewritten file parses");
                assert_eq!(now, [("fresh".to_owned(), FRESH.to_owned())], "{case}: rewritten file");
                assert_eq!(std::fs::read_to_string(dir.path().join("token")).unwrap(), FRESH, "{case}: token file");
            }
        }
        eprintln!("bad stored_tokens, {case}: Resolve/List answered, login {login:?}, nothing destroyed");
    }
    assert_good_home_served(&mut c, &good, "after").await;
    daemon.stop().await.expect("the daemon stops cleanly after the table");
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_files_get_clear_errors_and_the_daemon_keeps_serving() {
    let daemon = TestDaemon::start().await;
    let mut c = connect(&daemon.socket).await;
    let good_dir = tempfile::tempdir().unwrap();
    std::fs::write(good_dir.path().join("token"), "hf_good_token").unwrap();
    let good = context_for(good_dir.path(), "http://127.0.0.1:9");
    let cases: [(&str, Make, &str); 3] = [
        ("invalid UTF-8", |p| std::fs::write(p, b"hf_\xff\xfe").unwrap(), "is not valid UTF-8"),
        ("a FIFO", mkfifo, "is not a regular file"),
        ("a directory", |p| std::fs::create_dir(p).unwrap(), "is a directory"),
    ];
    for (case, make, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stored_tokens"), "[a]\nhf_token = hf_a\n\n").unwrap();
        let token = dir.path().join("token");
        make(&token);
        let before = fingerprint(&token);
        let ctx = context_for(dir.path(), "http://127.0.0.1:9");
        let r =
            timed(case, c.resolve(pb::ResolveRequest { context: Some(ctx.clone()), username: String::new() })).await;
        let e = r.expect_err(&format!("{case}: Resolve of an unreadable token file must fail"));
        assert_eq!(e.code(), Code::FailedPrecondition, "{case}: {e:?}");
        assert!(e.message().contains(&token.display().to_string()) && e.message().contains(says), "{case}: {e:?}");
        // List still answers: the stored tokens are fine, nothing is starred.
        let l = timed(case, c.list(pb::ListRequest { context: Some(ctx.clone()) })).await.expect("list").into_inner();
        assert_eq!(l.tokens.iter().map(|t| (t.name.as_str(), t.active)).collect::<Vec<_>>(), [("a", false)], "{case}");
        assert_good_home_served(&mut c, &good, case).await;
        assert_eq!(fingerprint(&token), before, "{case}: reading changed the token file");
    }
    daemon.stop().await.expect("the daemon stops cleanly");
}

/// `stored_tokens` is a symlink to a file another user owns. The daemon runs as a normal user
/// (`nobody`; root may read anything, so the check is only meaningful for a normal user) and its
/// clients too; the other user is root. The file must be refused, never read, never written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_to_another_users_file_is_refused_and_left_alone() {
    let Some(setpriv) = as_nobody_available() else { return };
    let hub = FakeHub::start().await;
    hub.add_token(FRESH, Account::user("alice").with_token_name("fresh", "write"));
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let nobody = || (Some(rustix::process::Uid::from_raw(65534)), Some(rustix::process::Gid::from_raw(65534)));
    let run = private_run_dir(t.path());
    let home = t.path().join("hf");
    std::fs::create_dir(&home).unwrap();
    // The other user's file: readable by all, so only the ownership check protects it.
    let foreign_dir = t.path().join("root-owned");
    std::fs::create_dir(&foreign_dir).unwrap();
    std::fs::set_permissions(&foreign_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let foreign = foreign_dir.join("stored_tokens");
    std::fs::write(&foreign, "[root-secret]\nhf_token = hf_root_RRRRRRRRRRRRRRRRRRRR\n\n").unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&foreign, home.join("stored_tokens")).unwrap();
    std::fs::write(home.join("token"), ACTIVE).unwrap();
    for p in [&run, &home, &home.join("token")] {
        let (u, g) = nobody();
        rustix::fs::chown(p.as_path(), u, g).unwrap();
    }
    std::os::unix::fs::lchown(home.join("stored_tokens"), Some(65534), Some(65534)).unwrap();
    let before = (fingerprint(&foreign), std::fs::metadata(&foreign).unwrap().uid());
    let socket = run.join("hf-authd.sock");
    let env = |cmd: &mut std::process::Command| {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &run)
            .env("HF_HOME", &home)
            .env("HF_ENDPOINT", hub.endpoint())
            .env("HF_AUTH_SOCKET", &socket)
            .env("HF_AUTH_NO_AUTOSTART", "1")
            .stdin(std::process::Stdio::null());
    };
    let as_nobody = |program: &Path| {
        let mut cmd = std::process::Command::new(&setpriv);
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(program);
        env(&mut cmd);
        cmd
    };
    let mut daemon = as_nobody(&bin("hf-authd"))
        .arg("--socket")
        .arg(&socket)
        .arg("--print-ready")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(t.path().join("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(daemon.stdout.take().unwrap()), &mut line).unwrap();
    assert!(
        line.starts_with("ready"),
        "hf-authd did not start as nobody: {line:?}; its stderr: {}",
        std::fs::read_to_string(t.path().join("daemon.log")).unwrap_or_default()
    );
    let run_cli = |args: &[&str]| {
        let mut cmd = as_nobody(&bin("hf-auth"));
        cmd.args(args);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
    };
    let token = run_cli(&["token"]).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&token.stdout).trim(), ACTIVE, "{}", String::from_utf8_lossy(&token.stderr));
    let list = run_cli(&["list"]).await.unwrap();
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let shown = format!("{}{}", String::from_utf8_lossy(&list.stdout), String::from_utf8_lossy(&list.stderr));
    assert!(!shown.contains("root-secret") && !shown.contains("hf_root"), "the foreign file was read: {shown}");
    let login = run_cli(&["login", "--token", FRESH]).await.unwrap();
    let stderr = String::from_utf8_lossy(&login.stderr);
    assert_eq!(login.status.code(), Some(1), "a login must be refused: {stderr}");
    assert!(stderr.contains("owned by uid 0") && stderr.contains("left untouched"), "{stderr}");
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!((fingerprint(&foreign), std::fs::metadata(&foreign).unwrap().uid()), before, "the foreign file changed");
    assert!(std::fs::symlink_metadata(home.join("stored_tokens")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(home.join("token")).unwrap(), ACTIVE);
    hub.shutdown().await;
}

/// The same symlink when the daemon runs as root, which could read any file: the other user's
/// file is neither read nor written (once, the atomic rename replaced it with a root-owned 0600
/// file, so its owner could no longer read their own tokens), and a login is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_root_a_symlink_to_another_users_file_is_refused_and_left_theirs() {
    if !rustix::process::geteuid().is_root() {
        assert!(std::env::var("CI").is_err(), "CI runs as root");
        eprintln!("SKIPPED: not root");
        return;
    }
    let hub = FakeHub::start().await;
    hub.add_token(FRESH, Account::user("alice").with_token_name("fresh", "write"));
    let daemon = TestDaemon::start().await;
    let mut c = connect(&daemon.socket).await;
    let t = tempfile::tempdir().unwrap();
    let (home, other) = (t.path().join("hf"), t.path().join("other"));
    std::fs::create_dir(&home).unwrap();
    std::fs::create_dir(&other).unwrap();
    let foreign = other.join("stored_tokens");
    std::fs::write(&foreign, "[theirs]\nhf_token = hf_theirs_TTTTTTTTTTTTTTTTTTTT\n\n").unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    std::os::unix::fs::symlink(&foreign, home.join("stored_tokens")).unwrap();
    let ctx = context_for(&home, &hub.endpoint());
    let before = fingerprint(&foreign);
    let l = c.list(pb::ListRequest { context: Some(ctx.clone()) }).await.expect("list").into_inner();
    assert!(l.tokens.is_empty() && l.stored_tokens_problem.contains("owned by uid 65534"), "{l:?}");
    let e = c.login(pb::LoginRequest { context: Some(ctx), token: FRESH.into() }).await.expect_err("refused");
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("owned by uid 65534") && e.message().contains("left untouched"), "{e:?}");
    assert_eq!(fingerprint(&foreign), before, "refused, yet the file changed");
    assert_eq!(std::fs::metadata(&foreign).unwrap().uid(), 65534, "the other user's file changed owner");
    daemon.stop().await.expect("daemon stops");
    hub.shutdown().await;
}

/// setpriv, when this process is root; `None` (skipped) otherwise, except under CI.
fn as_nobody_available() -> Option<std::path::PathBuf> {
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].into_iter().map(std::path::PathBuf::from).find(|p| p.exists());
    match (rustix::process::geteuid().is_root(), setpriv) {
        (true, Some(setpriv)) => Some(setpriv),
        _ => {
            assert!(std::env::var("CI").is_err(), "CI must run as root with setpriv to test another user's file");
            eprintln!("SKIPPED: not root or no setpriv");
            None
        }
    }
}
