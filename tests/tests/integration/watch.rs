//! Changes made by other programs show up in memory and on `Watch` within 100 ms.

use hf_auth_proto::pb::{self, watch_event::Kind};
use hf_auth_tests::harness::{TestDaemon, TestHome, eventually};
use std::time::Duration;
use tokio_stream::StreamExt;

const LIMIT: Duration = Duration::from_millis(100);
/// Generous bound for "it happens at all" (CI machines are noisy); the 100 ms promise is
/// measured by the benchmarks, and recorded here only as a figure.
const EVENTUALLY: Duration = Duration::from_secs(5);

async fn resolved(daemon: &TestDaemon, home: &TestHome) -> String {
    let mut c = daemon.client().await;
    c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() })
        .await
        .map(|r| r.into_inner().token)
        .unwrap_or_else(|e| format!("error: {}", e.message()))
}

#[tokio::test]
async fn external_writes_are_seen_and_streamed() {
    let daemon = TestDaemon::start().await;
    let home = TestHome::new("http://127.0.0.1:9");
    home.write_stored(b"[a]\nhf_token = hf_a\n\n[b]\nhf_token = hf_b\n\n");
    home.write_token(b"hf_a");
    assert_eq!(resolved(&daemon, &home).await, "hf_a");

    let mut c = daemon.client().await;
    let mut events = c.watch(pb::WatchRequest { context: home.context() }).await.unwrap().into_inner();
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(first.kind, Kind::Snapshot as i32);
    assert_eq!(first.active_name, "a");

    // An editor-style replace: write a temp file, rename it over the token file.
    let tmp = home.hf_home().join(".token.swp");
    std::fs::write(&tmp, "hf_b").unwrap();
    let start = std::time::Instant::now();
    std::fs::rename(&tmp, &home.ctx.paths.token).unwrap();
    let ev = tokio::time::timeout(EVENTUALLY, events.next()).await.unwrap().unwrap().unwrap();
    let took = start.elapsed();
    assert_eq!(ev.kind, Kind::ActiveChanged as i32);
    assert_eq!(ev.active_name, "b");
    eprintln!("watch delivered an external rename in {took:?} (target {LIMIT:?})");
    assert_eq!(resolved(&daemon, &home).await, "hf_b");

    // Python-style in-place write of stored_tokens.
    std::fs::write(
        &home.ctx.paths.stored_tokens,
        "[a]\nhf_token = hf_a\n\n[b]\nhf_token = hf_b\n\n[c]\nhf_token = hf_c\n\n",
    )
    .unwrap();
    let ev = tokio::time::timeout(EVENTUALLY, events.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(ev.kind, Kind::StoredChanged as i32);

    // rm of the token file.
    std::fs::remove_file(&home.ctx.paths.token).unwrap();
    let ev = tokio::time::timeout(EVENTUALLY, events.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(ev.kind, Kind::ActiveChanged as i32);
    assert!(!ev.logged_in);
    assert_eq!(resolved(&daemon, &home).await, "");
}

#[tokio::test]
async fn a_home_whose_directory_is_removed_and_recreated_keeps_working() {
    let daemon = TestDaemon::start().await;
    let home = TestHome::new("http://127.0.0.1:9");
    home.write_token(b"hf_first");
    assert_eq!(resolved(&daemon, &home).await, "hf_first");
    std::fs::remove_dir_all(home.hf_home()).unwrap();
    assert!(eventually(EVENTUALLY, || async { resolved(&daemon, &home).await.is_empty() }).await.is_some());
    home.write_token(b"hf_second");
    let took = eventually(EVENTUALLY, || async { resolved(&daemon, &home).await == "hf_second" }).await;
    assert!(took.is_some(), "recreated home not picked up");
}

#[tokio::test]
async fn a_home_that_does_not_exist_yet_is_picked_up_when_created() {
    let daemon = TestDaemon::start().await;
    let home = TestHome::new("http://127.0.0.1:9");
    assert_eq!(resolved(&daemon, &home).await, "");
    home.write_token(b"hf_later");
    assert!(eventually(EVENTUALLY, || async { resolved(&daemon, &home).await == "hf_later" }).await.is_some());
}
