//! Reliability: load, crashes, concurrent writers, hostile files and a failing Hub. Each test is
//! bounded in count and time (the whole module runs in well under three minutes on two cores) and
//! prints the figures RELIABILITY.md records.
//!
//! - [`load`]: 1,000 concurrent connections, a mixed workload, zero failures, flat memory.
//! - [`memory`]: after a burst of 500 connections, the daemon hands their memory back.
//! - [`connections`]: thousands of idle connections under a low fd limit; no spin, the owner served.
//! - [`consistency`]: read-your-writes and coherent answers while the daemon's reloads race.
//! - [`crash`]: `kill -9` at random moments during writes; files whole, nothing acknowledged lost.
//! - [`writers`]: the daemon, Python's `hf` and an editor on one home; no section lost, fast convergence.
//! - [`bad_files`]: unreadable, oversized, foreign and special files; clear answers, nothing overwritten.
//! - [`homes`]: 10,000 homes stay bounded; a home locked by another program delays no other.
//! - [`held_requests`]: streams held incomplete on purpose are cut past one budget; memory bounded.
//! - [`hub_faults`]: a hanging, resetting, rate-limiting Hub never blocks `Resolve` or git.

mod bad_files;
mod connections;
mod consistency;
mod crash;
mod held_requests;
mod homes;
mod hub_faults;
mod load;
mod memory;
mod writers;

use hf_auth::connect::{self, Client};
use hf_auth_proto::{ClientContext, HomePaths, pb};
use hf_auth_tests::procs::bin;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The context a client with `HF_HOME=dir` and `HF_ENDPOINT=endpoint` sends.
fn context_for(dir: &Path, endpoint: &str) -> pb::ClientContext {
    ClientContext::new(
        HomePaths { token: dir.join("token"), stored_tokens: dir.join("stored_tokens") },
        endpoint.to_owned(),
    )
    .to_pb()
}

/// One channel (one connection) to the daemon at `socket`.
async fn connect(socket: &Path) -> Client {
    connect::connect(socket, Duration::from_secs(10), Some(Duration::from_secs(60)))
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", socket.display()))
}

/// A small deterministic generator (SplitMix64), seeded from `HF_AUTH_TEST_SEED` or the clock so
/// a failing run can be replayed; the seed is printed.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn from_env(what: &str) -> Self {
        let seed = std::env::var("HF_AUTH_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        });
        eprintln!("{what}: seed {seed} (replay with HF_AUTH_TEST_SEED={seed})");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The real `hf-authd` binary on its own socket, serving `HF_HOME=hf_home` as its default home.
/// Killed (SIGKILL) on drop.
#[derive(Debug)]
struct RealDaemon {
    child: Child,
    pub socket: PathBuf,
}

impl RealDaemon {
    /// Starts the daemon and waits for its "ready" line (no sleeping, no polling).
    fn spawn(socket: &Path, hf_home: &Path, endpoint: &str, log: &Path) -> Self {
        Self::spawn_under(&[], socket, hf_home, endpoint, log)
    }

    /// The same, started by `wrapper` (say `prlimit --nofile=256:4096`), which then execs it.
    fn spawn_under(wrapper: &[&str], socket: &Path, hf_home: &Path, endpoint: &str, log: &Path) -> Self {
        let scratch = socket.parent().and_then(Path::parent).expect("socket in <dir>/run/");
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("daemon log");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin("hf-authd"));
                c
            }
            None => Command::new(bin("hf-authd")),
        };
        let mut child = command
            .arg("--socket")
            .arg(socket)
            .arg("--print-ready")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", scratch)
            .env("HF_HOME", hf_home)
            .env("HF_ENDPOINT", endpoint)
            .env("XDG_CONFIG_HOME", scratch.join("config"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn hf-authd");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
        if !line.starts_with("ready ") {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hf-authd did not start: {line:?}\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
        Self { child, socket: socket.to_path_buf() }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A number from `/proc/<pid>/status` (`VmRSS`, `RssAnon`, `Threads`: the first word after
    /// the field's name).
    fn status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc/<pid>/status");
        let line = status
            .lines()
            .find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))
            .unwrap_or_else(|| panic!("no {field} in /proc/<pid>/status"));
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{field}: {line}"))
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        self.status("VmRSS")
    }

    /// Anonymous resident memory (heap and stacks) in KiB.
    fn anon_kib(&self) -> u64 {
        self.status("RssAnon")
    }

    /// Threads of the process.
    fn threads(&self) -> u64 {
        self.status("Threads")
    }

    /// `kill -9`, and reap it.
    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RealDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 100 ms for at most `limit`; whether it came true.
async fn harness_wait(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    hf_auth_tests::harness::eventually(limit, || std::future::ready(check())).await.is_some()
}

/// A scratch directory for one real daemon: a private `run/` for its socket and an HF home
/// (`hf/`) holding `token`. Returns the directory, the socket's path and the home.
fn scratch_with_token(prefix: &str, token: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let scratch = tempfile::Builder::new().prefix(prefix).tempdir().expect("tempdir");
    let socket = private_run_dir(scratch.path()).join("hf-authd.sock");
    let hf_home = scratch.path().join("hf");
    std::fs::create_dir_all(&hf_home).expect("mkdir hf home");
    std::fs::write(hf_home.join("token"), token).expect("write token");
    (scratch, socket, hf_home)
}

/// A private `<dir>/run` for a socket, as the daemon requires (0700, ours).
fn private_run_dir(dir: &Path) -> PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let run = dir.join("run");
    std::fs::DirBuilder::new().mode(0o700).create(&run).expect("mkdir run");
    run
}

/// Raises the soft open-file limit to at least `wanted` (bounded by the hard limit).
fn raise_fd_limit(wanted: u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= wanted {
        return;
    }
    let target = limit.maximum.map_or(wanted, |max| wanted.min(max));
    let raised = rustix::process::Rlimit { current: Some(target), maximum: limit.maximum };
    if let Err(e) = setrlimit(Resource::Nofile, raised) {
        eprintln!("could not raise the fd limit from {current} to {target}: {e}");
    }
}

/// Names and `hf_token` values of a `stored_tokens` file, parsed with our configparser port.
fn parsed_sections(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let file = hf_authd::store::ini::parse(bytes).map_err(|e| e.to_string())?;
    Ok(file.sections.iter().map(|s| (s.name.clone(), s.get("hf_token").unwrap_or_default().to_owned())).collect())
}

/// The names a List RPC reports for `ctx`, sorted.
async fn listed_names(client: &mut Client, ctx: &pb::ClientContext) -> Result<Vec<String>, tonic::Status> {
    let r = client.list(pb::ListRequest { context: Some(ctx.clone()) }).await?.into_inner();
    let mut names: Vec<String> = r.tokens.into_iter().map(|t| t.name).collect();
    names.sort();
    Ok(names)
}
