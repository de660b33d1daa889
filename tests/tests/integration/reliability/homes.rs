//! Many homes, and slow ones: a CI runner that gives every job its own `HF_HOME` must not make
//! the daemon grow without bound or lock every `hf-auth` command out, and one home whose lock
//! another program holds must not delay any other home.

use super::{RealDaemon, connect, context_for, private_run_dir};
use hf_auth_proto::pb;
use hf_auth_tests::procs::bin;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Directories the kernel watches for this process (inotify `wd` lines over all its inotify fds).
fn inotify_watches(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return 0 };
    fds.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|info| info.lines().filter(|l| l.starts_with("inotify wd:")).count())
        .sum()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

fn make_homes(root: &Path, range: std::ops::Range<usize>) {
    for i in range {
        let dir = root.join(format!("job{i}")).join("hf");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("token"), format!("hf_job{i}")).expect("write token");
    }
}

/// Another program (util-linux `flock`) holding `lock` exclusively for `secs`; returns once it
/// holds it (flock takes the lock before it runs sleep).
async fn hold_lock(lock: &Path, secs: u32) -> std::process::Child {
    std::fs::write(lock, "").expect("lock file");
    let holder = Command::new("flock")
        .args(["--exclusive", "--no-fork"])
        .arg(lock)
        .args(["sleep", &secs.to_string()])
        .spawn()
        .expect("flock (util-linux)");
    let lock_file = std::fs::File::open(lock).expect("open lock");
    while rustix::fs::flock(&lock_file, rustix::fs::FlockOperation::NonBlockingLockShared).is_ok() {
        let _ = rustix::fs::flock(&lock_file, rustix::fs::FlockOperation::Unlock);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    holder
}

/// Resolves every home in `range` (16 connections at once) and checks each gets its own token.
async fn resolve_all(socket: &Path, root: &Path, endpoint: &str, range: std::ops::Range<usize>) {
    let mut tasks = Vec::new();
    let ids: Vec<usize> = range.collect();
    for chunk in ids.chunks(ids.len().div_ceil(16).max(1)) {
        let (chunk, socket, root, endpoint) =
            (chunk.to_vec(), socket.to_path_buf(), root.to_path_buf(), endpoint.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut c = connect(&socket).await;
            for i in chunk {
                let ctx = context_for(&root.join(format!("job{i}")).join("hf"), &endpoint);
                let r = c.resolve(pb::ResolveRequest { context: Some(ctx), username: String::new() }).await;
                let r = r.unwrap_or_else(|e| panic!("Resolve for home {i}: {e}")).into_inner();
                assert_eq!(r.token, format!("hf_job{i}"), "home {i} got another home's token");
            }
        }));
    }
    for t in tasks {
        t.await.expect("resolver task");
    }
}

/// 10,000 homes, each used once (the CI runner): the daemon keeps at most `max_open_homes` open,
/// so its fds, watches and memory stay bounded; `Status` (the handshake of every `hf-auth`
/// command) stays small, so the CLI keeps working; a home closed long ago answers right again.
/// Before the cap, 1,600 homes made every `hf-auth` command fail ("message length too large").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_homes_keep_fds_watches_and_memory_bounded_and_the_cli_working() {
    const HOMES: usize = 10_000;
    const CAP: usize = 1024; // the default max_open_homes
    let scratch = tempfile::Builder::new().prefix("hfhomes").tempdir().expect("tempdir");
    let socket = private_run_dir(scratch.path()).join("hf-authd.sock");
    let endpoint = "http://127.0.0.1:9"; // Resolve never asks the Hub
    let daemon = RealDaemon::spawn(&socket, &scratch.path().join("hf"), endpoint, &scratch.path().join("daemon.log"));
    let root = scratch.path().join("jobs");
    let started = Instant::now();
    make_homes(&root, 0..HOMES);
    resolve_all(&socket, &root, endpoint, 0..HOMES / 2).await;
    let (rss_half, fds_half, watches_half) = (daemon.rss_kib(), open_fds(daemon.pid()), inotify_watches(daemon.pid()));
    resolve_all(&socket, &root, endpoint, HOMES / 2..HOMES).await;
    let (rss, fds, watches) = (daemon.rss_kib(), open_fds(daemon.pid()), inotify_watches(daemon.pid()));
    eprintln!(
        "{HOMES} homes in {:?}: after {}: VmRSS {rss_half} KiB, {fds_half} fds, {watches_half} watches; after {HOMES}: \
         VmRSS {rss} KiB, {fds} fds, {watches} watches",
        started.elapsed(),
        HOMES / 2
    );
    // Each open home is watched through its own directory only.
    assert!(watches <= CAP + 8, "{watches} directories watched for at most {CAP} open homes");
    assert!(fds < 256, "{fds} fds open after {HOMES} homes");
    assert!(rss <= rss_half + 8 * 1024, "VmRSS grew from {rss_half} to {rss} KiB over the second {} homes", HOMES / 2);

    let mut c = connect(&socket).await;
    let st = c.status(pb::StatusRequest { context: None }).await.expect("handshake Status").into_inner();
    assert!(st.homes.is_empty(), "the version handshake lists no homes");
    assert!(st.homes_open as usize <= CAP + 1, "{} homes open past the cap of {CAP}", st.homes_open);
    let out = Command::new(bin("hf-auth"))
        .arg("status")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", scratch.path())
        .env("HF_HOME", root.join("job0").join("hf"))
        .env("HF_AUTH_SOCKET", &socket)
        .env("HF_AUTH_NO_AUTOSTART", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run hf-auth status");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "hf-auth status failed: {}{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("more (most recently used shown"), "status summarises the homes:\n{stdout}");
    // Homes closed long ago open again from their files.
    resolve_all(&socket, &root, endpoint, 0..64).await;
    daemon.kill9();
}

/// Another program holds home B's `stored_tokens.lock` for 10 s (and B has a leftover temp file,
/// so opening B must take that lock to sweep it): requests for B wait, requests for any other
/// home — new or already open — answer at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_whose_lock_is_held_delays_no_other_home() {
    let scratch = tempfile::Builder::new().prefix("hfslow").tempdir().expect("tempdir");
    let socket = private_run_dir(scratch.path()).join("hf-authd.sock");
    let endpoint = "http://127.0.0.1:9";
    let daemon = RealDaemon::spawn(&socket, &scratch.path().join("hf"), endpoint, &scratch.path().join("daemon.log"));
    let root = scratch.path().join("jobs");
    make_homes(&root, 0..3);
    let (a, b, c) = (root.join("job0/hf"), root.join("job1/hf"), root.join("job2/hf"));
    resolve_all(&socket, &root, endpoint, 2..3).await; // C is open before B stalls
    std::fs::write(b.join(".hf-auth-tmp-token.1.2"), "left by a crash").expect("plant a leftover");
    let mut holder = hold_lock(&b.join("stored_tokens.lock"), 10).await;
    let stalled = {
        let (socket, ctx) = (socket.clone(), context_for(&b, endpoint));
        tokio::spawn(async move {
            let mut cl = connect(&socket).await;
            let start = Instant::now();
            let r = cl.resolve(pb::ResolveRequest { context: Some(ctx), username: String::new() }).await;
            (start.elapsed(), r.map(|r| r.into_inner().token))
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await; // B is opening, waiting for the lock
    // Events in B while it waits, for the watcher to chew on.
    std::fs::write(b.join("token"), "hf_job1_changed").expect("rewrite B's token");
    let mut cl = connect(&socket).await;
    for (what, dir, token) in [("new home A", &a, "hf_job0"), ("open home C", &c, "hf_job2")] {
        for round in 0..5 {
            let start = Instant::now();
            let ctx = context_for(dir, endpoint);
            let r = cl.resolve(pb::ResolveRequest { context: Some(ctx), username: String::new() }).await;
            let took = start.elapsed();
            assert_eq!(r.expect("Resolve").into_inner().token, token);
            assert!(
                took < Duration::from_secs(1),
                "Resolve for {what} took {took:?} (round {round}) while B is locked"
            );
        }
    }
    let (waited, token) = stalled.await.expect("B's request");
    eprintln!("B's first request waited {waited:?} for the lock another program held");
    assert_eq!(token.expect("B answers once the lock is free"), "hf_job1_changed");
    let _ = holder.kill();
    let _ = holder.wait();
    daemon.kill9();
}

/// A same-uid flood behind one held lock: another program holds a `stored_tokens.lock`, and
/// 1,024 `Resolve`s arrive at once (twice the blocking pool's 512 threads), each for a new home
/// (its own token path) that shares that `stored_tokens`. Each such open may wait for the lock;
/// when every one of them waited its 2 s on the blocking pool, a new home elsewhere (a CI job's
/// `hf-auth token`) waited behind them for seconds (20 s in the report that found it). Only a
/// few readers wait for a busy lock now, the rest read without it, so the other home answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_new_homes_behind_one_held_lock_delays_no_other_home() {
    const FLOOD: usize = 1024;
    let scratch = tempfile::Builder::new().prefix("hfflood").tempdir().expect("tempdir");
    let socket = private_run_dir(scratch.path()).join("hf-authd.sock");
    let endpoint = "http://127.0.0.1:9";
    let daemon = RealDaemon::spawn(&socket, &scratch.path().join("hf"), endpoint, &scratch.path().join("daemon.log"));
    let locked = scratch.path().join("locked");
    std::fs::create_dir_all(&locked).expect("mkdir");
    std::fs::write(locked.join("stored_tokens"), "").expect("stored_tokens");
    let mut holder = hold_lock(&locked.join("stored_tokens.lock"), 60).await;
    let mut flood = Vec::new();
    for chunk in 0..16 {
        let (socket, locked) = (socket.clone(), locked.clone());
        flood.push(tokio::spawn(async move {
            let c = connect(&socket).await;
            let calls: Vec<_> = (0..FLOOD / 16)
                .map(|i| {
                    let mut c = c.clone();
                    let ctx = hf_auth_proto::ClientContext::new(
                        hf_auth_proto::HomePaths {
                            token: locked.join(format!("token-{chunk}-{i}")),
                            stored_tokens: locked.join("stored_tokens"),
                        },
                        "http://127.0.0.1:9".to_owned(),
                    )
                    .to_pb();
                    tokio::spawn(async move {
                        c.resolve(pb::ResolveRequest { context: Some(ctx), username: String::new() }).await.is_ok()
                    })
                })
                .collect();
            for call in calls {
                let _ = call.await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // the flood is in
    make_homes(&scratch.path().join("jobs"), 0..1);
    let mut cl = connect(&socket).await;
    let start = Instant::now();
    let ctx = context_for(&scratch.path().join("jobs/job0/hf"), endpoint);
    let r = cl.resolve(pb::ResolveRequest { context: Some(ctx), username: String::new() }).await;
    let took = start.elapsed();
    eprintln!("a new home's first Resolve took {took:?} during a flood of {FLOOD} opens behind a held lock");
    assert_eq!(r.expect("Resolve").into_inner().token, "hf_job0");
    // Before, it waited at least the lock's 2 s timeout, behind the first 512 waiters.
    assert!(took < Duration::from_millis(1500), "the other home waited {took:?} behind the flood");
    for f in flood {
        f.abort();
    }
    let _ = holder.kill();
    let _ = holder.wait();
    daemon.kill9();
}
