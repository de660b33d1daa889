//! Requests held incomplete on purpose: a same-uid client opens many HTTP/2 streams, sends each
//! request message but its last bytes, and waits. Each message is within the size allowed, so
//! nothing refuses it; before the daemon had one budget for such bytes (`request_budget`), 12,000
//! of them took it from 22 MB to about 1 GB. Now the oldest are cut once the budget is full: the
//! daemon's peak memory stays bounded, and the owner's requests go on being answered.

use super::{RealDaemon, connect, context_for, scratch_with_token};
use bytes::Bytes;
use hf_auth_proto::pb;
use std::time::{Duration, Instant};

const TOKEN: &str = "hf_heldreq_HHHHHHHHHHHHHHHHHHHHHHHHHHHHHH";
const CONNECTIONS: usize = 20;
/// hf-authd's HTTP/2 streams per connection (hyper's default limit).
const STREAMS: usize = 200;
/// The largest request message allowed, which each stream declares.
const DECLARED: usize = hf_auth_proto::MAX_MESSAGE_BYTES;

/// A gRPC `Resolve` on `send` whose message declares `DECLARED` bytes and stops 5 short; the
/// answer to wait for, and the stream kept open.
async fn hold_one(
    send: &mut h2::client::SendRequest<Bytes>,
) -> Option<(h2::client::ResponseFuture, h2::SendStream<Bytes>)> {
    let request = http::Request::post("http://localhost/hfauth.v1.HfAuth/Resolve")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    *send = send.clone().ready().await.ok()?;
    let (response, mut stream) = send.send_request(request, false).ok()?;
    let mut message = Vec::with_capacity(DECLARED);
    message.push(0);
    message.extend_from_slice(&(DECLARED as u32).to_be_bytes());
    message.resize(DECLARED, b'\n');
    stream.send_data(Bytes::from(message), false).ok()?;
    Some((response, stream))
}

/// Whether an answer is a refusal (`RESOURCE_EXHAUSTED`, in the headers of a trailers-only answer).
async fn is_cut(response: h2::client::ResponseFuture) -> bool {
    match response.await {
        Ok(r) => r.headers().get("grpc-status").is_some_and(|s| s == "8"),
        Err(_) => false,
    }
}

/// A real daemon with a token, and its owner's connection (already served once).
struct Target {
    _scratch: tempfile::TempDir,
    daemon: RealDaemon,
    owner: hf_auth::connect::Client,
    ctx: pb::ClientContext,
}

impl Target {
    async fn start(prefix: &str) -> Self {
        let (scratch, socket, hf_home) = scratch_with_token(prefix, TOKEN);
        let daemon = RealDaemon::spawn(&socket, &hf_home, "http://127.0.0.1:9", &scratch.path().join("daemon.log"));
        let owner = connect(&daemon.socket).await;
        let ctx = context_for(&hf_home, "http://127.0.0.1:9");
        let target = Self { _scratch: scratch, daemon, owner, ctx };
        assert_eq!(target.resolve().await.expect("warm"), TOKEN);
        target
    }

    /// The owner's `Resolve`, on its own connection.
    async fn resolve(&self) -> Result<String, tonic::Status> {
        let request = pb::ResolveRequest { context: Some(self.ctx.clone()), username: String::new() };
        self.owner.clone().resolve(request).await.map(|r| r.into_inner().token)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_incomplete_requests_are_cut_past_one_budget_and_the_owner_is_still_served() {
    let target = Target::start("hfheld").await;
    let daemon = &target.daemon;
    let peak_before = daemon.status("VmHWM");

    let start = Instant::now();
    let mut held = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..CONNECTIONS {
        let io = tokio::net::UnixStream::connect(&daemon.socket).await.expect("connect");
        let (mut send, connection) = h2::client::handshake(io).await.expect("HTTP/2 handshake");
        held.push(tokio::spawn(async move {
            let _ = connection.await;
        }));
        for _ in 0..STREAMS {
            match hold_one(&mut send).await {
                Some((response, stream)) => answers.push((response, stream)),
                None => break,
            }
        }
    }
    let opened = answers.len();
    // The owner, meanwhile, on its own connection.
    let during = tokio::time::timeout(Duration::from_secs(10), target.resolve()).await;
    assert_eq!(during.expect("answered during the flood").expect("resolve during the flood"), TOKEN);
    // Everything sent: the streams over the budget are answered with a refusal.
    let mut cut = 0;
    let mut streams = Vec::new();
    let wait = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(wait);
    let mut pending: futures_util::stream::FuturesUnordered<_> = answers
        .into_iter()
        .map(|(response, stream)| {
            streams.push(stream);
            is_cut(response)
        })
        .collect();
    let wanted = opened - (hf_authd::request_budget::MAX_HELD_BYTES / DECLARED) - STREAMS;
    use futures_util::StreamExt;
    while cut < wanted {
        tokio::select! {
            Some(was_cut) = pending.next() => cut += usize::from(was_cut),
            () = &mut wait => break,
        }
    }
    let peak = daemon.status("VmHWM");
    eprintln!(
        "{opened} streams held over {CONNECTIONS} connections: {cut} cut in {:.1?}; daemon peak RSS {peak_before} → {peak} KiB",
        start.elapsed()
    );
    assert!(cut >= wanted, "only {cut} of {opened} held streams were cut (wanted ≥ {wanted}); peak {peak} KiB");
    let bound_kib = (hf_authd::request_budget::MAX_HELD_BYTES / 1024) as u64 * 4;
    assert!(peak < peak_before + bound_kib, "peak RSS {peak_before} → {peak} KiB, more than {bound_kib} KiB more");
    assert_eq!(target.resolve().await.expect("after"), TOKEN);
    drop(streams);
    drop(pending);
    for h in held {
        h.abort();
    }
    target.owner.clone().status(pb::StatusRequest { context: None }).await.expect("still serving");
}

/// The same with streams that send only their headers, large ones (430 extra headers, about
/// 16 KB decoded, within the header list bound) and never a byte of message: such a stream
/// held ~88 KB and was never counted, and streams per connection had no limit (tonic leaves
/// hyper's 200 unset), so one connection took the daemon to ~700 MB. Now a connection carries at
/// most `MAX_STREAMS` streams, and a stream that waits for its body counts against the budget
/// from its headers on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_that_send_only_headers_are_bounded_and_cut_past_the_budget() {
    const PER_CONNECTION: usize = 500;
    let target = Target::start("hfheaders").await;
    let daemon = &target.daemon;
    let peak_before = daemon.status("VmHWM");
    let mut held = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..4 {
        let io = tokio::net::UnixStream::connect(&daemon.socket).await.expect("connect");
        let (send, connection) = h2::client::handshake(io).await.expect("HTTP/2 handshake");
        held.push(tokio::spawn(async move {
            let _ = connection.await;
        }));
        for _ in 0..PER_CONNECTION {
            // Past the daemon's stream limit, `ready` waits: that connection is full.
            let Ok(Ok(mut send)) = tokio::time::timeout(Duration::from_millis(200), send.clone().ready()).await else {
                break;
            };
            let mut request = http::Request::post("http://localhost/hfauth.v1.HfAuth/Resolve")
                .header("content-type", "application/grpc")
                .header("te", "trailers");
            for i in 0..430 {
                request = request.header(format!("x{i:03}"), "v");
            }
            match send.send_request(request.body(()).unwrap(), false) {
                Ok(pair) => answers.push(pair),
                Err(_) => break,
            }
        }
    }
    let opened = answers.len();
    let during = tokio::time::timeout(Duration::from_secs(10), target.resolve()).await;
    assert_eq!(during.expect("answered during the flood").expect("resolve during the flood"), TOKEN);
    let mut pending: futures_util::stream::FuturesUnordered<_> =
        answers.into_iter().map(|(response, stream)| async move { (is_cut(response).await, stream) }).collect();
    let mut cut = 0;
    let mut kept = Vec::new();
    let wait = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(wait);
    use futures_util::StreamExt;
    loop {
        tokio::select! {
            Some((was_cut, stream)) = pending.next() => { cut += usize::from(was_cut); kept.push(stream); }
            () = &mut wait => break,
        }
    }
    let peak = daemon.status("VmHWM");
    eprintln!(
        "{opened} header-only streams asked for over 4 connections ({} at once on each): {cut} cut; peak RSS {peak_before} → {peak} KiB",
        hf_authd::server::MAX_STREAMS
    );
    // The budget counts an estimate of each stream, and every cut stream is replaced at once by
    // one the client had queued (h2 queues past the daemon's stream limit): the allocator's peak
    // runs above the budget, and far below what these streams took unbounded (~117 KB each).
    let bound_kib = (hf_authd::request_budget::MAX_HELD_BYTES / 1024) as u64 * 8;
    assert!(peak < peak_before + bound_kib, "peak RSS {peak_before} → {peak} KiB, more than {bound_kib} KiB more");
    assert!(cut > 0, "nothing was cut of {opened} streams holding their headers");
    assert_eq!(target.resolve().await.expect("after"), TOKEN);
    drop((kept, pending));
    for h in held {
        h.abort();
    }
    target.owner.clone().status(pb::StatusRequest { context: None }).await.expect("still serving");
}
