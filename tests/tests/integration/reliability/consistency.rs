//! Coherent answers while reloads race. The daemon re-reads a home from several places at once —
//! after each of its own writes, on the watcher's events, and on requests that find the home
//! marked dirty — and every answer must still be one the files held at some moment:
//! - read-your-writes: once a login (logout) is acknowledged, the same client's List shows (no
//!   longer shows) the name, and the daemon never goes back to an older state of the files;
//! - coherent pairs: Resolve's `name` is the name of the token it returns.
//!
//! Several writers on one home, plus unrelated files changing beside it (the HF home also holds
//! the Hub cache) so the watcher keeps the home dirty, for a bounded time; the first violation fails.
//! Before 1c5daf9 (reloads serialised per home, both files read under the shared lock) it failed
//! within a few seconds: List hid a client's own acknowledged login or showed its acknowledged
//! logout, and Resolve named "" the token it returned.

use super::{RealDaemon, connect, context_for, private_run_dir};
use hf_auth_proto::pb;
use hf_auth_tests::fake_hub::{Account, FakeHub};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const WRITERS: usize = 32;
const RUN_FOR: Duration = Duration::from_secs(10);
const STABLE: (&str, &str) = ("stable", "hf_stable_SSSSSSSSSSSSSSSSSSSSSSSSSSSSSS");

fn token(i: usize) -> String {
    format!("hf_rywr{i:02}_WWWWWWWWWWWWWWWWWWWWWWWWWWWW")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_stay_visible_and_answers_stay_coherent_while_reloads_race() {
    let hub = FakeHub::start().await;
    hub.add_token(STABLE.1, Account::user("alice").with_token_name(STABLE.0, "write"));
    for i in 0..WRITERS {
        hub.add_token(&token(i), Account::user("bob").with_token_name(&format!("w-{i}"), "write"));
    }
    let scratch = tempfile::Builder::new().prefix("hfrywr").tempdir().expect("tempdir");
    let socket = private_run_dir(scratch.path()).join("hf-authd.sock");
    let home = scratch.path().join("hf");
    std::fs::create_dir_all(&home).expect("mkdir");
    std::fs::write(home.join("stored_tokens"), format!("[{}]\nhf_token = {}\n\n", STABLE.0, STABLE.1)).expect("seed");
    std::fs::write(home.join("token"), STABLE.1).expect("seed token");
    let daemon = RealDaemon::spawn(&socket, &home, &hub.endpoint(), &scratch.path().join("daemon.log"));
    let ctx = context_for(&home, &hub.endpoint());

    // Unrelated activity in the home directory: the watcher marks the home dirty again and again.
    let stop = Arc::new(AtomicBool::new(false));
    let toucher = {
        let (home, stop) = (home.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let _ = std::fs::write(home.join("unrelated.txt"), n.to_string());
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let checked = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + RUN_FOR;
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (socket, ctx, checked, stop) = (daemon.socket.clone(), ctx.clone(), checked.clone(), stop.clone());
            tokio::spawn(async move {
                let result = cycle_until(i, &socket, &ctx, deadline, &stop, &checked).await;
                // The first violation ends the run for everyone: fail fast.
                if result.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                result
            })
        })
        .collect();
    let mut violations = Vec::new();
    for w in writers {
        if let Err(e) = w.await.expect("writer task") {
            stop.store(true, Ordering::Relaxed);
            violations.push(e);
        }
    }
    stop.store(true, Ordering::Relaxed);
    toucher.join().expect("toucher");
    eprintln!(
        "consistency: {} login/list/resolve/switch/logout/list cycles by {WRITERS} writers on one home in {:.1?}, {} \
         violations",
        checked.load(Ordering::Relaxed),
        started.elapsed(),
        violations.len()
    );
    assert!(violations.is_empty(), "incoherent answers under concurrent reloads:\n{violations:#?}");
    daemon.kill9();
    hub.shutdown().await;
}

/// One writer: login, List (must show it), Resolve (name must match), switch away, logout, List
/// (must not show it), until the deadline or a stop.
async fn cycle_until(
    i: usize,
    socket: &std::path::Path,
    ctx: &pb::ClientContext,
    deadline: Instant,
    stop: &AtomicBool,
    checked: &AtomicU64,
) -> Result<(), String> {
    let mut c = connect(socket).await;
    let me = format!("w-{i}");
    let context = || Some(ctx.clone());
    let failed = |what: &str, e: tonic::Status| format!("{me}: {what} failed: {:?} {}", e.code(), e.message());
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        c.login(pb::LoginRequest { context: context(), token: token(i) }).await.map_err(|e| failed("login", e))?;
        let l = c.list(pb::ListRequest { context: context() }).await.map_err(|e| failed("list", e))?;
        if !l.into_inner().tokens.iter().any(|t| t.name == me) {
            return Err(format!("{me}: List right after its acknowledged login does not show it"));
        }
        let r = c.resolve(pb::ResolveRequest { context: context(), username: String::new() }).await;
        let r = r.map_err(|e| failed("resolve", e))?.into_inner();
        let expected = match r.token.strip_prefix("hf_rywr") {
            Some(rest) => format!("w-{}", rest[..2].parse::<usize>().unwrap_or(usize::MAX)),
            None if r.token == STABLE.1 => STABLE.0.to_owned(),
            None => return Err(format!("{me}: Resolve returned an unknown token")),
        };
        if r.name != expected {
            return Err(format!("{me}: Resolve named {:?} the token stored as {expected:?}", r.name));
        }
        let switch = pb::SwitchRequest { context: context(), token_name: STABLE.0.into() };
        c.switch(switch).await.map_err(|e| failed("switch", e))?;
        let logout = pb::LogoutRequest { context: context(), token_name: Some(me.clone()) };
        c.logout(logout).await.map_err(|e| failed("logout", e))?;
        let l = c.list(pb::ListRequest { context: context() }).await.map_err(|e| failed("list", e))?;
        if l.into_inner().tokens.iter().any(|t| t.name == me) {
            return Err(format!("{me}: List right after its acknowledged logout still shows it"));
        }
        checked.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}
