//! A daemon of another protocol version is asked to shut down and replaced by this version's;
//! one a service manager runs is left alone (it would start the same old binary again), and the
//! user is told how to restart it there.

use hf_auth_proto::pb::{self, hf_auth_server::HfAuthServer};
use hf_auth_tests::procs::World;
use hf_auth_tests::stub_daemon::StubDaemon;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An "old" daemon: answers Status with protocol 999 (saying whether a service manager runs it),
/// Resolve without this version in its answer's `protocol` field or header (and would ignore
/// routing), and honours Shutdown.
fn old(tx: tokio::sync::mpsc::Sender<()>, service_managed: bool) -> StubDaemon {
    StubDaemon::new()
        .with_status(move || {
            Ok(pb::StatusResponse { protocol: 999, version: "0.0.1".into(), service_managed, ..Default::default() })
        })
        .with_resolve(|| Ok(pb::ResolveResponse { token: OLD_TOKEN.into(), ..Default::default() }))
        .on_shutdown(move || {
            let _ = tx.try_send(());
        })
}

type Served = tokio::task::JoinHandle<Result<(), tonic::transport::Error>>;

/// Serves an old daemon on the world's socket until it is asked to shut down.
fn old_daemon(w: &World, service_managed: bool) -> Served {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    serve(w, old(tx, service_managed), rx)
}

/// Serves `stub` on the world's socket until `stop` gets a message (or its senders are gone).
fn serve(w: &World, stub: StubDaemon, mut stop: tokio::sync::mpsc::Receiver<()>) -> Served {
    std::fs::set_permissions(w.socket().parent().unwrap(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let listener = tokio::net::UnixListener::bind(w.socket()).unwrap();
    tokio::spawn(tonic::transport::Server::builder().add_service(HfAuthServer::new(stub)).serve_with_incoming_shutdown(
        tokio_stream::wrappers::UnixListenerStream::new(listener),
        async move {
            stop.recv().await;
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_of_another_protocol_is_replaced() {
    let w = World::new("http://127.0.0.1:9");
    let server = old_daemon(&w, false);
    let r = w.run("hf-auth", &["status", "--json"], None).await.ok();
    assert!(r.stderr().contains("Replacing hf-authd (protocol 999)"), "{}", r.stderr());
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(v["protocol"], hf_auth_proto::PROTOCOL_VERSION);
    assert!(server.await.unwrap().is_ok(), "the old daemon was asked to shut down and did");
    assert_eq!(w.daemon_pid().map(|p| p as u64), v["pid"].as_u64());
}

/// What the old daemon hands out; a client of this version must never print or pass it on.
const OLD_TOKEN: &str = "hf_from_the_old_daemon_OOOOOOOOOOOOOOOOOOOO";

/// `hf-auth token` and git's helper make their one call without a handshake first; an answer
/// without this version (in its `protocol` field or header) is not used: the old daemon is
/// replaced and the new one asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_trip_commands_replace_an_old_daemon_instead_of_using_its_answer() {
    let w = World::new("http://127.0.0.1:9");
    std::fs::write(w.hf_home().join("token"), "hf_current_TTTTTTTTTTTTTTTTTTTTTTTTTTTT").unwrap();
    let server = old_daemon(&w, false);
    let r = w.run("hf-auth", &["token"], None).await.ok();
    assert!(!r.stdout().contains(OLD_TOKEN), "{}", r.stdout());
    assert_eq!(r.stdout().trim(), "hf_current_TTTTTTTTTTTTTTTTTTTTTTTTTTTT");
    assert!(server.await.unwrap().is_ok(), "the old daemon was asked to shut down and did");

    let w = World::new("http://127.0.0.1:9");
    std::fs::write(w.hf_home().join("token"), "hf_current_TTTTTTTTTTTTTTTTTTTTTTTTTTTT").unwrap();
    let server = old_daemon(&w, false);
    let git = w.run("git-credential-hf", &["get"], Some("protocol=http\nhost=127.0.0.1:9\n\n")).await.ok();
    assert!(!git.stdout().contains(OLD_TOKEN), "{}", git.stdout());
    assert!(git.stdout().contains("password=hf_current_TTTTTTTTTTTTTTTTTTTTTTTTTTTT"), "{}", git.stdout());
    assert!(server.await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_managed_daemon_of_another_protocol_is_left_running_and_the_restart_named() {
    let w = World::new("http://127.0.0.1:9");
    let server = old_daemon(&w, true);
    let r = w.run("hf-auth", &["token"], None).await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(r.stderr().contains("speaks protocol 999"), "{}", r.stderr());
    assert!(r.stderr().contains("systemctl --user restart hf-authd.service"), "{}", r.stderr());
    assert!(!r.stderr().contains("Replacing"), "{}", r.stderr());
    // Not asked to shut down: it still serves, and no daemon of ours took its socket.
    assert!(!server.is_finished(), "the service-managed daemon was shut down");
    assert_eq!(w.daemon_pid(), None, "a daemon was started in its place");
    let git = w.run("git-credential-hf", &["get"], Some("protocol=http\nhost=127.0.0.1:9\n\n")).await.ok();
    assert!(git.stdout().is_empty());
    assert!(!server.is_finished(), "git's helper shut it down");
    server.abort();
}

/// Requests the world's daemon has served, as `hf-auth status` reports them (its own included).
async fn requests_served(w: &World) -> u64 {
    let r = w.run("hf-auth", &["status", "--json"], None).await.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    v["requests_served"].as_u64().expect("requests_served")
}

/// Against a daemon of this version, `hf-auth token` and git's helper make exactly one request:
/// the answer carries the protocol version (its `protocol` field), so no handshake follows it (a
/// Resolve answered without it cost a second connection, a Status and the Resolve again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_trip_commands_make_one_request_to_a_current_daemon() {
    let w = World::new("http://127.0.0.1:9");
    std::fs::write(w.hf_home().join("token"), "hf_current_TTTTTTTTTTTTTTTTTTTTTTTTTTTT").unwrap();
    let first = requests_served(&w).await;
    // What asking costs by itself (the status command's own handshake and Status).
    let asking = requests_served(&w).await - first;
    let made = |before: u64, after: u64| after - before - asking;

    let before = requests_served(&w).await;
    let r = w.run("hf-auth", &["token"], None).await.ok();
    assert_eq!(r.stdout().trim(), "hf_current_TTTTTTTTTTTTTTTTTTTTTTTTTTTT");
    let after = requests_served(&w).await;
    assert_eq!(made(before, after), 1, "hf-auth token");

    let git = w.run("git-credential-hf", &["get"], Some("protocol=http\nhost=127.0.0.1:9\n\n")).await.ok();
    assert!(git.stdout().contains("password=hf_current_TTTTTTTTTTTTTTTTTTTTTTTTTTTT"), "{}", git.stdout());
    let (before, after) = (after, requests_served(&w).await);
    assert_eq!(made(before, after), 1, "git-credential-hf get");

    // A refused Resolve (a name that is not stored) carries the header too.
    let missing = w.run("hf-auth", &["token", "--token-name", "nope"], None).await;
    assert_ne!(missing.code(), 0);
    assert!(missing.stderr().contains("nope"), "{}", missing.stderr());
    let (before, after) = (after, requests_served(&w).await);
    assert_eq!(made(before, after), 1, "a refused Resolve");
}

/// A daemon of this protocol built before Resolve's answer had its `protocol` field sends the
/// header alone: that is enough. Its answer is used, in one request, no Status, no replacement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_sends_this_version_in_the_header_only_is_used_in_one_request() {
    const ITS_TOKEN: &str = "hf_from_a_header_only_daemon_HHHHHHHHHHHHHH";
    let w = World::new("http://127.0.0.1:9");
    std::fs::write(w.hf_home().join("token"), "hf_current_TTTTTTTTTTTTTTTTTTTTTTTTTTTT").unwrap();
    let (resolves, statuses) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, s) = (resolves.clone(), statuses.clone());
    let stub = StubDaemon::new()
        .with_resolve(move || {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(pb::ResolveResponse {
                token: ITS_TOKEN.into(),
                source: pb::TokenSource::File as i32,
                ..Default::default()
            })
        })
        .with_resolve_header(hf_auth_proto::PROTOCOL_VERSION)
        .with_status(move || {
            s.fetch_add(1, Ordering::SeqCst);
            Ok(pb::StatusResponse { protocol: hf_auth_proto::PROTOCOL_VERSION, ..Default::default() })
        });
    let (_stop, stop) = tokio::sync::mpsc::channel(1);
    let server = serve(&w, stub, stop);
    let out = w.run("hf-auth", &["token"], None).await.ok();
    assert_eq!(out.stdout().trim(), ITS_TOKEN);
    assert_eq!((resolves.load(Ordering::SeqCst), statuses.load(Ordering::SeqCst)), (1, 0), "one Resolve, no Status");
    assert!(!server.is_finished(), "it was not asked to shut down");
    server.abort();
}
