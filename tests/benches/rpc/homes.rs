//! Measurement 7: scale and quiet. `Resolve` latency for one home while 10,000 are open (a CI
//! runner gives every job its own `HF_HOME`) against the same daemon with one; and the daemon's
//! CPU while another program writes 10,000 files beside the HF home (in `~/.cache`, its parent).

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

/// `daemon` is fresh; `scratch` a directory of the bench's own; `homes` how many to open.
pub async fn many_homes(
    r: &mut Report,
    daemon: &Daemon,
    ctx: &hf_auth_proto::pb::ClientContext,
    scratch: &Path,
    endpoint: &str,
    homes: usize,
    calls: usize,
) -> anyhow::Result<()> {
    r.section(
        "7. Many homes, and files that are not ours",
        &format!(
            "Resolve p50 for one home (1 client, {calls} calls) with only it open, then after {homes} other homes \
             were opened (each with a token file, one Resolve each; hf-authd keeps up to max_open_homes = 1,024 \
             open and closes the least recently used). Then {homes} files are written into the HF home's parent \
             directory (as pip or another cache does in ~/.cache) and the daemon's CPU over that time is counted."
        ),
    );
    let one = load::resolve(&daemon.socket, ctx, 1, calls, 5).await?;
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
    let many = load::resolve(&daemon.socket, ctx, 1, calls, 5).await?;
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
        &["case", "Resolve p50", "Resolve p99"],
        &[
            vec!["1 home open".into(), human(one.latencies.p50()), human(one.latencies.p99())],
            vec![format!("after {homes} more homes"), human(many.latencies.p50()), human(many.latencies.p99())],
        ],
    );
    r.note(&format!(
        "{homes} files written beside the HF home in {wrote:?}: the daemon used {ticks} CPU ticks (10 ms each)."
    ));
    r.figure(json!({
        "kind": "homes", "homes": homes, "p50_one_us": crate::report::us(one.latencies.p50()),
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
