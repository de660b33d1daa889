//! The daemon's defences: only its own uid is served, hostile socket directories are refused,
//! one daemon per socket, stale sockets replaced, bounded and malformed input rejected while it
//! keeps serving, no token in any log, and a process that cannot be dumped. The daemon's file
//! rules against other local users: [`links`] (planted symlinks, foreign and open directories),
//! [`modes`] (which directories get chmodded), [`backups`] (logout leaves no copy).

mod attack_config;
mod attack_log_file;
mod attack_secrets;
mod autostart;
mod client_trust;

use hf_auth_proto::pb;
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::harness::{TestDaemon, TestHome};
use hf_auth_tests::procs::{World, bin};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

mod backups;
mod links;
mod modes;

/// `nobody`'s uid (and gid), the "other local user" of these tests.
const NOBODY: u32 = 65534;

/// Runs a program as `nobody` (tests run as root in CI); `None` when that is impossible here.
fn as_nobody(program: &std::path::Path) -> Option<Command> {
    let root = rustix::process::geteuid().is_root();
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].into_iter().find(|p| std::path::Path::new(p).exists());
    match (root, setpriv) {
        (true, Some(setpriv)) => {
            let mut cmd = Command::new(setpriv);
            cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(program);
            Some(cmd)
        }
        _ => {
            assert!(std::env::var("CI").is_err(), "CI must run as root with setpriv to test other uids");
            eprintln!("SKIPPED: not root or no setpriv");
            None
        }
    }
}

/// [`as_nobody`] for a test that already checked it can run as `nobody`.
fn as_nobody_cmd(program: &std::path::Path) -> Command {
    as_nobody(program).expect("root with setpriv")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_uid_gets_permission_denied_and_the_daemon_keeps_serving() {
    let daemon = TestDaemon::start().await;
    // Make the socket reachable by nobody: a hard link in a directory of nobody's own (so its
    // client's own directory check passes, and the daemon runs as root, whom clients trust),
    // the inode opened up. The directory check is the first defence; this proves the
    // per-request uid check.
    let open = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = rustix::fs::chown(open.path(), Some(rustix::process::Uid::from_raw(65534)), None);
    let link = open.path().join("open.sock");
    std::fs::hard_link(&daemon.socket, &link).unwrap();
    std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o666)).unwrap();
    let Some(mut cmd) = as_nobody(&bin("hf-auth")) else { return };
    let out = tokio::task::spawn_blocking(move || {
        cmd.args(["daemon", "status"])
            .env_clear()
            .env("HF_AUTH_SOCKET", &link)
            .env("HF_AUTH_NO_AUTOSTART", "1")
            .env("HOME", "/nonexistent")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("this request came from uid 65534"), "{stderr}");
    let mut c = daemon.client().await;
    c.status(pb::StatusRequest { context: None }).await.unwrap();
}

fn hf_authd(socket: &std::path::Path) -> Command {
    let mut cmd = Command::new(bin("hf-authd"));
    cmd.arg("--socket").arg(socket).env_clear().env("HOME", "/nonexistent").stdin(Stdio::null());
    cmd
}

#[test]
fn hostile_socket_directories_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let open = t.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let real = t.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = t.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let foreign = t.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).unwrap();
    let chowned = rustix::fs::chown(&foreign, Some(rustix::process::Uid::from_raw(65534)), None).is_ok();
    let mut cases = vec![(open, "has mode 777; it must be 0700"), (link, "is a symlink")];
    if chowned {
        cases.push((foreign, "owned by uid 65534"));
    }
    for (dir, why) in cases {
        let out = hf_authd(&dir.join("hf-authd.sock")).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
        assert!(!dir.join("hf-authd.sock").exists());
    }
}

#[tokio::test]
async fn one_daemon_per_socket_and_stale_sockets_are_replaced() {
    let daemon = TestDaemon::start().await;
    let out = hf_authd(&daemon.socket).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("already running"), "{stderr}");
    daemon.client().await.status(pb::StatusRequest { context: None }).await.unwrap();

    // A socket file nobody listens on (a crashed daemon's) is replaced.
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = t.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let stale = TestDaemon::start_at(&socket).await;
    stale.client().await.status(pb::StatusRequest { context: None }).await.unwrap();
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket(), "a socket of the new daemon's");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "the socket is its owner's only");
    // Something that is not a socket is never removed.
    let t2 = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t2.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = t2.path().join("file.sock");
    std::fs::write(&file, "precious").unwrap();
    let out = hf_authd(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
}

#[tokio::test]
async fn oversized_and_malformed_requests_are_rejected_and_serving_goes_on() {
    let daemon = TestDaemon::start().await;
    let home = TestHome::new("http://127.0.0.1:9");
    let mut c = daemon.client().await;
    // 100 KiB token: larger than the 64 KiB bound. Sent with a client that allows it.
    let e = c
        .clone()
        .max_encoding_message_size(1 << 20)
        .login(pb::LoginRequest { context: home.context(), token: "x".repeat(100 * 1024) })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");
    // Raw garbage, an HTTP/1 request, a truncated HTTP/2 preface, and a half-open connection.
    use tokio::io::AsyncWriteExt;
    for junk in [
        b"\x00\x01\x02garbage\xff\xfe".as_slice(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03\x7f\xff\xff\xff\x00\x04",
    ] {
        let mut s = tokio::net::UnixStream::connect(&daemon.socket).await.unwrap();
        let _ = s.write_all(junk).await;
        drop(s);
    }
    let _idle = tokio::net::UnixStream::connect(&daemon.socket).await.unwrap();
    // A gRPC frame that claims more bytes than it carries (truncated protobuf).
    let e = c
        .resolve(pb::ResolveRequest {
            context: Some(pb::ClientContext { token_path: "\u{0}".into(), ..Default::default() }),
            username: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let st = c.status(pb::StatusRequest { context: None }).await.unwrap().into_inner();
    assert_eq!(st.protocol, hf_auth_proto::PROTOCOL_VERSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_in_trace_logs_and_the_daemon_is_not_dumpable() {
    const SECRET: &str = "hf_SuperSecretTraceToken_1234567890";
    let hub = FakeHub::start().await;
    hub.add_token(SECRET, Account::user("alice").with_token_name("traced", "write"));
    let w = World::new(&hub.endpoint());
    let log = w.dir.path().join("trace.log");
    let mut daemon = w
        .command(bin("hf-authd"))
        .args(["--log-level", "trace", "--log-file"])
        .arg(&log)
        .arg("--socket")
        .arg(w.socket())
        .arg("--print-ready")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(daemon.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.starts_with("ready"));
    let pid = daemon.id();
    w.run("hf-auth", &["login", "--token", SECRET], None).await.ok();
    w.run("hf-auth", &["token"], None).await.ok();
    w.run("hf-auth", &["whoami"], None).await.ok();
    w.run("hf-auth", &["list"], None).await.ok();
    w.run("git-credential-hf", &["get"], Some(&format!("protocol=http\nhost={}\n\n", hub.addr()))).await.ok();
    // Not dumpable, no core files: /proc/<pid>/limits shows a zero core limit, and the
    // kernel's dumpable flag is reported by /proc/<pid>/status on newer kernels only, so
    // we check what every Linux shows: the limit.
    if let Ok(limits) = std::fs::read_to_string(format!("/proc/{pid}/limits")) {
        let core = limits.lines().find(|l| l.starts_with("Max core file size")).unwrap();
        assert!(core.split_whitespace().nth(4) == Some("0") && core.split_whitespace().nth(5) == Some("0"), "{core}");
    }
    w.run("hf-auth", &["daemon", "stop"], None).await.ok();
    let _ = daemon.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() > 20, "trace logging produced almost nothing:\n{text}");
    assert!(!text.contains(SECRET), "the token appeared in the trace log");
    assert!(!text.contains("SuperSecretTrace"), "part of the token appeared in the trace log");
}

#[test]
fn the_daemon_is_not_dumpable_even_for_its_own_user() {
    // Run as nobody: a dumpable process's /proc/<pid> entries belong to its user; a
    // non-dumpable one's belong to root.
    let t = tempfile::tempdir().unwrap();
    let run = t.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    if rustix::fs::chown(&run, Some(rustix::process::Uid::from_raw(65534)), Some(rustix::process::Gid::from_raw(65534)))
        .is_err()
    {
        assert!(std::env::var("CI").is_err(), "CI runs as root");
        return;
    }
    let Some(mut cmd) = as_nobody(&bin("hf-authd")) else { return };
    let mut child = cmd
        .arg("--socket")
        .arg(run.join("s.sock"))
        .arg("--print-ready")
        .env_clear()
        .env("HOME", &run)
        .env("HF_HOME", run.join("hf"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.starts_with("ready"), "daemon did not start as nobody: {line}");
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(format!("/proc/{}/environ", child.id())).unwrap().uid();
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(owner, 0, "/proc entries of a non-dumpable process belong to root");
}
