//! hf-authd under `systemd-socket-activate`: the socket and NOTIFY_SOCKET handed over as a
//! systemd user manager would, the daemon serving, writing token files and stopping on SIGTERM.

use super::{private_dir, scrubbed, tempdir, tool};
use hf_auth_proto::{PROTOCOL_VERSION, pb};
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::procs::bin;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};

const TOKEN: &str = "hf_pkg_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";

/// hf-authd started by `systemd-socket-activate`, which binds the socket, waits for the first
/// connection, then execs the daemon with the socket as fd 3 (LISTEN_FDS=1, LISTEN_PID=itself).
struct Activated {
    child: tokio::process::Child,
    log: Arc<Mutex<String>>,
    notify: std::os::unix::net::UnixDatagram,
}

impl Activated {
    async fn start(activate: &Path, listen: &Path, dir: &Path) -> Self {
        let notify_path = dir.join("notify.sock");
        let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("bind the notify socket");
        notify.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut cmd = tokio::process::Command::new(activate);
        cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).arg("--listen").arg(listen);
        // systemd-socket-activate passes its child only what -E names: this is the daemon's
        // whole environment, as a user manager would give it.
        for (k, v) in [
            ("HOME", dir.join("home")),
            ("HF_HOME", dir.join("hf")),
            ("XDG_RUNTIME_DIR", dir.join("run")),
            ("XDG_CONFIG_HOME", dir.join("config")),
            ("NOTIFY_SOCKET", notify_path),
        ] {
            cmd.arg(format!("--setenv={k}={}", v.display()));
        }
        cmd.args(["--setenv=NO_COLOR=1", "--setenv=LANG=C.UTF-8"])
            .arg(bin("hf-authd"))
            .args(["--log-level", "debug"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn systemd-socket-activate");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sink = log.clone();
        // Its first line says the socket is bound; the daemon's log follows on the same pipe.
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("Listening on")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(());
                }
                if let Ok(mut log) = sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let listening = tokio::time::timeout(Duration::from_secs(10), rx).await;
        let me = Self { child, log, notify };
        assert!(matches!(listening, Ok(Ok(()))), "systemd-socket-activate did not listen:\n{}", me.log());
        me
    }

    fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The next sd_notify message from the daemon.
    async fn notification(&self) -> String {
        let sock = self.notify.try_clone().expect("clone");
        tokio::task::spawn_blocking(move || {
            let mut buf = [0u8; 512];
            let n = sock.recv(&mut buf).expect("an sd_notify message within 10 s");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
        .await
        .expect("join")
    }

    /// SIGTERM, as systemd stops a service; returns the exit status.
    async fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().expect("running").to_string();
        // The shell's builtin: minimal images have no kill(1) (procps).
        let kill = scrubbed("sh").args(["-c", "kill -TERM \"$1\"", "sh", &pid]).status().expect("kill");
        assert!(kill.success());
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("hf-authd stops within 10 s of SIGTERM")
            .expect("wait");
        // READY=1 may still be queued (when the test did not wait for it); STOPPING=1 follows.
        let mut seen = Vec::new();
        while !seen.iter().any(|m: &String| m.contains("STOPPING=1")) {
            assert!(seen.len() < 4, "no STOPPING=1 among {seen:?}");
            seen.push(self.notification().await);
        }
        let log = self.log();
        (status, log)
    }
}

fn socket_activate() -> Option<PathBuf> {
    tool(
        "systemd-socket-activate",
        &["/lib/systemd/systemd-socket-activate", "/usr/lib/systemd/systemd-socket-activate"],
    )
}

/// A user's world as the unit sees it: home, HF home, and a private runtime directory.
fn activation_world() -> TempDir {
    let dir = tempdir("hfact");
    for sub in ["home", "hf", "config"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
    }
    private_dir(&dir.path().join("run"));
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_activated_daemon_serves_the_unit_socket_and_writes_tokens() {
    let Some(activate) = socket_activate() else { return };
    let hub = FakeHub::start().await;
    hub.add_token(TOKEN, Account::user("alice").with_token_name("packaged", "write"));
    let dir = activation_world();
    // Exactly the unit's ListenStream=%t/hf-auth/hf-authd.sock, with DirectoryMode=0700.
    let socket = dir.path().join("run/hf-auth/hf-authd.sock");
    private_dir(&dir.path().join("run/hf-auth"));
    let daemon = Activated::start(&activate, &socket, dir.path()).await;

    // The first connection makes systemd-socket-activate exec hf-authd.
    let mut client = hf_auth::connect::connect(&socket, Duration::from_secs(10), Some(Duration::from_secs(30)))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", daemon.log()));
    let status = client
        .status(pb::StatusRequest { context: None })
        .await
        .unwrap_or_else(|e| panic!("status: {e}\n{}", daemon.log()))
        .into_inner();
    assert_eq!(status.protocol, PROTOCOL_VERSION);
    assert_eq!(Some(status.pid), daemon.child.id(), "served by the exec'd process, as LISTEN_PID requires");
    assert_eq!(status.socket_path, socket.display().to_string(), "its own default path is the unit's");
    let ready = daemon.notification().await;
    assert!(ready.contains("READY=1"), "Type=notify needs READY=1, got {ready:?}");
    assert!(daemon.log().contains("using the socket passed by the service manager"), "{}", daemon.log());

    // It writes the user's token files where the client's context says.
    let hf = dir.path().join("hf");
    let ctx = hf_auth_proto::ClientContext::new(
        hf_auth_proto::HomePaths { token: hf.join("token"), stored_tokens: hf.join("stored_tokens") },
        hub.endpoint(),
    );
    let login = client
        .login(pb::LoginRequest { context: Some(ctx.to_pb()), token: TOKEN.into() })
        .await
        .unwrap_or_else(|e| panic!("login: {e}\n{}", daemon.log()))
        .into_inner();
    assert_eq!(login.token_name, "packaged");
    assert_eq!(std::fs::read_to_string(hf.join("token")).ok().as_deref(), Some(TOKEN));
    drop(client);

    // It bound nothing itself: no pidfile (that comes with binding), no other socket.
    let entries: Vec<String> = std::fs::read_dir(dir.path().join("run/hf-auth"))
        .expect("read run dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert_eq!(entries, ["hf-authd.sock"]);

    let (exit, log) = daemon.terminate().await;
    assert!(exit.success(), "SIGTERM must be a clean stop (Restart=on-failure would restart it): {exit}\n{log}");
    assert!(log.contains("hf-authd stopped"), "{log}");
    // The socket belongs to the service manager (RemoveOnStop= removes it), not to hf-authd.
    assert!(socket.exists(), "hf-authd removed a socket it did not create");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_activated_daemon_never_binds_its_default_path() {
    let Some(activate) = socket_activate() else { return };
    let dir = activation_world();
    // Listen away from the default ($XDG_RUNTIME_DIR/hf-auth/hf-authd.sock).
    private_dir(&dir.path().join("elsewhere"));
    let socket = dir.path().join("elsewhere/activated.sock");
    let daemon = Activated::start(&activate, &socket, dir.path()).await;
    let mut client = hf_auth::connect::connect(&socket, Duration::from_secs(10), Some(Duration::from_secs(30)))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", daemon.log()));
    let status = client
        .status(pb::StatusRequest { context: None })
        .await
        .unwrap_or_else(|e| panic!("status: {e}\n{}", daemon.log()))
        .into_inner();
    assert_eq!(Some(status.pid), daemon.child.id());
    drop(client);
    assert!(!dir.path().join("run/hf-auth").exists(), "the activated daemon created its own socket directory");
    let (exit, log) = daemon.terminate().await;
    assert!(exit.success(), "{exit}\n{log}");
}
