//! The transport against an HTTP/2 server driven frame by frame (the `h2` crate's server side), so
//! each test chooses exactly what "the daemon" answers: a whole answer, a trailers-only error,
//! nothing at all, a dropped connection.

use super::*;
use crate::connect::{self, Client};
use bytes::{BufMut, BytesMut};
use hf_auth_proto::pb;
use prost::Message;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::UnixListener;

/// How the fake daemon answers the one request it reads.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// HEADERS, one DATA with a `StatusResponse` whose `version` is this long, OK trailers.
    Whole { version_len: usize },
    /// A trailers-only error: NOT_FOUND with a message and our protocol header.
    TrailersOnly,
    /// Reads the request and never answers.
    Never,
    /// Reads the request and closes the connection.
    Hangs,
}

struct FakeDaemon {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    /// The request paths it was sent, and the body of the first.
    seen: tokio::task::JoinHandle<(String, Vec<u8>)>,
}

fn start(answer: Answer) -> FakeDaemon {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("hf-authd.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let seen = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut conn = h2::server::handshake(stream).await.unwrap();
        let (request, mut respond) = conn.accept().await.unwrap().unwrap();
        let path = request.uri().path().to_owned();
        let mut body = request.into_body();
        let mut got = Vec::new();
        while let Some(chunk) = body.data().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        match answer {
            Answer::Whole { version_len } => {
                let reply = pb::StatusResponse { version: "v".repeat(version_len), protocol: 7, ..Default::default() };
                let mut data = BytesMut::new();
                data.put_u8(0);
                data.put_u32(reply.encoded_len() as u32);
                reply.encode(&mut data).unwrap();
                let head = http::Response::builder().header("content-type", "application/grpc").body(()).unwrap();
                let mut send = respond.send_response(head, false).unwrap();
                send.send_data(data.freeze(), false).unwrap();
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", "0".parse().unwrap());
                send.send_trailers(trailers).unwrap();
            }
            Answer::TrailersOnly => {
                let head = http::Response::builder()
                    .header("content-type", "application/grpc")
                    .header("grpc-status", "5")
                    .header("grpc-message", "no such home")
                    .header(hf_auth_proto::PROTOCOL_HEADER, "2")
                    .body(())
                    .unwrap();
                respond.send_response(head, true).unwrap();
            }
            Answer::Never => {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Answer::Hangs => {
                drop(respond);
                drop(conn);
                return (path, got);
            }
        }
        // Serve the connection until the client leaves, so the answer is flushed.
        while conn.accept().await.is_some() {}
        (path, got)
    });
    FakeDaemon { _dir: dir, socket, seen }
}

async fn client(daemon: &FakeDaemon, timeout: Option<Duration>) -> Client {
    connect::connect(&daemon.socket, Duration::from_secs(5), timeout).await.unwrap()
}

#[tokio::test]
async fn a_call_is_sent_whole_and_its_answer_and_trailers_come_back() {
    let daemon = start(Answer::Whole { version_len: 3 });
    let mut client = client(&daemon, Some(Duration::from_secs(5))).await;
    let answer = client.status(pb::StatusRequest { context: None }).await.unwrap().into_inner();
    assert_eq!((answer.version.as_str(), answer.protocol), ("vvv", 7));
    drop(client);
    let (path, body) = daemon.seen.await.unwrap();
    assert_eq!(path, "/hfauth.v1.HfAuth/Status");
    // The gRPC frame: uncompressed, the length, an empty StatusRequest.
    assert_eq!(body, [0, 0, 0, 0, 0]);
}

#[tokio::test]
async fn an_answer_at_the_message_limit_arrives_whole() {
    // Larger than HTTP/2's default 64 KiB window: flow control is handed back as it is read.
    let version_len = hf_auth_proto::MAX_MESSAGE_BYTES - 16;
    let daemon = start(Answer::Whole { version_len });
    let mut client = client(&daemon, Some(Duration::from_secs(5))).await;
    let answer = client.status(pb::StatusRequest { context: None }).await.unwrap().into_inner();
    assert_eq!(answer.version.len(), version_len);
}

#[tokio::test]
async fn a_trailers_only_error_keeps_its_code_message_and_metadata() {
    let daemon = start(Answer::TrailersOnly);
    let mut client = client(&daemon, Some(Duration::from_secs(5))).await;
    let status = client.status(pb::StatusRequest { context: None }).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (tonic::Code::NotFound, "no such home"));
    assert_eq!(connect::protocol_of(status.metadata()), Some(2));
}

#[tokio::test]
async fn no_answer_within_the_bound_is_the_connections_timeout() {
    let daemon = start(Answer::Never);
    let mut client = client(&daemon, Some(Duration::from_millis(200))).await;
    let status = client.status(pb::StatusRequest { context: None }).await.unwrap_err();
    assert!(is_timeout(&status), "{status:?}");
}

/// The daemon closes a connection that says nothing for 10 s: a client made now and used later
/// must have sent its preface by then, cork or not.
#[tokio::test]
async fn a_client_that_makes_no_call_still_sends_its_preface_soon() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("hf-authd.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let _client = connect::connect(&socket, Duration::from_secs(5), None).await.unwrap();
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut preface = [0; 24];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut preface))
        .await
        .expect("no preface within 5 s of connecting")
        .unwrap();
    assert_eq!(&preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
}

#[tokio::test]
async fn a_dropped_connection_is_reported_as_lost() {
    let daemon = start(Answer::Hangs);
    let mut client = client(&daemon, Some(Duration::from_secs(5))).await;
    let status = client.status(pb::StatusRequest { context: None }).await.unwrap_err();
    assert!(!is_timeout(&status), "{status:?}");
    assert!(status.message().contains("hf-authd"), "{status:?}");
}
