//! Whole processes: git's credential helpers (measurement 1), spawned directly with the request
//! file as stdin (`spawn.rs`), with `/bin/true` spawned the same way as the floor; `hf-auth token`
//! against Python's (2), timed by hyperfine with `-N` (no shell); and the daemon's start-to-ready
//! time (5), timed here. Runs are split into rounds whose order rotates, so drift on a busy
//! machine hits every command alike; medians are over all runs.

use crate::report::{Report, Samples, human, ratio, x};
use crate::setup::{Daemon, TOKEN, bin};
use crate::spawn::Direct;
use anyhow::{Context, bail};
use hf_auth_tests::procs::World;
use serde_json::json;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// How many runs each kind of measurement gets.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    /// Per fast command (a few ms each), split over `rounds`.
    pub fast_runs: u32,
    pub rounds: u32,
    pub warmup: u32,
    /// Per Python command (hundreds of ms each).
    pub slow_runs: u32,
    /// Daemon starts.
    pub starts: u32,
}

struct Cmd {
    name: String,
    line: String,
}

impl Cmd {
    fn new(name: &str, line: String) -> Self {
        Self { name: name.to_owned(), line }
    }
}

struct Timing {
    samples: Samples,
    mean: f64,
    stddev: f64,
}

impl Timing {
    fn from_samples(samples: Samples, all: &[Duration]) -> Self {
        let t: Vec<f64> = all.iter().map(Duration::as_secs_f64).collect();
        let mean = t.iter().sum::<f64>() / t.len().max(1) as f64;
        let var = t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / t.len().max(2).saturating_sub(1) as f64;
        Self { samples, mean, stddev: var.sqrt() }
    }

    fn median_s(&self) -> f64 {
        self.samples.p50().as_secs_f64()
    }

    fn cells(&self) -> Vec<String> {
        vec![
            human(self.samples.p50()),
            format!("{} ± {}", human(Duration::from_secs_f64(self.mean)), human(Duration::from_secs_f64(self.stddev))),
            self.samples.len().to_string(),
        ]
    }
}

/// Runs `cmds` under hyperfine in `rounds` rounds (rotating their order); all times per name.
fn hyperfine(world: &World, cmds: &[Cmd], runs: u32, rounds: u32, warmup: u32) -> anyhow::Result<Vec<Timing>> {
    let export = world.dir.path().join("hyperfine.json");
    let per_round = (runs / rounds.max(1)).max(2);
    let mut times: HashMap<String, Vec<f64>> = HashMap::new();
    let mut order: Vec<&Cmd> = cmds.iter().collect();
    for _ in 0..rounds.max(1) {
        let mut command = world.command("hyperfine");
        command.args(["-N", "--style", "none", "--export-json"]).arg(&export);
        command.args(["--runs", &per_round.to_string(), "--warmup", &warmup.to_string()]);
        for c in &order {
            command.args(["-n", &c.name, &c.line]);
        }
        let out = command.stdout(Stdio::null()).stderr(Stdio::piped()).output().context("running hyperfine")?;
        if !out.status.success() {
            bail!("hyperfine failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&export)?)?;
        for result in json["results"].as_array().context("hyperfine json: no results")? {
            let name = result["command"].as_str().context("hyperfine json: command")?.to_owned();
            let t = result["times"].as_array().context("hyperfine json: times")?;
            times.entry(name).or_default().extend(t.iter().filter_map(serde_json::Value::as_f64));
        }
        order.rotate_left(1);
    }
    cmds.iter()
        .map(|c| {
            let t = times.remove(&c.name).context("hyperfine lost a command")?;
            let mean = t.iter().sum::<f64>() / t.len() as f64;
            let var = t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / t.len().max(2).saturating_sub(1) as f64;
            let samples = Samples::new(t.iter().map(|s| Duration::from_secs_f64(*s)).collect());
            Ok(Timing { samples, mean, stddev: var.sqrt() })
        })
        .collect()
}

/// Runs a command line once through `sh` (as hyperfine will run it) and checks its output.
fn check(world: &World, cmd: &Cmd, expect: &str) -> anyhow::Result<()> {
    let out = world.command("sh").arg("-c").arg(&cmd.line).output().with_context(|| format!("running {}", cmd.name))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !stdout.contains(expect) {
        bail!(
            "{} did not answer as expected (exit {:?})\n--- stdout\n{stdout}\n--- stderr\n{}",
            cmd.name,
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn figure(r: &mut Report, group: &str, name: &str, t: &Timing, baseline: Option<(&str, f64)>) {
    r.figure(json!({
        "kind": "process", "group": group, "name": name,
        "median_ms": t.median_s() * 1e3, "mean_ms": t.mean * 1e3, "stddev_ms": t.stddev * 1e3,
        "runs": t.samples.len(),
        "baseline": baseline.map(|b| b.0), "ratio": baseline.map(|b| b.1),
    }));
}

/// Measurement 1: `git-credential-hf get` against git's own helpers, daemon running, logged in.
pub fn git_helpers(r: &mut Report, world: &World, host: &str, c: Counts) -> anyhow::Result<()> {
    r.section(
        "1. git credential helper `get` (whole process)",
        "Every command is spawned directly (no shell) with the same request file as its stdin; \
         `/bin/true` spawned the same way is the floor. credential-store reads a plain file; \
         credential-cache asks its daemon over a Unix socket.",
    );
    let dir = world.dir.path();
    let req = dir.join("git-request");
    std::fs::write(&req, format!("protocol=http\nhost={host}\n\n"))?;
    let creds = dir.join("git-credentials");
    std::fs::write(&creds, format!("http://hf_user:{TOKEN}@{host}\n"))?;
    let cache_dir = dir.join("git-cache");
    std::fs::create_dir_all(&cache_dir)?;
    std::fs::set_permissions(&cache_dir, std::fs::Permissions::from_mode(0o700))?;
    let cache_sock = cache_dir.join("socket");
    let _cache = CredentialCache::start(world, &cache_sock, host)?;

    let helper = bin("git-credential-hf");
    let (creds_s, cache_s) = (creds.display().to_string(), cache_sock.display().to_string());
    let cmds = [
        Direct::new("git-credential-hf get", &helper, &["get"], Some(&req)),
        Direct::new("git credential-store get", "git", &["credential-store", "--file", &creds_s, "get"], Some(&req)),
        Direct::new("git credential-cache get", "git", &["credential-cache", "--socket", &cache_s, "get"], Some(&req)),
        Direct::new("floor: /bin/true", "/bin/true", &[], Some(&req)),
    ];
    for cmd in &cmds[..3] {
        cmd.check(world, &format!("password={TOKEN}"))?;
    }
    let t: Vec<Timing> = crate::spawn::time(world, &cmds, c.fast_runs, c.rounds, c.warmup)?
        .into_iter()
        .map(|s| {
            let all = s.all().to_vec();
            Timing::from_samples(s, &all)
        })
        .collect();
    let (hf, store, cache, floor) = (&t[0], &t[1], &t[2], &t[3]);
    let over_floor = |a: &Timing| (a.median_s() - floor.median_s()).max(0.0);
    let mut rows = Vec::new();
    for (cmd, timing) in cmds.iter().zip(&t) {
        let mut row = vec![format!("`{}`", cmd.name)];
        row.extend(timing.cells());
        row.push(x(ratio(timing.median_s(), store.median_s())));
        row.push(human(Duration::from_secs_f64(over_floor(timing))));
        rows.push(row);
        figure(
            r,
            "git-helper",
            &cmd.name,
            timing,
            Some(("git credential-store get", ratio(timing.median_s(), store.median_s()))),
        );
    }
    r.table(&["command", "median", "mean ± σ", "runs", "vs credential-store", "median above the floor"], &rows);
    let vs_store = ratio(hf.median_s(), store.median_s());
    r.note(&format!(
        "git-credential-hf vs credential-cache (another daemon round trip): {}.",
        x(ratio(hf.median_s(), cache.median_s()))
    ));
    r.target("git-credential-hf get no slower than git credential-store get", x(vs_store), vs_store <= 1.0);
    let above = ratio(over_floor(hf), over_floor(store));
    r.target("git-credential-hf get within 1.2x of credential-store above the /bin/true floor", x(above), above <= 1.2);
    Ok(())
}

/// `git credential-cache--daemon` holding the bench credential; told to exit on drop.
struct CredentialCache<'a> {
    world: &'a World,
    socket: PathBuf,
}

impl<'a> CredentialCache<'a> {
    fn start(world: &'a World, socket: &Path, host: &str) -> anyhow::Result<Self> {
        use std::io::Write;
        let mut child = world
            .command("git")
            .args(["credential-cache", "--timeout", "3600", "--socket"])
            .arg(socket)
            .arg("store")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("git credential-cache store")?;
        if let Some(mut stdin) = child.stdin.take() {
            write!(stdin, "protocol=http\nhost={host}\nusername=hf_user\npassword={TOKEN}\n\n")?;
        }
        if !child.wait()?.success() {
            bail!("git credential-cache store failed");
        }
        Ok(Self { world, socket: socket.to_path_buf() })
    }
}

impl Drop for CredentialCache<'_> {
    fn drop(&mut self) {
        let _ = self
            .world
            .command("git")
            .args(["credential-cache", "--socket"])
            .arg(&self.socket)
            .arg("exit")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Measurement 2: `hf-auth token` against Python's `hf auth token` and `get_token()`.
pub fn token_commands(r: &mut Report, world: &World, python: Option<&Path>, c: Counts) -> anyhow::Result<()> {
    r.section(
        "2. Printing the token: `hf-auth token` vs huggingface_hub 2.4.0",
        "All three run directly (`-N`, no shell); the Python ones from the venv, with the same HF_HOME.",
    );
    let ours = Cmd::new("hf-auth token", format!("{} token", bin("hf-auth").display()));
    check(world, &ours, TOKEN)?;
    let fast = hyperfine(world, std::slice::from_ref(&ours), c.fast_runs, c.rounds, c.warmup)?;
    let ours_t = &fast[0];
    let mut rows = vec![{
        let mut row = vec![format!("`{}`", ours.name)];
        row.extend(ours_t.cells());
        row.push("1x".into());
        row
    }];
    figure(r, "token", &ours.name, ours_t, None);
    let Some(python) = python else {
        r.table(&["command", "median", "mean ± σ", "runs", "slower than hf-auth token"], &rows);
        r.note("SKIPPED: the Python baselines (no venv with huggingface_hub 2.4.0; run tests/setup-python.sh).");
        return Ok(());
    };
    let hf = python.with_file_name("hf");
    let slow = [
        Cmd::new("hf auth token", format!("{} auth token", hf.display())),
        Cmd::new(
            "python -c 'huggingface_hub.get_token()'",
            format!("{} -c \"import huggingface_hub; huggingface_hub.get_token()\"", python.display()),
        ),
    ];
    check(world, &slow[0], TOKEN)?;
    check(
        world,
        &Cmd::new(
            "get_token",
            format!("{} -c \"import huggingface_hub as h; print(h.get_token())\"", python.display()),
        ),
        TOKEN,
    )?;
    let t = hyperfine(world, &slow, c.slow_runs, 1, 1)?;
    for (cmd, timing) in slow.iter().zip(&t) {
        let speedup = ratio(timing.median_s(), ours_t.median_s());
        let mut row = vec![format!("`{}`", cmd.name)];
        row.extend(timing.cells());
        row.push(x(speedup));
        rows.push(row);
        figure(r, "token", &cmd.name, timing, Some(("hf-auth token", speedup)));
    }
    r.table(&["command", "median", "mean ± σ", "runs", "slower than hf-auth token"], &rows);
    let speedup = ratio(t[0].median_s(), ours_t.median_s());
    r.target("hf-auth token at least 300x faster than hf auth token", x(speedup), speedup >= 300.0);
    Ok(())
}

/// Start-to-ready: spawn `hf-authd --print-ready` until its "ready" line, `n` times (each on a
/// fresh socket directory), then stop it.
pub fn start_to_ready(world: &World, n: u32) -> anyhow::Result<Samples> {
    let mut times = Vec::new();
    for i in 0..n {
        let dir = world.dir.path().join(format!("ready-{i}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let daemon = Daemon::spawn(world, &dir.join("s.sock"))?;
        times.push(daemon.ready_after);
        daemon.stop();
    }
    Ok(Samples::new(times))
}
