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
#[path = "rpc/processes.rs"]
mod processes;
#[path = "rpc/report.rs"]
mod report;
#[path = "rpc/setup.rs"]
mod setup;
#[path = "rpc/spawn.rs"]
mod spawn;

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
        runtime.block_on(rpc(&mut r, &world, &daemon, &ctx, &plan, opts.svg.as_deref()))?;
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

/// Each level of measurement 3 runs in this many alternating echo/bare/Resolve segments: at
/// one client a p50 of some 40 µs moves with the machine's state from one second to the next,
/// so the servers take turns often (2,000 calls a turn); with many clients a turn must stay
/// long enough (6,250 calls) that starting and draining the clients do not weigh on the
/// throughput.
const fn segments(clients: usize) -> usize {
    if clients == 1 { 10 } else { 8 }
}
/// Segments of the new-connection row (one client).
const SEGMENTS: usize = segments(1);

/// Measurement 3: Resolve latency and throughput against the echo floor, level by level.
async fn rpc(
    r: &mut Report,
    world: &hf_auth_tests::procs::World,
    daemon: &setup::Daemon,
    ctx: &hf_auth_proto::pb::ClientContext,
    plan: &Plan,
    svg: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    r.section(
        "3. `Resolve` over the Unix socket vs a bare tonic server and a raw echo round trip",
        &format!(
            "One current-thread tokio runtime drives N clients, each with its own connection; the daemon \
             and the echo server are separate processes with 2 worker threads each. Echo messages are \
             {} bytes, about one Resolve request. Echo, bare tonic and Resolve take turns ({} turns at 1 \
             client, {} with more; bare tonic and Resolve swap places every turn), so all see the machine in the same state; on an idle VM a round trip is mostly two core wake-ups, \
             for the echo as for Resolve. Latency is per call, throughput is calls over wall time; against bare tonic \
             it is the median over the turns of the two rates measured side by side. CPU per \
             call (utime+stime from /proc) is the cost that does not depend on how busy the machine is. The \
             last row opens a connection for each call, as every git-credential-hf process does. The bare \
             tonic server serves the same service with hf-authd's runtime, server settings and accept loop, \
             and a Resolve that returns a fixed answer of the same size: the cost of gRPC itself (its CPU per \
             call beside the daemon's is hf-authd's own work, whatever the scheduling). The latency \
             distribution for one client is drawn in [BENCHMARKS-latency.svg](BENCHMARKS-latency.svg).",
            load::ECHO_BYTES,
            segments(1),
            segments(2),
        ),
    );
    let echo_dir = world.dir.path().join("echo");
    std::fs::create_dir_all(&echo_dir)?;
    let echo = echo::EchoServer::spawn(&echo_dir.join("echo.sock"))?;
    let bare = echo::EchoServer::spawn_mode(bare::FLAG, &echo_dir.join("bare.sock"))?;
    let mut rows = Vec::new();
    let (mut p50_ratio_1, mut best) = (f64::NAN, 0.0f64);
    let (mut bare_p50_1, mut bare_rates) = (f64::NAN, Vec::new());
    let mut curves = None;
    for (clients, calls) in plan.calls {
        let warm = plan.warmup_calls;
        // Echo, bare tonic and Resolve take turns (`segments`), so all see the machine in the same
        // state (how busy it is, how deep its idle cores sleep between round trips).
        let (mut e, mut res, mut daemon_ticks, mut client_ticks) = (load::Run::empty(), load::Run::empty(), 0, 0);
        let (mut b, mut bare_ticks) = (load::Run::empty(), 0);
        let turns = segments(clients);
        // Throughput against bare tonic, turn by turn: each turn's two rates saw the same
        // second of the machine, so their ratio does not move with a burst of load elsewhere.
        let mut paired = Vec::with_capacity(turns);
        for turn in 0..turns {
            e = e.merge(load::echo(&echo.socket, clients, calls / turns, warm).await.context("echo")?);
            // Bare tonic first on even turns, hf-authd first on odd ones: neither always runs
            // right after the other (whose closing connections may still be winding down).
            let (mut bare_turn, mut daemon_turn) = (None, None);
            for daemon_now in [turn % 2 == 1, turn % 2 == 0] {
                if daemon_now {
                    let (d0, g0) = (daemon.cpu_ticks()?, setup::cpu_ticks("self")?);
                    let run = load::resolve(&daemon.socket, ctx, clients, calls / turns, warm).await;
                    daemon_ticks += daemon.cpu_ticks()? - d0;
                    client_ticks += setup::cpu_ticks("self")? - g0;
                    daemon_turn = Some(run.context("Resolve")?);
                } else {
                    let b0 = bare.cpu_ticks()?;
                    let run = load::resolve(&bare.socket, ctx, clients, calls / turns, warm).await;
                    bare_ticks += bare.cpu_ticks()? - b0;
                    bare_turn = Some(run.context("bare tonic")?);
                }
            }
            let (bare_turn, daemon_turn) =
                (bare_turn.context("no bare turn")?, daemon_turn.context("no Resolve turn")?);
            paired.push(ratio(daemon_turn.per_sec(), bare_turn.per_sec()));
            b = b.merge(bare_turn);
            res = res.merge(daemon_turn);
        }
        // CPU per call, 10 ms per tick: over the measured and the warm-up calls, and the
        // turns' connects (at 256 clients, 8 turns: 10,240 warm-up calls of 60,240, and 2,048
        // connects), alike for hf-authd and bare tonic.
        let per_call = |ticks: u64| Duration::from_micros(ticks * 10_000 / (calls + turns * clients * warm) as u64);
        let (daemon_cpu, client_cpu, bare_cpu) = (per_call(daemon_ticks), per_call(client_ticks), per_call(bare_ticks));
        let p50_ratio = ratio(res.latencies.p50().as_secs_f64(), e.latencies.p50().as_secs_f64());
        let vs_bare = ratio(res.latencies.p50().as_secs_f64(), b.latencies.p50().as_secs_f64());
        // The verdict's figure: the median turn's ratio. The pooled one (all calls over all wall
        // time, each side) is in the JSON figures beside it.
        let pooled_vs_bare = ratio(res.per_sec(), b.per_sec());
        let rate_vs_bare = report::median(&mut paired.clone());
        if clients == 1 {
            p50_ratio_1 = p50_ratio;
            bare_p50_1 = vs_bare;
            curves = Some((res.latencies.all().to_vec(), b.latencies.all().to_vec(), e.latencies.all().to_vec()));
        } else {
            bare_rates.push((clients, rate_vs_bare));
        }
        best = best.max(res.per_sec());
        rows.push(vec![
            clients.to_string(),
            calls.to_string(),
            human(res.latencies.p50()),
            human(res.latencies.p99()),
            format!("{:.0}", res.per_sec()),
            human(e.latencies.p50()),
            human(e.latencies.p99()),
            format!("{:.0}", e.per_sec()),
            x(p50_ratio),
            human(b.latencies.p50()),
            format!("{:.0}", b.per_sec()),
            x(vs_bare),
            x(rate_vs_bare),
            human(daemon_cpu),
            human(bare_cpu),
            human(client_cpu),
        ]);
        r.figure(json!({
            "kind": "rpc", "clients": clients, "calls": calls,
            "resolve_p50_us": us(res.latencies.p50()), "resolve_p99_us": us(res.latencies.p99()),
            "resolve_per_s": res.per_sec().round(),
            "echo_p50_us": us(e.latencies.p50()), "echo_p99_us": us(e.latencies.p99()), "echo_per_s": e.per_sec().round(),
            "p50_ratio": p50_ratio, "daemon_cpu_us_per_call": us(daemon_cpu), "bare_cpu_us_per_call": us(bare_cpu), "client_cpu_us_per_call": us(client_cpu),
            "bare_p50_us": us(b.latencies.p50()), "bare_per_s": b.per_sec().round(),
            "p50_vs_bare": vs_bare, "per_s_vs_bare": rate_vs_bare, "per_s_vs_bare_pooled": pooled_vs_bare,
            "per_s_vs_bare_turns": paired,
        }));
    }
    // What each git-credential-hf process does: a connection of its own for one call.
    let n = plan.calls[0].1 / 10;
    let (mut e, mut res) = (report::Samples::new(Vec::new()), report::Samples::new(Vec::new()));
    let mut b = report::Samples::new(Vec::new());
    for _ in 0..SEGMENTS {
        e = e.merge(load::echo_fresh(&echo.socket, n / SEGMENTS).await.context("echo, fresh connections")?);
        b = b.merge(load::resolve_fresh(&bare.socket, ctx, n / SEGMENTS).await.context("bare tonic, fresh")?);
        res = res.merge(load::resolve_fresh(&daemon.socket, ctx, n / SEGMENTS).await.context("Resolve, fresh")?);
    }
    let fresh_ratio = ratio(res.p50().as_secs_f64(), e.p50().as_secs_f64());
    let fresh_vs_bare = ratio(res.p50().as_secs_f64(), b.p50().as_secs_f64());
    rows.push(vec![
        "1, new connection per call".into(),
        n.to_string(),
        human(res.p50()),
        human(res.p99()),
        String::new(),
        human(e.p50()),
        human(e.p99()),
        String::new(),
        x(fresh_ratio),
        human(b.p50()),
        String::new(),
        x(fresh_vs_bare),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    r.figure(json!({
        "kind": "rpc", "clients": 1, "fresh_connections": true, "calls": n,
        "resolve_p50_us": us(res.p50()), "resolve_p99_us": us(res.p99()),
        "echo_p50_us": us(e.p50()), "echo_p99_us": us(e.p99()), "p50_ratio": fresh_ratio,
        "bare_p50_us": us(b.p50()), "p50_vs_bare": fresh_vs_bare,
    }));
    drop(echo);
    drop(bare);
    if let (Some(path), Some((res, bare, echo))) = (svg, &curves) {
        std::fs::write(
            path,
            cdf::svg(
                "Resolve latency, 1 client (CDF)",
                &[("hf-authd Resolve", res), ("bare tonic", bare), ("raw echo", echo)],
            ),
        )?;
    }
    r.table(
        &[
            "clients",
            "calls",
            "Resolve p50",
            "Resolve p99",
            "Resolve/s",
            "echo p50",
            "echo p99",
            "echo/s",
            "p50 vs echo",
            "bare tonic p50",
            "bare tonic/s",
            "p50 vs bare",
            "/s vs bare (median turn)",
            "daemon CPU/call",
            "bare tonic CPU/call",
            "client CPU/call",
        ],
        &rows,
    );
    r.target("Resolve p50 within 3x of the echo round trip (1 client)", x(p50_ratio_1), p50_ratio_1 <= 3.0);
    r.target("at least 20k resolves/s (best level)", format!("{best:.0}/s"), best >= 20_000.0);
    r.target("Resolve p50 within 1.3x of a bare tonic server (1 client)", x(bare_p50_1), bare_p50_1 <= 1.3);
    for (clients, rate) in bare_rates {
        r.target(
            &format!("Resolve throughput at least 0.8x a bare tonic server ({clients} clients)"),
            x(rate),
            rate >= 0.8,
        );
    }
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
