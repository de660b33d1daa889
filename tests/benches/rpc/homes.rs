//! Measurement 7: scale and quiet. `Resolve` latency for one home in a daemon that opened
//! 10,000 (a CI runner gives every job its own `HF_HOME`) against a daemon that has only that
//! one, the two taking turns; and the daemon's CPU while another program writes 10,000 files
//! beside the HF home (in `~/.cache`, its parent).

use crate::load;
use crate::report::{Report, human, ratio, x};
use crate::setup::Daemon;
use hf_auth_proto::{ClientContext, HomePaths};
use serde_json::json;
use std::path::Path;

fn ctx_for(dir: &Path, endpoint: &str) -> hf_auth_proto::pb::ClientContext {
    ClientContext::new(HomePaths { token: dir.join("token"), stored_tokens: dir.join("stored_tokens") }, endpoint)
        .to_pb()
}

/// Turns each daemon takes, alternately, for the p50s.
const TURNS: usize = 10;

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
            "Resolve p50 for one home (1 client, {calls} calls) in a daemon that opened {homes} other homes \
             (each with a token file, one Resolve each; hf-authd keeps up to max_open_homes = 1,024 open and \
             closes the least recently used), against a second daemon with only its one home; the two take \
             {TURNS} turns each, alternately. Then {homes} files are written into the first one's HF home's \
             parent directory (as pip or another cache does in ~/.cache) and its CPU over that time is counted."
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
    let (mut one, mut many) = (load::Run::empty(), load::Run::empty());
    let (mut one_ticks, mut many_ticks) = (0, 0);
    for turn in 0..TURNS {
        // Each goes first every other turn.
        for crowded_now in [turn % 2 == 1, turn % 2 == 0] {
            if crowded_now {
                let t0 = daemon.cpu_ticks()?;
                many = many.merge(load::resolve(&daemon.socket, ctx, 1, calls / TURNS, 5).await?);
                many_ticks += daemon.cpu_ticks()? - t0;
            } else {
                let t0 = alone.cpu_ticks()?;
                one = one.merge(load::resolve(&alone.socket, alone_ctx, 1, calls / TURNS, 5).await?);
                one_ticks += alone.cpu_ticks()? - t0;
            }
        }
    }
    // CPU per call: the work each does, whatever the wake-ups cost (10 ms per tick).
    let per_call = |ticks: u64| std::time::Duration::from_micros(ticks * 10_000 / calls as u64);
    let vs = ratio(many.latencies.p50().as_secs_f64(), one.latencies.p50().as_secs_f64());

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
    r.table(
        &["case", "Resolve p50", "Resolve p99", "daemon CPU/call"],
        &[
            vec![
                "a daemon with 1 home open".into(),
                human(one.latencies.p50()),
                human(one.latencies.p99()),
                human(per_call(one_ticks)),
            ],
            vec![
                format!("a daemon that opened {homes} more homes"),
                human(many.latencies.p50()),
                human(many.latencies.p99()),
                human(per_call(many_ticks)),
            ],
        ],
    );
    r.note(&format!(
        "{homes} files written beside the HF home in {wrote:?}: the daemon used {ticks} CPU ticks (10 ms each)."
    ));
    r.figure(json!({
        "kind": "homes", "homes": homes, "cpu_one_us_per_call": crate::report::us(per_call(one_ticks)),
        "cpu_many_us_per_call": crate::report::us(per_call(many_ticks)), "p50_one_us": crate::report::us(one.latencies.p50()),
        "p50_many_us": crate::report::us(many.latencies.p50()), "ratio": vs, "unrelated_writes": homes, "ticks": ticks,
    }));
    r.target(&format!("Resolve p50 with {homes} homes opened within 1.1x of with 1"), x(vs), vs <= 1.1);
    r.target(
        &format!("no daemon CPU while {homes} unrelated files are written beside the HF home (< 2 ticks)"),
        format!("{ticks} ticks"),
        ticks < 2,
    );
    Ok(())
}
