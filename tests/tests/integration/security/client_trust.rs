//! The client's trust in the socket it dials: another user who creates the socket directory first
//! and listens there receives nothing (no `HF_TOKEN`, no git password, no login token), and a
//! daemon that accepts and never answers gives a clear error in bounded time.
//!
//! The "other user" is `nobody`, the socket directory is the no-`XDG_RUNTIME_DIR` default
//! (`$TMPDIR/hf-auth-<uid>/`) under a fresh sticky, world-writable TMPDIR, and the clients are the
//! unmodified binaries with no `HF_AUTH_SOCKET`.

use super::as_nobody;
use hf_auth_tests::procs::{World, bin};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LOGIN_SECRET: &str = "hf_LoginSecretForTheListener_0123456789";
const ENV_SECRET: &str = "hf_EnvSecretForTheListener_0123456789";
const GIT_SECRET: &str = "GitPasswordForTheListener_0123456789";

/// A listener that records how many bytes its clients sent and never answers. It creates the
/// socket's directory (0755, as an attacker would so its victim can reach it) and the socket
/// (0777). A connection whose first bytes are `PROBE` ends it: it drains every other connection
/// and prints `received <n>`.
const LISTENER: &str = r#"
import os, select, socket, sys
path = sys.argv[1]
os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o777)
s.listen(64)
print("ready", flush=True)
counts, live = {}, set()
while True:
    r, _, _ = select.select([s] + list(live), [], [])
    for c in r:
        if c is s:
            c = s.accept()[0]
            counts[c] = b""
            live.add(c)
            continue
        data = c.recv(65536)
        counts[c] += data
        if not data:
            live.discard(c)
        if counts[c].startswith(b"PROBE"):
            del counts[c]
            for other in live - {c}:
                other.setblocking(False)
                try:
                    while more := other.recv(65536):
                        counts[other] += more
                except BlockingIOError:
                    pass
            print("received", sum(len(v) for v in counts.values()), flush=True)
            sys.exit(0)
"#;

struct Listener {
    child: Child,
    socket: PathBuf,
}

impl Listener {
    fn spawn(mut cmd: Command, socket: &Path) -> Self {
        let mut child = cmd
            .arg("-c")
            .arg(LISTENER)
            .arg(socket)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the listener");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the listener did not start");
        Self { child, socket: socket.to_path_buf() }
    }

    /// How many bytes every client sent so far (ends the listener).
    fn received(mut self) -> usize {
        let mut probe = std::os::unix::net::UnixStream::connect(&self.socket).expect("probe the listener");
        probe.write_all(b"PROBE").unwrap();
        let mut line = String::new();
        BufReader::new(self.child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let _ = self.child.wait();
        line.trim().strip_prefix("received ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("listener: {line}"))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    let found = ["/usr/bin/python3", "/usr/local/bin/python3"].into_iter().map(PathBuf::from).find(|p| p.exists());
    found.expect("python3 (the listener) is needed")
}

/// A fresh root-owned sticky, world-writable directory: our own `/tmp`.
fn sticky_tmp() -> tempfile::TempDir {
    let t = tempfile::Builder::new().prefix("hfsticky").tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    t
}

/// The world's environment without a socket override, with `TMPDIR` set: the client computes
/// `$TMPDIR/hf-auth-<uid>/hf-authd.sock` itself.
fn client(w: &World, name: &str, tmpdir: &Path) -> Command {
    let mut cmd = w.command(bin(name));
    cmd.env_remove("HF_AUTH_SOCKET").env("TMPDIR", tmpdir).env("HF_AUTH_DEBUG", "1");
    cmd
}

fn run(mut cmd: Command, args: &[&str], input: Option<&str>) -> (std::process::Output, Duration) {
    let start = Instant::now();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().unwrap();
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().unwrap();
    (out, start.elapsed())
}

fn uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The Python client asking with `HF_TOKEN` set: refused (exit 1, the reason on stderr).
const PY_CLIENT: &str = r#"
import sys, hf_auth
try:
    hf_auth.get_token()
except hf_auth.UntrustedSocket as e:
    print(e, file=sys.stderr)
    sys.exit(1)
"#;

/// The clients that carry a secret (ours, `hf-auth exec`, and the Python package when its venv
/// is there), each refused with `why` in its error.
fn assert_all_refused(w: &World, tmpdir: &Path, why: &[&str]) {
    let mut token = client(w, "hf-auth", tmpdir);
    token.env("HF_TOKEN", ENV_SECRET);
    let mut exec = client(w, "hf-auth", tmpdir);
    exec.env("HF_TOKEN", ENV_SECRET);
    let mut clients = vec![("exec", exec, vec!["exec", "--", "true"], None)];
    if let Some(python) = hf_auth_tests::python::python_with_client() {
        let mut py = w.command(python);
        py.env_remove("HF_AUTH_SOCKET").env("TMPDIR", tmpdir).env("HF_TOKEN", ENV_SECRET);
        clients.push(("python", py, vec!["-c", PY_CLIENT], None));
    }
    let login = client(w, "hf-auth", tmpdir);
    let erase = client(w, "git-credential-hf", tmpdir);
    let git_input = format!("protocol=http\nhost=127.0.0.1:9\nusername=hf_user\npassword={GIT_SECRET}\n\n");
    clients.extend([
        ("login", login, vec!["login", "--token", LOGIN_SECRET], None),
        ("token", token, vec!["token"], None),
        ("erase", erase, vec!["erase"], Some(git_input.as_str())),
    ]);
    for (name, cmd, args, input) in clients {
        let (out, _) = run(cmd, &args, input);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected_code = if name == "erase" { 0 } else { 1 };
        assert_eq!(out.status.code(), Some(expected_code), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name} printed: {}", String::from_utf8_lossy(&out.stdout));
        for part in why {
            assert!(stderr.contains(part), "{name}: expected {part:?} in: {stderr}");
        }
    }
}

#[test]
fn a_socket_directory_made_by_another_user_gets_no_byte() {
    let tmp = sticky_tmp();
    let socket = tmp.path().join(format!("hf-auth-{}", uid())).join("hf-authd.sock");
    let Some(nobody) = as_nobody(&python()) else { return };
    let listener = Listener::spawn(nobody, &socket);
    let w = World::new("http://127.0.0.1:9");
    let dir = socket.parent().unwrap().display().to_string();
    assert_all_refused(&w, tmp.path(), &[&dir, "owned by uid 65534"]);
    assert_eq!(listener.received(), 0, "the other user's listener received bytes");
    assert!(w.token_file().is_none());
}

#[test]
fn a_listener_of_another_uid_behind_a_private_directory_gets_no_byte() {
    // Our own private directory, but the socket in it leads to nobody's listener (a hard link):
    // only the peer's credentials can tell.
    let tmp = sticky_tmp();
    let theirs = tmp.path().join("theirs").join("l.sock");
    let Some(nobody) = as_nobody(&python()) else { return };
    let listener = Listener::spawn(nobody, &theirs);
    let w = World::new("http://127.0.0.1:9");
    let mine = tempfile::tempdir().unwrap();
    let dir = mine.path().join(format!("hf-auth-{}", uid()));
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::hard_link(&theirs, dir.join("hf-authd.sock")).unwrap();
    assert_all_refused(&w, mine.path(), &[&dir.join("hf-authd.sock").display().to_string(), "uid 65534"]);
    assert_eq!(listener.received(), 0, "the other user's listener received bytes");
}

#[test]
fn a_socket_directory_open_to_others_is_refused() {
    let tmp = sticky_tmp();
    let socket = tmp.path().join(format!("hf-auth-{}", uid())).join("hf-authd.sock");
    let listener = Listener::spawn(Command::new(python()), &socket);
    std::fs::set_permissions(socket.parent().unwrap(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let w = World::new("http://127.0.0.1:9");
    let dir = socket.parent().unwrap().display().to_string();
    assert_all_refused(&w, tmp.path(), &[&dir, "writable by others"]);
    assert_eq!(listener.received(), 0, "bytes went to a socket in an open directory");
}

#[test]
fn a_socket_directory_that_is_a_symlink_is_refused() {
    let tmp = sticky_tmp();
    let real = tmp.path().join("real").join("hf-authd.sock");
    let listener = Listener::spawn(Command::new(python()), &real);
    std::fs::set_permissions(real.parent().unwrap(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = tmp.path().join(format!("hf-auth-{}", uid()));
    std::os::unix::fs::symlink(real.parent().unwrap(), &link).unwrap();
    let w = World::new("http://127.0.0.1:9");
    assert_all_refused(&w, tmp.path(), &[&link.display().to_string(), "symlink"]);
    assert_eq!(listener.received(), 0, "bytes went through a planted symlink");
}

#[test]
fn a_daemon_that_never_answers_gives_a_clear_error_in_bounded_time() {
    let w = World::new("http://127.0.0.1:9");
    let _listener = Listener::spawn(Command::new(python()), &w.socket());
    for args in [vec!["token"], vec!["login", "--token", LOGIN_SECRET], vec!["status"]] {
        let (out, took) = run(w.command(bin("hf-auth")), &args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("did not answer"), "{args:?}: {stderr}");
        assert!(stderr.contains(&w.socket().display().to_string()), "{args:?}: {stderr}");
        assert!(took < Duration::from_secs(20), "{args:?} took {took:?}");
    }
    let input = "protocol=http\nhost=127.0.0.1:9\n\n";
    let (out, took) = run(w.command(bin("git-credential-hf")), &["get"], Some(input));
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(took < Duration::from_secs(5), "git-credential-hf get took {took:?}");
}

/// `nobody` listens in a directory of its own and keeps renaming it to the name root's
/// `HF_AUTH_SOCKET` names, and back. A client that looked at the directory (missing, or fine) and
/// then connected by the path could reach the listener in between; root, given a socket by
/// `HF_AUTH_SOCKET`, trusts any listener (the forward socket mounted into a container), so the
/// listener got root's `HF_TOKEN` within a few tries. The client now connects through the
/// directory it opened and checked: nobody's directory is never dialled.
const FLIPPER: &str = r#"
import os, select, socket, sys, threading
base = sys.argv[1]
hidden, shown = os.path.join(base, "flip.hidden"), os.path.join(base, "flip")
os.mkdir(hidden, 0o755)
s = socket.socket(socket.AF_UNIX)
s.bind(os.path.join(hidden, "hf.sock"))
os.chmod(os.path.join(hidden, "hf.sock"), 0o777)
s.listen(64)
total, lock = [0], threading.Lock()
def drain(c):
    c.settimeout(0.3)
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            with lock:
                total[0] += len(d)
    except OSError:
        pass
    c.close()
def serve():
    while True:
        threading.Thread(target=drain, args=(s.accept()[0],), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
print("ready", flush=True)
where = hidden
while not select.select([sys.stdin], [], [], 0)[0]:
    other = shown if where == hidden else hidden
    os.rename(where, other)
    where = other
with lock:
    print("received", total[0], flush=True)
"#;

#[test]
fn root_given_a_socket_in_a_directory_another_user_keeps_swapping_sends_it_nothing() {
    if uid() != 0 {
        assert!(std::env::var("CI").is_err(), "CI runs as root: this case is root's (AnyForRoot)");
        eprintln!("SKIPPED: the case is root's (AnyForRoot)");
        return;
    }
    let tmp = sticky_tmp();
    let Some(mut nobody) = as_nobody(&python()) else { return };
    let mut flipper = nobody
        .arg("-c")
        .arg(FLIPPER)
        .arg(tmp.path())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the flipper");
    let mut out = BufReader::new(flipper.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let w = World::new("http://127.0.0.1:9");
    let socket = tmp.path().join("flip").join("hf.sock");
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..40 {
        let mut cmd = w.command(bin("hf-auth"));
        cmd.env("HF_AUTH_SOCKET", &socket).env("HF_AUTH_NO_AUTOSTART", "1").env("HF_TOKEN", ENV_SECRET);
        let (out, _) = run(cmd, &["token"], None);
        assert!(out.stdout.is_empty(), "printed: {}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr);
        let kind = ["not running", "owned by uid 65534", "did not answer", "symlink"]
            .into_iter()
            .find(|k| err.contains(k))
            .unwrap_or(err.lines().next().unwrap_or(""));
        *outcomes.entry(kind.to_owned()).or_default() += 1;
    }
    drop(flipper.stdin.take());
    line.clear();
    out.read_line(&mut line).unwrap();
    let _ = flipper.wait();
    let received: usize = line.trim().strip_prefix("received ").and_then(|n| n.parse().ok()).expect("the count");
    eprintln!("40 tries against the swapping directory: {outcomes:?}; the listener received {received} bytes");
    assert_eq!(received, 0, "nobody's listener received bytes from root: {outcomes:?}");
}
