//! The daemon's footprint (measurement 5: memory and CPU, read from /proc) and change
//! propagation (measurement 6: an external write to the token file until `Watch` delivers it).

use crate::load;
use crate::report::{Report, Samples};
use crate::setup::{Daemon, TOKEN};
use anyhow::Context;
use hf_auth::connect;
use hf_auth_proto::pb::{self, watch_event::Kind};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const RSS_LIMIT_KIB: u64 = 15 * 1024;
/// "No growth": over the second half of the requests, the daemon's anonymous memory (RssAnon)
/// may grow by less than this many bytes per request. Leaking even one allocation per request
/// would cost more (a glibc malloc chunk is at least 32 bytes); a long run
/// (`--footprint-requests 1000000`) shows it flat after the allocator's warm-up, which is what
/// the first half absorbs. VmRSS also counts the binary's own pages, which fault in the first
/// time a code path runs (a connection closed in a new way, say): that is not memory the
/// requests hold, so growth is judged on RssAnon and VmRSS is shown beside it.
const GROWTH_LIMIT_BYTES_PER_REQUEST: f64 = 1.0;

/// After the load, how long the last reading waits: past the daemon's hand-back, which comes
/// within twice its quiet period (`hf_authd::idle::QUIET`) of the last activity.
const SETTLE: Duration = Duration::from_millis(2 * hf_authd::idle::QUIET.as_millis() as u64 + 500);

/// CPU clock ticks (USER_HZ, 10 ms each) the daemon uses over `window` while nobody talks to it.
async fn idle_ticks(daemon: &Daemon, window: Duration) -> anyhow::Result<u64> {
    let before = daemon.cpu_ticks()?;
    tokio::time::sleep(window).await;
    Ok(daemon.cpu_ticks()? - before)
}

/// RSS idle and after each quarter of `requests` Resolve calls (16 clients), and idle CPU before
/// and after the load. `daemon` must be fresh: nothing has talked to it yet.
pub async fn footprint(
    r: &mut Report,
    daemon: &Daemon,
    ctx: &pb::ClientContext,
    requests: usize,
    idle: Duration,
    starts: &Samples,
) -> anyhow::Result<()> {
    r.section(
        "5. Daemon footprint",
        "A fresh release hf-authd of its own. RSS is VmRSS from /proc/PID/status, and of it \
         anonymous memory (RssAnon: heap and stacks, not the binary's pages); CPU is utime+stime \
         from /proc/PID/stat in clock ticks (10 ms each), over a window with no client connected. \
         The quarters run back to back (growth is judged on them, at the allocator's high-water \
         mark: hf-authd hands free heap pages back only once idle, no connection opened, closed \
         or read from); the last row is read once it has been idle for a while and has handed \
         them back (malloc_trim).",
    );
    let (rss_idle, anon_idle) = daemon.memory_kib()?;
    let ticks_fresh = idle_ticks(daemon, idle).await?;
    // RSS at each quarter of the load, 16 clients on fresh connections each time.
    let (mut rss, mut anon) = (Vec::with_capacity(4), Vec::with_capacity(4));
    for _ in 0..4 {
        load::resolve(&daemon.socket, ctx, 16, requests / 4, 0).await?;
        let (vm, anonymous) = daemon.memory_kib()?;
        rss.push(vm);
        anon.push(anonymous);
    }
    let (rss_half, rss_full) = (rss[1], rss[3]);
    let (anon_half, anon_full) = (anon[1], anon[3]);
    // Quiet: the closed connections reaped, the free pages handed back; then the idle window.
    tokio::time::sleep(SETTLE).await;
    let (rss_settled, anon_settled) = daemon.memory_kib()?;
    let ticks_after = idle_ticks(daemon, idle).await?;
    let mib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
    let kib = |k: u64| format!("{k} KiB");
    let quarter = |i: usize| {
        let cpu = if i == 3 { format!("{ticks_after} ticks in {idle:?}") } else { String::new() };
        vec![format!("after {} Resolve calls", requests / 4 * (i + 1)), mib(rss[i]), kib(anon[i]), cpu]
    };
    let mut rows = vec![vec![
        "idle, just started".into(),
        mib(rss_idle),
        kib(anon_idle),
        format!("{ticks_fresh} ticks in {idle:?}"),
    ]];
    rows.extend((0..4).map(quarter));
    rows.push(vec![format!("{SETTLE:?} after the load (idle)"), mib(rss_settled), kib(anon_settled), String::new()]);
    r.table(&["state", "RSS", "of it anonymous", "CPU over the idle window"], &rows);
    r.note(&format!(
        "Once quiet, hf-authd handed back {} KiB of anonymous memory: {anon_full} KiB right after the load, \
         {anon_settled} KiB {SETTLE:?} later ({anon_idle} KiB when it had just started).",
        anon_full.saturating_sub(anon_settled)
    ));
    r.table(
        &["start to ready", "median", "min", "max", "starts"],
        &[vec![
            "`hf-authd --print-ready` until its ready line".into(),
            crate::report::human(starts.p50()),
            crate::report::human(starts.pct(0.0)),
            crate::report::human(starts.pct(100.0)),
            starts.len().to_string(),
        ]],
    );
    r.figure(json!({
        "kind": "footprint", "rss_idle_kib": rss_idle, "rss_quarters_kib": rss,
        "rss_anon_idle_kib": anon_idle, "rss_anon_quarters_kib": anon,
        "rss_settled_kib": rss_settled, "rss_anon_settled_kib": anon_settled, "settle_s": SETTLE.as_secs_f64(),
        "requests": requests, "idle_window_s": idle.as_secs_f64(),
        "idle_ticks_fresh": ticks_fresh, "idle_ticks_after_load": ticks_after,
        "start_to_ready_median_ms": starts.p50().as_secs_f64() * 1e3, "starts": starts.len(),
    }));
    r.target(&format!("RSS under 15 MiB after {requests} requests"), mib(rss_full), rss_full < RSS_LIMIT_KIB);
    let growth = anon_full.saturating_sub(anon_half);
    let per_request = (growth * 1024) as f64 / (requests - requests / 2) as f64;
    let rss_growth = rss_full.saturating_sub(rss_half);
    r.target(
        &format!(
            "no memory growth (RssAnon) between {} and {requests} requests (< {GROWTH_LIMIT_BYTES_PER_REQUEST} bytes per request)",
            requests / 2
        ),
        format!("{growth} KiB, {per_request:.2} bytes per request (VmRSS: {rss_growth} KiB)"),
        per_request < GROWTH_LIMIT_BYTES_PER_REQUEST,
    );
    r.target(
        "0 CPU ticks while idle (no polling)",
        format!("{ticks_fresh} ticks fresh, {ticks_after} after load"),
        ticks_fresh == 0 && ticks_after == 0,
    );
    Ok(())
}

/// Measurement 6: `n` external writes of the token file (a temp file renamed over it, as
/// huggingface_hub and editors do) until `Watch` delivers ACTIVE_CHANGED. Leaves TOKEN in place.
pub async fn propagation(
    socket: &Path,
    ctx: &pb::ClientContext,
    token_file: &Path,
    n: usize,
) -> anyhow::Result<Samples> {
    let mut client = connect::connect(socket, Duration::from_secs(5), None).await?;
    let mut stream = client.watch(pb::WatchRequest { context: Some(ctx.clone()) }).await?.into_inner();
    let first = stream.message().await?.context("Watch ended at once")?;
    anyhow::ensure!(first.kind == Kind::Snapshot as i32, "Watch did not start with a snapshot");
    let other = format!("hf_{}", "Z".repeat(TOKEN.len() - 3));
    let mut lat = Vec::with_capacity(n);
    // One more write than timed when needed, so the file ends as it began.
    let writes = n + n % 2;
    for i in 0..writes {
        let content = if i % 2 == 0 { other.as_str() } else { TOKEN };
        let start = Instant::now();
        let tmp = token_file.with_file_name(format!(".token.bench-{i}"));
        std::fs::write(&tmp, content)?;
        std::fs::rename(&tmp, token_file)?;
        loop {
            let left = Duration::from_secs(2).saturating_sub(start.elapsed());
            let event = tokio::time::timeout(left, stream.message())
                .await
                .with_context(|| format!("no Watch event within 2 s of write {i}"))??
                .context("Watch ended")?;
            if event.kind == Kind::ActiveChanged as i32 {
                break;
            }
        }
        if i < n {
            lat.push(start.elapsed());
        }
    }
    Ok(Samples::new(lat))
}
