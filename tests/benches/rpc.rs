//! hf-auth's benchmark suite (issue 8), outside libtest: `cargo bench -p hf-auth-tests --bench rpc`,
//! normally through `tests/bench/run.sh`, which builds the release binaries first and writes
//! BENCHMARKS.md from what this prints.
//!
//! Every figure is a median (or a percentile) over many runs, next to a baseline measured in the
//! same run, as a ratio. Flags: `--smoke` (tiny counts: checks that every measurement runs),
//! `--markdown PATH`, `--json PATH` (one object per figure; also printed on stdout as they come),
//! `--no-processes` (skip what needs hyperfine), `--only git,token,rpc,whoami,watch,footprint,homes`,
//! `--footprint-requests N`, `--homes N`. `HF_AUTH_BENCH_BIN_DIR` points at another build of the binaries (to
//! compare two builds). Progress and tables go to stderr.

#[path = "rpc/bare.rs"]
mod bare;
#[path = "rpc/cdf.rs"]
mod cdf;
#[path = "rpc/echo.rs"]
mod echo;
#[path = "rpc/footprint.rs"]
mod footprint;
#[path = "rpc/homes.rs"]
mod homes;
#[path = "rpc/load.rs"]
mod load;
#[path = "rpc/placed.rs"]
mod placed;
#[path = "rpc/placement.rs"]
mod placement;
#[path = "rpc/processes.rs"]
mod processes;
#[path = "rpc/report.rs"]
mod report;
#[path = "rpc/resolve.rs"]
mod resolve;
#[path = "rpc/setup.rs"]
mod setup;
#[path = "rpc/spawn.rs"]
mod spawn;
#[path = "rpc/tally.rs"]
mod tally;

use anyhow::Context;
use report::{Report, human, ratio, us, x};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Options {
    smoke: bool,
    processes: bool,
    markdown: Option<PathBuf>,
    json: Option<PathBuf>,
    /// `--svg PATH`: the latency distribution (CDF) of Resolve, bare tonic and the echo.
    svg: Option<PathBuf>,
    /// `--only git,token,rpc,whoami,watch,footprint,homes`: a subset, for profiling one thing.
    only: Option<Vec<String>>,
    /// `--footprint-requests N`: a longer (or shorter) run for the memory figures.
    footprint_requests: Option<usize>,
    /// `--homes N`: how many homes the crowded daemon of measurement 7 opens.
    homes: Option<usize>,
}

impl Options {
    fn wants(&self, what: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.iter().any(|o| o == what))
    }
}

/// Counts for one mode.
#[derive(Debug, Clone, Copy)]
struct Plan {
    procs: processes::Counts,
    /// Resolve (and echo) calls per concurrency level.
    calls: [(usize, usize); 3],
    warmup_calls: usize,
    whoami_calls: usize,
    footprint_requests: usize,
    idle_window: Duration,
    watch_writes: usize,
    /// Homes opened, and unrelated files written, for measurement 7; Resolve calls per case.
    homes: usize,
    homes_calls: usize,
}

const FULL: Plan = Plan {
    procs: processes::Counts { fast_runs: 1000, rounds: 10, warmup: 10, slow_runs: 10, starts: 20 },
    calls: [(1, 20_000), (16, 50_000), (256, 50_000)],
    warmup_calls: 5,
    whoami_calls: 5_000,
    footprint_requests: 100_000,
    idle_window: Duration::from_secs(5),
    watch_writes: 200,
    homes: 10_000,
    homes_calls: 5_000,
};

const SMOKE: Plan = Plan {
    procs: processes::Counts { fast_runs: 10, rounds: 2, warmup: 1, slow_runs: 2, starts: 2 },
    calls: [(1, 200), (16, 400), (256, 600)],
    warmup_calls: 1,
    whoami_calls: 20,
    footprint_requests: 2_000,
    idle_window: Duration::from_secs(1),
    watch_writes: 5,
    homes: 200,
    homes_calls: 100,
};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut opts = Options { processes: true, ..Options::default() };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            echo::FLAG => {
                let socket = args.next().map(PathBuf::from).unwrap_or_default();
                return match echo::serve(&socket) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("echo server: {e:#}");
                        ExitCode::FAILURE
                    }
                };
            }
            bare::FLAG => {
                let socket = args.next().map(PathBuf::from).unwrap_or_default();
                return match bare::serve(&socket) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("bare tonic server: {e:#}");
                        ExitCode::FAILURE
                    }
                };
            }
            "--svg" => opts.svg = args.next().map(PathBuf::from),
            "--smoke" => opts.smoke = true,
            "--no-processes" => opts.processes = false,
            "--markdown" => opts.markdown = args.next().map(PathBuf::from),
            "--json" => opts.json = args.next().map(PathBuf::from),
            "--footprint-requests" => opts.footprint_requests = args.next().and_then(|n| n.parse().ok()),
            "--homes" => opts.homes = args.next().and_then(|n| n.parse().ok()),
            "--only" => opts.only = args.next().map(|s| s.split(',').map(str::to_owned).collect()),
            // cargo bench passes --bench; libtest filters make no sense here.
            _ => {}
        }
    }
    let started = Instant::now();
    match run(&opts) {
        Ok(report) => {
            let mut markdown = report.markdown();
            markdown.push_str(&format!("\nThe suite took {:.0} s.\n", started.elapsed().as_secs_f64()));
            let written = opts
                .markdown
                .iter()
                .map(|p| std::fs::write(p, &markdown))
                .chain(opts.json.iter().map(|p| std::fs::write(p, report.json_lines())))
                .collect::<Result<Vec<()>, _>>();
            if let Err(e) = written {
                eprintln!("benchmarks: cannot write the report: {e}");
                return ExitCode::FAILURE;
            }
            eprintln!("\nbenchmarks done in {:.1} s", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("benchmarks: a measurement could not run: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Options) -> anyhow::Result<Report> {
    let mut plan = if opts.smoke { SMOKE } else { FULL };
    if let Some(n) = opts.footprint_requests {
        plan.footprint_requests = n;
    }
    if let Some(n) = opts.homes {
        plan.homes = n;
    }
    let mut r = Report::new(!opts.smoke);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let hub = setup::Hub::start()?;
    let world = setup::logged_in_world(&hub.endpoint())?;
    let ctx = setup::context(&world).to_pb();
    let daemon = setup::Daemon::spawn(&world, &world.socket())?;

    if !opts.processes {
        r.section("1–2. Whole processes", "");
        r.note("SKIPPED: hyperfine is not installed (Debian package `hyperfine`).");
    }
    if opts.processes && opts.wants("git") {
        processes::git_helpers(&mut r, &world, &hub.host(), plan.procs)?;
    }
    if opts.processes && opts.wants("token") {
        let python = hf_auth_tests::python::python();
        processes::token_commands(&mut r, &world, python.as_deref(), plan.procs)?;
    }
    if opts.wants("rpc") {
        runtime.block_on(resolve::rpc(&mut r, &world, &daemon, &ctx, &plan, opts.svg.as_deref()))?;
    }
    if opts.wants("whoami") {
        runtime.block_on(whoami(&mut r, &daemon, &ctx, &hub.endpoint(), plan.whoami_calls))?;
    }
    if opts.wants("watch") {
        watch(&mut r, &runtime, &world, &daemon, &ctx, plan.watch_writes)?;
    }
    daemon.stop();
    if opts.wants("footprint") {
        // On daemons of their own: a fresh one for memory and CPU, then start times.
        let quiet = setup::logged_in_world(&hub.endpoint())?;
        let fresh = setup::Daemon::spawn(&quiet, &quiet.socket())?;
        let starts = processes::start_to_ready(&world, plan.procs.starts)?;
        let qctx = setup::context(&quiet).to_pb();
        runtime.block_on(footprint::footprint(
            &mut r,
            &fresh,
            &qctx,
            plan.footprint_requests,
            plan.idle_window,
            &starts,
        ))?;
        fresh.stop();
    }
    if opts.wants("homes") {
        // Two fresh daemons side by side, one to stay with its one home and one to open
        // thousands more, each in a world of its own.
        let mut daemons = Vec::with_capacity(2);
        for _ in 0..2 {
            let quiet = setup::logged_in_world(&hub.endpoint())?;
            // As on a real machine, ~/.config/hf-auth exists apart from the cache directory (else
            // the daemon watches their common parent, waiting for the config directory to appear).
            std::fs::create_dir_all(quiet.dir.path().join("config").join("hf-auth"))?;
            let daemon = setup::Daemon::spawn(&quiet, &quiet.socket())?;
            let ctx = setup::context(&quiet).to_pb();
            daemons.push((quiet, daemon, ctx));
        }
        let [(_, single, single_ctx), (crowded_world, crowded, crowded_ctx)] = &daemons[..] else {
            unreachable!("two daemons were spawned")
        };
        let scratch = crowded_world.dir.path().join("homes");
        runtime.block_on(homes::many_homes(
            &mut r,
            (single, single_ctx),
            (crowded, crowded_ctx),
            &scratch,
            &hub.endpoint(),
            plan.homes,
            plan.homes_calls,
        ))?;
        for (_, daemon, _) in daemons {
            daemon.stop();
        }
    }
    Ok(r)
}

/// Measurement 6: change propagation, on the main daemon.
fn watch(
    r: &mut Report,
    runtime: &tokio::runtime::Runtime,
    world: &hf_auth_tests::procs::World,
    daemon: &setup::Daemon,
    ctx: &hf_auth_proto::pb::ClientContext,
    writes: usize,
) -> anyhow::Result<()> {
    r.section(
        "6. Change propagation",
        "A temp file written beside the token file and renamed over it (as huggingface_hub and \
         editors write), until `Watch` delivers ACTIVE_CHANGED. A rename onto a home's file (or a \
         close after writing it) reloads at once; other events are coalesced for 8 ms (SETTLE in \
         daemon/src/watch.rs) so a burst costs one reload.",
    );
    let token_file = world.hf_home().join("token");
    let w = runtime.block_on(footprint::propagation(&daemon.socket, ctx, &token_file, writes))?;
    r.table(
        &["writes", "p50", "p99", "max"],
        &[vec![w.len().to_string(), human(w.p50()), human(w.p99()), human(w.pct(100.0))]],
    );
    r.figure(json!({"kind": "watch", "writes": w.len(), "p50_us": us(w.p50()), "p99_us": us(w.p99())}));
    Ok(())
}

/// Measurement 4: WhoAmI through the daemon (warm cache) vs straight to the fake Hub.
async fn whoami(
    r: &mut Report,
    daemon: &setup::Daemon,
    ctx: &hf_auth_proto::pb::ClientContext,
    endpoint: &str,
    n: usize,
) -> anyhow::Result<()> {
    r.section(
        "4. `whoami`: the daemon's warm cache vs asking the Hub",
        "Sequential calls on one connection each: WhoAmI to hf-authd after one call filled its cache, \
         and GET /api/whoami-v2 to the fake Hub on loopback with a kept-alive reqwest client (a floor \
         for any real Hub request, which crosses the Internet and TLS).",
    );
    let (via, cached) = load::whoami(&daemon.socket, ctx, n).await.context("WhoAmI")?;
    let direct = load::whoami_direct(endpoint, setup::TOKEN, n).await.context("direct whoami")?;
    let rel = ratio(via.p50().as_secs_f64(), direct.p50().as_secs_f64());
    r.table(
        &["path", "calls", "p50", "p99", "vs direct"],
        &[
            vec![
                format!("hf-authd WhoAmI (cache: {cached}/{n} answers)"),
                n.to_string(),
                human(via.p50()),
                human(via.p99()),
                x(rel),
            ],
            vec![
                "direct GET to the fake Hub".into(),
                n.to_string(),
                human(direct.p50()),
                human(direct.p99()),
                "1x".into(),
            ],
        ],
    );
    r.figure(json!({
        "kind": "whoami", "calls": n, "cached": cached,
        "daemon_p50_us": us(via.p50()), "daemon_p99_us": us(via.p99()),
        "direct_p50_us": us(direct.p50()), "direct_p99_us": us(direct.p99()), "ratio": rel,
    }));
    Ok(())
}
