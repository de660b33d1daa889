//! Spawning hf-auth's binaries (and git, and Python's `hf`) as a user would, with a scrubbed
//! environment: a temporary HOME, HF home, socket and git config, nothing inherited but PATH.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

/// A built binary of this workspace (`target/<profile>/<name>`), next to the test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/integration-xxxx → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(path.is_file(), "{} is not built; run `cargo build --workspace --bins` first", path.display());
    path
}

/// One user's world: home, HF home, socket, git config, and the daemon its clients autostart.
#[derive(Debug)]
pub struct World {
    pub dir: TempDir,
    pub endpoint: String,
    extra: Vec<(String, OsString)>,
}

impl World {
    pub fn new(endpoint: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("hfw").tempdir().expect("tempdir");
        for sub in ["home", "run", "hf"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        // The daemon refuses a socket directory open to others, as it should.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("run"), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        Self { dir, endpoint: endpoint.to_owned(), extra: Vec::new() }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn hf_home(&self) -> PathBuf {
        self.dir.path().join("hf")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run").join("hf-authd.sock")
    }

    pub fn token_file(&self) -> Option<String> {
        std::fs::read_to_string(self.hf_home().join("token")).ok()
    }

    pub fn stored_file(&self) -> Option<String> {
        std::fs::read_to_string(self.hf_home().join("stored_tokens")).ok()
    }

    /// Adds (or overrides) a variable for every command of this world.
    pub fn set_env(&mut self, key: &str, value: impl Into<OsString>) {
        self.extra.retain(|(k, _)| k != key);
        self.extra.push((key.to_owned(), value.into()));
    }

    pub fn unset_env(&mut self, key: &str) {
        self.extra.retain(|(k, _)| k != key);
    }

    /// A command with this world's environment and nothing else (PATH aside).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("HF_HOME", self.hf_home())
            .env("HF_ENDPOINT", &self.endpoint)
            .env("HF_AUTH_SOCKET", self.socket())
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("GIT_CONFIG_GLOBAL", self.home().join(".gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HF_HUB_DISABLE_UPDATE_CHECK", "1")
            .env("HF_HUB_DISABLE_TELEMETRY", "1")
            .env("LANG", "C.UTF-8")
            .current_dir(self.home())
            .stdin(Stdio::null());
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs one of our binaries with `args`, stdin from `input`.
    pub async fn run(&self, name: &str, args: &[&str], input: Option<&str>) -> Run {
        let cmd = self.command(bin(name));
        run_command(cmd, args, input).await
    }

    /// Runs one of our binaries from `cwd` instead of the home directory.
    pub async fn run_in(&self, cwd: &Path, name: &str, args: &[&str]) -> Run {
        let mut cmd = self.command(bin(name));
        cmd.current_dir(cwd);
        run_command(cmd, args, None).await
    }

    /// Runs an arbitrary program (git, Python's `hf`) in this world.
    pub async fn run_program(&self, program: &Path, args: &[&str], input: Option<&str>) -> Run {
        let cmd = self.command(program);
        run_command(cmd, args, input).await
    }

    /// The pid of the daemon serving this world's socket, from its pidfile.
    pub fn daemon_pid(&self) -> Option<i32> {
        let mut p = self.socket().into_os_string();
        p.push(".pid");
        std::fs::read_to_string(PathBuf::from(p)).ok()?.trim().parse().ok()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Stop the daemon our clients autostarted, if any (it would exit on idle anyway).
        let _ = self.command(bin("hf-auth")).args(["daemon", "stop"]).output();
    }
}

async fn run_command(mut cmd: Command, args: &[&str], input: Option<&str>) -> Run {
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let input = input.map(str::to_owned);
    let output = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("spawn");
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            use std::io::Write;
            let _ = stdin.write_all(text.as_bytes());
        }
        child.wait_with_output().expect("wait")
    })
    .await
    .expect("join");
    Run(output)
}

/// A finished process, with helpers for assertions.
#[derive(Debug)]
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Asserts exit 0 and returns self, printing both streams otherwise.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code(),
            0,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        );
        self
    }
}
