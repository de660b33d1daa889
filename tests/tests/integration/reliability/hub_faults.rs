//! Hub faults: a Hub that hangs, resets connections, or answers 429/5xx storms never blocks
//! `Resolve` or git (`Resolve` answers from memory and asks the Hub only within a short budget),
//! and `whoami` degrades to the cached answer, marked stale, instead of failing.

use super::{connect, context_for};
use hf_auth_proto::pb;
use hf_auth_tests::fake_hub::{Account, FakeHub, Mode, WHOAMI};
use hf_auth_tests::harness::{TestDaemon, eventually};
use hf_auth_tests::procs::World;
use hf_authd::config::Config;
use std::time::{Duration, Instant};

const A: &str = "hf_hubfaultA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const B: &str = "hf_hubfaultB_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
/// Bound for one local answer while the Hub misbehaves (generous for CI; figures are printed).
const LOCAL: Duration = Duration::from_secs(1);
/// git-credential-hf's whole budget is 1 s to connect plus 1 s per request; a process spawn on top.
const GIT: Duration = Duration::from_secs(3);

/// A world whose git helper talks to `daemon`, with A active and B stored.
fn world(hub: &FakeHub, daemon: &TestDaemon) -> World {
    let mut w = World::new(&hub.endpoint());
    w.set_env("HF_AUTH_SOCKET", &daemon.socket);
    w.set_env("HF_AUTH_NO_AUTOSTART", "1");
    std::fs::write(w.hf_home().join("stored_tokens"), format!("[work]\nhf_token = {A}\n\n[other]\nhf_token = {B}\n\n"))
        .expect("seed");
    std::fs::write(w.hf_home().join("token"), A).expect("seed token");
    w
}

async fn git_get(w: &World, hub: &FakeHub, username: Option<&str>) -> (String, Duration) {
    let mut input = format!("protocol=http\nhost={}\n", hub.addr());
    if let Some(u) = username {
        input.push_str(&format!("username={u}\n"));
    }
    input.push('\n');
    let start = Instant::now();
    let r = w.run("git-credential-hf", &["get"], Some(&input)).await;
    let took = start.elapsed();
    assert_eq!(r.code(), 0, "{}", r.stderr());
    (r.stdout(), took)
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let p50 = times[times.len() / 2];
    let max = times[times.len() - 1];
    format!("p50 {p50:?}, max {max:?} over {}", times.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_hub_blocks_neither_resolve_nor_git_and_whoami_serves_the_cache() {
    let hub = FakeHub::start().await;
    hub.add_token(A, Account::user("alice"));
    hub.add_token(B, Account::user("bob"));
    let daemon = TestDaemon::start().await;
    let w = world(&hub, &daemon);
    let ctx = context_for(&w.hf_home(), &hub.endpoint());
    let mut c = connect(&daemon.socket).await;
    let who = c.who_am_i(pb::WhoAmIRequest { context: Some(ctx.clone()), token: String::new(), fresh: false }).await;
    assert_eq!(who.expect("warm whoami").into_inner().name, "alice");

    hub.set_whoami_mode(Mode::Hang);
    // A fresh whoami now hangs on the Hub (for up to the client's 10 s timeout).
    let hung = {
        let mut c = c.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            c.who_am_i(pb::WhoAmIRequest { context: Some(ctx), token: String::new(), fresh: true }).await
        })
    };
    let reached = eventually(Duration::from_secs(5), || async { hub.requests(WHOAMI) >= 2 }).await;
    assert!(reached.is_some(), "the fresh whoami never reached the Hub");

    let mut resolves = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        let r = c.resolve(pb::ResolveRequest { context: Some(ctx.clone()), username: String::new() }).await;
        resolves.push(start.elapsed());
        let r = r.expect("resolve while the Hub hangs").into_inner();
        assert_eq!((r.token.as_str(), r.username.as_str()), (A, "alice"));
    }
    assert!(resolves.iter().all(|t| *t < LOCAL), "a Resolve waited on the hanging Hub: {}", summary(resolves.clone()));
    let start = Instant::now();
    let who = c.who_am_i(pb::WhoAmIRequest { context: Some(ctx.clone()), token: String::new(), fresh: false }).await;
    let cached = start.elapsed();
    let who = who.expect("whoami from the cache while the Hub hangs").into_inner();
    assert!(who.cached && who.name == "alice" && cached < LOCAL, "whoami: {who:?} in {cached:?}");
    // git asks for another account: its owner is unknown, the Hub is asked within a short budget.
    let start = Instant::now();
    let r = c.resolve(pb::ResolveRequest { context: Some(ctx.clone()), username: "bob".into() }).await;
    let for_bob = start.elapsed();
    assert_eq!(r.expect("resolve for another user").into_inner().token, A, "falls back to the active token");
    assert!(for_bob < LOCAL, "Resolve for another account waited {for_bob:?} on the hanging Hub");
    let (out, git) = git_get(&w, &hub, None).await;
    assert_eq!(out, format!("username=alice\npassword={A}\n"));
    let (out, git_bob) = git_get(&w, &hub, Some("bob")).await;
    assert!(out.contains("password="), "git-credential-hf answered nothing for username=bob: {out:?}");
    assert!(git < GIT && git_bob < GIT, "git-credential-hf took {git:?} / {git_bob:?} while the Hub hangs");
    eprintln!(
        "hub hangs: Resolve {}; cached whoami {cached:?}; Resolve for an unknown account {for_bob:?}; \
         git-credential-hf get {git:?}, with username=bob {git_bob:?}",
        summary(resolves)
    );
    // The hanging request ends with the test (the daemon's Hub client would give up after 10 s).
    hung.abort();
    drop(w);
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storms_of_429_5xx_and_resets_degrade_whoami_to_stale_and_never_block_resolve() {
    const CALLS: usize = 100;
    let hub = FakeHub::start().await;
    hub.add_token(A, Account::user("alice"));
    // TTL 0: every whoami goes to the Hub, so every one of them meets the storm.
    let daemon = TestDaemon::start_with(Config { whoami_ttl_secs: 0, ..Config::default() }).await;
    let w = world(&hub, &daemon);
    let ctx = context_for(&w.hf_home(), &hub.endpoint());
    let c = connect(&daemon.socket).await;
    let who =
        c.clone().who_am_i(pb::WhoAmIRequest { context: Some(ctx.clone()), token: String::new(), fresh: false }).await;
    assert!(!who.expect("warm whoami").into_inner().stale);

    for mode in [Mode::Status(429), Mode::Status(500), Mode::Status(502), Mode::Status(503), Mode::ResetConnection] {
        hub.set_whoami_mode(mode.clone());
        let before = hub.requests(WHOAMI);
        let start = Instant::now();
        let whoamis: Vec<_> = (0..CALLS)
            .map(|_| {
                let (mut c, ctx) = (c.clone(), ctx.clone());
                tokio::spawn(async move {
                    c.who_am_i(pb::WhoAmIRequest { context: Some(ctx), token: String::new(), fresh: false }).await
                })
            })
            .collect();
        let resolves: Vec<_> = (0..CALLS)
            .map(|_| {
                let (mut c, ctx) = (c.clone(), ctx.clone());
                tokio::spawn(async move {
                    let start = Instant::now();
                    let r = c.resolve(pb::ResolveRequest { context: Some(ctx), username: String::new() }).await;
                    (r, start.elapsed())
                })
            })
            .collect();
        let mut resolve_times = Vec::new();
        for r in resolves {
            let (r, took) = r.await.expect("resolve task");
            assert_eq!(r.expect("resolve during the storm").into_inner().token, A, "{mode:?}");
            resolve_times.push(took);
        }
        for t in whoamis {
            let who = t.await.expect("whoami task").unwrap_or_else(|e| panic!("{mode:?}: whoami failed: {e:?}"));
            let who = who.into_inner();
            assert!(who.stale && who.cached && who.name == "alice", "{mode:?}: {who:?}");
        }
        let storm = start.elapsed();
        let (out, git) = git_get(&w, &hub, None).await;
        assert_eq!(out, format!("username=alice\npassword={A}\n"), "{mode:?}");
        assert!(resolve_times.iter().all(|t| *t < LOCAL), "{mode:?}: Resolve {}", summary(resolve_times.clone()));
        assert!(git < GIT, "{mode:?}: git-credential-hf took {git:?}");
        eprintln!(
            "hub {mode:?} storm: {CALLS} whoami all stale-from-cache ({} Hub requests) in {storm:.2?}; {CALLS} \
             concurrent Resolve {}; git-credential-hf {git:?}",
            hub.requests(WHOAMI) - before,
            summary(resolve_times)
        );
    }
    hub.set_whoami_mode(Mode::Normal);
    let who =
        c.clone().who_am_i(pb::WhoAmIRequest { context: Some(ctx.clone()), token: String::new(), fresh: false }).await;
    let who = who.expect("whoami after the storm").into_inner();
    assert!(!who.stale && !who.cached, "the Hub is back: a fresh answer");
    drop(w);
    hub.shutdown().await;
}

/// An endpoint whose answer never ends (hostile, or a misconfigured mirror streaming a file):
/// the daemon reads at most its bound of it, says so, and keeps serving with its memory intact.
/// Without the bound it buffered the answer until the 10 s timeout, about 300 MB a second, and an
/// address-space limit turned that into an abort.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_from_the_endpoint_is_cut_at_its_bound_and_the_daemon_keeps_serving() {
    let hub = FakeHub::start().await;
    hub.add_token(A, Account::user("alice"));
    hub.set_whoami_mode(Mode::EndlessBody);
    let (scratch, socket, hf_home) = super::scratch_with_token("hfendless", A);
    let daemon = super::RealDaemon::spawn(&socket, &hf_home, &hub.endpoint(), &scratch.path().join("daemon.log"));
    let mut c = connect(&daemon.socket).await;
    let ctx = context_for(&hf_home, &hub.endpoint());
    let rss_before = daemon.rss_kib();
    let start = Instant::now();
    let who = c.who_am_i(pb::WhoAmIRequest { context: Some(ctx.clone()), token: String::new(), fresh: true }).await;
    let took = start.elapsed();
    let rss_after = daemon.rss_kib();
    let err = who.expect_err("an answer that never ends is not a whoami");
    assert!(err.message().contains("larger than 1024 KiB"), "{err:?}");
    assert!(!err.message().contains(A), "{err:?}");
    assert!(took < Duration::from_secs(5), "cut at the bound, not at the timeout: {took:?}");
    assert!(rss_after < rss_before + 16 * 1024, "VmRSS {rss_before} KiB before, {rss_after} KiB after");
    let answer = c.resolve(pb::ResolveRequest { context: Some(ctx), username: String::new() }).await;
    assert_eq!(answer.expect("still serving").into_inner().token, A);
    eprintln!("endless whoami answer refused in {took:?}; VmRSS {rss_before} → {rss_after} KiB");
    hub.shutdown().await;
}
