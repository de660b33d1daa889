//! What the benchmarks run against: a scrubbed user ([`World`]) logged in with a token the fake
//! Hub knows, the fake Hub on a thread of its own, and the release `hf-authd` as a real process
//! (what users run), read through /proc for its footprint.

use anyhow::{Context, bail};
use hf_auth_proto::{ClientContext, Env};
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::procs::{self, World};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The token the bench user is logged in with (a real token's length: 37 characters).
pub const TOKEN: &str = "hf_BenchmarkTokenAbcdefghijklmnopqrst";
pub const USER: &str = "benchuser";
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The fake Hub, served by a current-thread runtime on its own thread, so the load generator's
/// runtime (and blocking calls such as running hyperfine) never stall it.
#[derive(Debug)]
pub struct Hub {
    hub: Option<FakeHub>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hub {
    pub fn start() -> anyhow::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("fake-hub".into()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("hub runtime");
            runtime.block_on(async move {
                let _ = tx.send(FakeHub::try_start().await);
                let _ = stopped.await;
            });
        })?;
        let hub = rx.recv_timeout(READY_TIMEOUT).context("fake hub did not start")??;
        hub.add_token(TOKEN, Account::user(USER));
        Ok(Self { hub: Some(hub), stop: Some(stop), thread: Some(thread) })
    }

    pub fn endpoint(&self) -> String {
        self.hub.as_ref().map(FakeHub::endpoint).unwrap_or_default()
    }

    /// `127.0.0.1:PORT`: what git puts in `host=` for this endpoint.
    pub fn host(&self) -> String {
        self.hub.as_ref().map(|h| h.addr().to_string()).unwrap_or_default()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        drop(self.hub.take());
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One of our binaries: from `$HF_AUTH_BENCH_BIN_DIR` when set (to compare two builds), else the
/// release build beside this bench.
pub fn bin(name: &str) -> PathBuf {
    match std::env::var_os("HF_AUTH_BENCH_BIN_DIR") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => procs::bin(name),
    }
}

/// A user logged in with [`TOKEN`] against `endpoint`, in a scrubbed world of its own.
pub fn logged_in_world(endpoint: &str) -> anyhow::Result<World> {
    let world = World::new(endpoint);
    std::fs::write(world.hf_home().join("token"), TOKEN).context("writing the token file")?;
    Ok(world)
}

/// The context this world's processes send (the same home key, so the same cached home).
pub fn context(world: &World) -> ClientContext {
    let env = Env::from_pairs([
        ("HOME", world.home().display().to_string()),
        ("HF_HOME", world.hf_home().display().to_string()),
        ("HF_ENDPOINT", world.endpoint.clone()),
    ]);
    ClientContext::from_env(&env)
}

/// A running release `hf-authd`.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    pub socket: PathBuf,
    /// From spawn to its "ready" line.
    pub ready_after: Duration,
}

impl Daemon {
    /// Spawns `hf-authd --socket <socket> --print-ready` in `world` (the socket's directory must
    /// be private) and waits for its ready line. Its log goes to `<socket>.log`.
    pub fn spawn(world: &World, socket: &Path) -> anyhow::Result<Self> {
        let mut log = socket.as_os_str().to_owned();
        log.push(".log");
        let log = std::fs::File::create(PathBuf::from(log)).context("daemon log")?;
        let start = Instant::now();
        let mut child = world
            .command(bin("hf-authd"))
            .arg("--socket")
            .arg(socket)
            .arg("--print-ready")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("spawning hf-authd")?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send((line, Instant::now()));
        });
        let mut daemon = Self { child, socket: socket.to_path_buf(), ready_after: Duration::ZERO };
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok((line, at)) if line.starts_with("ready") => {
                daemon.ready_after = at - start;
                Ok(daemon)
            }
            Ok((line, _)) => bail!("hf-authd did not start (said {line:?}); see {}.log", socket.display()),
            Err(_) => bail!("hf-authd not ready within {READY_TIMEOUT:?}"),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size (VmRSS) and its anonymous part (RssAnon: heap, stacks; not the
    /// binary's pages), in KiB, from one read of /proc/PID/status.
    pub fn memory_kib(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = status
                .lines()
                .find(|l| l.split(':').next() == Some(name))
                .with_context(|| format!("no {name} in /proc/PID/status"))?;
            Ok(line.split_whitespace().nth(1).with_context(|| format!("{name} value"))?.parse()?)
        };
        Ok((field("VmRSS")?, field("RssAnon")?))
    }

    /// CPU time used so far (utime + stime, in clock ticks), all threads.
    pub fn cpu_ticks(&self) -> anyhow::Result<u64> {
        cpu_ticks(&self.pid().to_string())
    }

    /// SIGTERM, then a bounded wait (SIGKILL after it).
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// CPU time a process has used (utime + stime, in clock ticks of 10 ms), all threads;
/// `pid` may be `self`.
pub fn cpu_ticks(pid: &str) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("utime")?.parse()?;
    let stime: u64 = fields.get(12).context("stime")?.parse()?;
    Ok(utime + stime)
}
