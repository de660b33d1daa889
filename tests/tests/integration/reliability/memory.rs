//! Memory after a burst: once its connections are gone and the daemon has been quiet a moment,
//! what their buffers took is handed back to the kernel, not kept at the burst's high-water mark.

use super::{RealDaemon, connect, context_for, raise_fd_limit, scratch_with_token};
use hf_auth::connect::Client;
use hf_auth_proto::pb;
use std::time::Duration;

/// Connections open at once in the burst: each holds HTTP/2 buffers of tens of KiB.
const BURST: usize = 500;

/// How long after the burst the daemon is given to hand memory back: it does so within twice its
/// quiet period (`hf_authd::idle::QUIET`, 500 ms) of the last activity; room to spare for a
/// loaded machine.
const SETTLE: Duration = Duration::from_secs(3);

/// Opens `n` connections and makes one Resolve on each while all are open; returns them open.
async fn burst(socket: &std::path::Path, ctx: &pb::ClientContext, n: usize) -> Vec<Client> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(connect(socket).await);
    }
    let request = pb::ResolveRequest { context: Some(ctx.clone()), ..Default::default() };
    let calls = clients.iter_mut().map(|c| c.resolve(request.clone()));
    for answer in futures_util::future::join_all(calls).await {
        assert!(!answer.expect("Resolve during the burst").into_inner().token.is_empty());
    }
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_burst_of_connections_the_daemon_hands_their_memory_back() {
    raise_fd_limit(BURST as u64 + 256);
    let (scratch, socket, hf_home) = scratch_with_token("hfmem", "hf_owner_token_MMMMMMMMMMMMMMMMMMMMMMMMMM");
    let daemon = RealDaemon::spawn(&socket, &hf_home, "http://127.0.0.1:9", &scratch.path().join("daemon.log"));
    let ctx = context_for(&hf_home, "http://127.0.0.1:9");

    // Warm: the code paths and the allocator's first pages, then a quiet moment.
    drop(burst(&socket, &ctx, 8).await);
    tokio::time::sleep(SETTLE).await;
    let before = daemon.anon_kib();

    let clients = burst(&socket, &ctx, BURST).await;
    let peak = daemon.anon_kib();
    drop(clients);
    tokio::time::sleep(SETTLE).await;
    let after = daemon.anon_kib();
    eprintln!("daemon RssAnon: {before} KiB before, {peak} KiB with {BURST} connections, {after} KiB after");
    let took = peak.saturating_sub(before);
    assert!(took >= 4096, "the burst should take MiBs (it took {took} KiB): the test measures nothing otherwise");
    // Handed back: at least three quarters of what the burst took.
    assert!(
        after <= before + took / 4,
        "after the burst the daemon still holds {} of the {took} KiB it took ({before} → {peak} → {after} KiB)",
        after.saturating_sub(before)
    );
    // And it still serves.
    drop(burst(&socket, &ctx, 1).await);
}
