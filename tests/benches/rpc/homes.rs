//! Measurement 7: scale and quiet. `Resolve` latency for one home in a daemon that opened
//! 10,000 (a CI runner gives every job its own `HF_HOME`) against a daemon that has only that
//! one, the two taking turns; and the daemon's CPU while another program writes 10,000 files
//! beside the HF home (in `~/.cache`, its parent).

use crate::load;
use crate::placement::{Cpus, Placement};
use crate::report::{Report, human, ratio, us, x};
use crate::setup::Daemon;
use crate::tally::Tally;
use hf_auth_proto::{ClientContext, HomePaths};
use serde_json::json;
use std::path::Path;

fn ctx_for(dir: &Path, endpoint: &str) -> hf_auth_proto::pb::ClientContext {
    ClientContext::new(HomePaths { token: dir.join("token"), stored_tokens: dir.join("stored_tokens") }, endpoint)
        .to_pb()
}

/// Turns each daemon takes, alternately, in each placement.
const TURNS: usize = 16;
/// Untimed calls on each turn's new connection (counted in the CPU per call).
const WARMUP: usize = 5;

/// `single` and `crowded` are fresh daemons, each with the context of its own home; `crowded`
/// is the one that opens `homes` more (in `scratch`, a directory of the bench's own).
pub async fn many_homes(
    r: &mut Report,
    single: (&Daemon, &hf_auth_proto::pb::ClientContext),
    crowded: (&Daemon, &hf_auth_proto::pb::ClientContext),
    scratch: &Path,
    endpoint: &str,
    homes: usize,
    calls: usize,
) -> anyhow::Result<()> {
    r.section(
        "7. Many homes, and files that are not ours",
        &format!(
            "Resolve p50 for one home (1 client) in a daemon that opened {homes} other homes (each with a \
             token file, one Resolve each; hf-authd keeps up to max_open_homes = 1,024 open and closes the \
             least recently used), against a second daemon with only its one home. In each placement of the \
             client and the daemons, the two take {TURNS} turns of {per_turn} calls, alternately (each goes \
             first every other turn); a turn's ratio compares two runs made back to back, and the verdict is \
             their median. Then {homes} files are written into the first one's HF home's parent directory \
             (as pip or another cache does in ~/.cache) and its CPU over that time is counted.",
            per_turn = (calls / TURNS).max(1),
        ),
    );
    let ((daemon, ctx), (alone, alone_ctx)) = (crowded, single);
    let root = scratch.join("jobs");
    for i in 0..homes {
        let dir = root.join(format!("job{i}")).join("hf");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("token"), format!("hf_job{i}"))?;
    }
    let mut clients = load::clients(&daemon.socket, 1).await?;
    for i in 0..homes {
        let ctx = ctx_for(&root.join(format!("job{i}")).join("hf"), endpoint);
        clients[0].resolve(hf_auth_proto::pb::ResolveRequest { context: Some(ctx), username: String::new() }).await?;
    }
    drop(clients);
    // What opening them left behind (closing the least recently used, their watches, the audit
    // lines) settles first: measured is a daemon with many homes, not one busy opening them.
    let settle_until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut settled_ticks = daemon.cpu_ticks()?;
    while std::time::Instant::now() < settle_until {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = daemon.cpu_ticks()?;
        if now == settled_ticks {
            break;
        }
        settled_ticks = now;
    }
    let cpus = Cpus::of_this_thread()?;
    let pids = [daemon.pid(), alone.pid()];
    let mut placed = Vec::new();
    // Pinned first, as scheduled last.
    for placement in cpus.placements().into_iter().rev() {
        let turns = cpus.within(placement, &pids, turns((alone, alone_ctx), (daemon, ctx), (calls / TURNS).max(1)));
        placed.push((placement, turns.await?));
    }
    // Unrelated files beside the HF home.
    let token_path = hf_auth_proto::ClientContext::from_pb(ctx.clone())?.paths.token;
    let cache = token_path.parent().and_then(Path::parent).unwrap_or(scratch).to_path_buf();
    let before = daemon.cpu_ticks()?;
    let started = std::time::Instant::now();
    for i in 0..homes {
        std::fs::write(cache.join(format!("cache-file-{i}")), b"x")?;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let ticks = daemon.cpu_ticks()? - before;
    let wrote = started.elapsed();
    let rows: Vec<Vec<String>> = placed
        .iter()
        .map(|(placement, t)| {
            vec![
                placement.describe().into(),
                human(t.one.p50()),
                human(t.many.p50()),
                x(t.median_ratio()),
                x(t.pooled_ratio()),
                format!(
                    "{} / {}",
                    human(t.one.cpu_per_call(t.one.run.latencies.len() + TURNS * WARMUP)),
                    human(t.many.cpu_per_call(t.many.run.latencies.len() + TURNS * WARMUP))
                ),
                format!("{:.2} / {:.2}", t.one.sched_per_call().0, t.many.sched_per_call().0),
                format!("{:.3} / {:.3}", t.one.sched_per_call().1, t.many.sched_per_call().1),
            ]
        })
        .collect();
    r.table(
        &[
            "placement",
            "p50, 1 home",
            &format!("p50, {homes} more homes"),
            "median of per-turn ratios",
            "pooled p50 ratio",
            "daemon CPU/call (1 / many)",
            "context switches/call (1 / many)",
            "moves between CPUs/call (1 / many)",
        ],
        &rows,
    );
    r.note(&format!(
        "{homes} files written beside the HF home in {wrote:?}: the daemon used {ticks} CPU ticks (10 ms each)."
    ));
    for (placement, t) in &placed {
        r.figure(json!({
            "kind": "homes", "homes": homes, "placement": placement.key(),
            "cpu_one_us_per_call": us(t.one.cpu_per_call(t.one.run.latencies.len() + TURNS * WARMUP)),
            "cpu_many_us_per_call": us(t.many.cpu_per_call(t.many.run.latencies.len() + TURNS * WARMUP)),
            "p50_one_us": us(t.one.p50()), "p50_many_us": us(t.many.p50()),
            "ratio": t.median_ratio(), "pooled_ratio": t.pooled_ratio(), "turn_ratios": t.ratios,
            "switches_one_per_call": t.one.sched_per_call().0, "switches_many_per_call": t.many.sched_per_call().0,
            "migrations_one_per_call": t.one.sched_per_call().1, "migrations_many_per_call": t.many.sched_per_call().1,
        }));
        let what = format!("Resolve p50 with {homes} homes opened within 1.1x of with 1");
        match placement {
            // The scheduler's luck, not the daemon's work: shown, not judged.
            Placement::AsScheduled => r.note(&format!(
                "{what}, {}: {} (median of per-turn ratios; pooled {}). Not a verdict: which CPU each \
                 side wakes on decides most of it (see the placements above).",
                placement.describe(),
                x(t.median_ratio()),
                x(t.pooled_ratio()),
            )),
            _ => {
                let vs = t.median_ratio();
                let what = format!("{what} ({}, median of per-turn ratios)", placement.describe());
                r.target(&what, format!("{vs:.3}x"), vs <= 1.1);
            }
        }
    }
    r.figure(json!({ "kind": "unrelated_writes", "files": homes, "ticks": ticks }));
    r.target(
        &format!("no daemon CPU while {homes} unrelated files are written beside the HF home (< 2 ticks)"),
        format!("{ticks} ticks"),
        ticks < 2,
    );
    Ok(())
}

/// Both daemons' calls in one placement, and the ratio of their p50s turn by turn.
struct Turns {
    one: Tally,
    many: Tally,
    /// Crowded p50 over single p50, per turn, in turn order.
    ratios: Vec<f64>,
}

impl Turns {
    /// The verdict's figure: each turn compares two runs made back to back in one placement.
    fn median_ratio(&self) -> f64 {
        crate::report::median(&mut self.ratios.clone())
    }

    fn pooled_ratio(&self) -> f64 {
        ratio(self.many.p50().as_secs_f64(), self.one.p50().as_secs_f64())
    }
}

/// [`TURNS`] turns of `calls` calls for each daemon, one client at a time, each daemon going
/// first every other turn.
async fn turns(
    (alone, alone_ctx): (&Daemon, &hf_auth_proto::pb::ClientContext),
    (crowded, ctx): (&Daemon, &hf_auth_proto::pb::ClientContext),
    calls: usize,
) -> anyhow::Result<Turns> {
    let mut t = Turns { one: Tally::new(), many: Tally::new(), ratios: Vec::with_capacity(TURNS) };
    for turn in 0..TURNS {
        let mut p50 = [0.0; 2];
        for crowded_now in [turn % 2 == 1, turn % 2 == 0] {
            let (daemon, ctx, side) =
                if crowded_now { (crowded, ctx, &mut t.many) } else { (alone, alone_ctx, &mut t.one) };
            let (p50_now, _) = side.turn(daemon.pid(), load::resolve(&daemon.socket, ctx, 1, calls, WARMUP)).await?;
            p50[usize::from(crowded_now)] = p50_now.as_secs_f64();
        }
        t.ratios.push(ratio(p50[1], p50[0]));
    }
    Ok(t)
}
