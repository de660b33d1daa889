//! tonic's transport for our clients: one HTTP/2 connection (the `h2` crate) on the already
//! checked socket, and nothing else.
//!
//! tonic's `Channel` is made for long-lived clients of remote servers: a buffer task, reconnects,
//! hyper's dispatch task and a task per request body. Ours live for one command (git's helper for
//! one call) and a daemon that is gone is reported, not re-dialled; so a call here queues its
//! HEADERS and its whole DATA and waits for the answer, and the first call leaves in the same
//! write as the connection preface ([`cork`](super::cork)). Every client RPC of ours sends one
//! message (unary or server-streaming), so a request body is always complete when it is sent.

use super::cork::Cork;
use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tonic::Status;

/// What a call that outlived the connection's bound reports (as tonic's `Channel` did).
pub const TIMEOUT_MESSAGE: &str = "Timeout expired";

/// Is this the connection's own bound on a call (not an answer from the daemon)?
pub fn is_timeout(status: &Status) -> bool {
    status.code() == tonic::Code::Cancelled && status.message() == TIMEOUT_MESSAGE
}

/// One HTTP/2 connection to hf-authd, as a tonic transport. Clones share the connection. It is
/// never re-dialled: once the daemon has gone (stopped, restarted, replaced), every call on it
/// fails, and the caller connects again.
#[derive(Clone, Debug)]
pub struct Connection {
    send: h2::client::SendRequest<Bytes>,
    cork: Cork,
    timeout: Option<Duration>,
}

impl Connection {
    /// `cork` is the one of the stream under `send`; `timeout` bounds each call until its
    /// answer's headers arrive (a stream's messages after that are not bounded).
    pub fn new(send: h2::client::SendRequest<Bytes>, cork: Cork, timeout: Option<Duration>) -> Self {
        Self { send, cork, timeout }
    }
}

type Answer = http::Response<ResponseBody>;

impl tower::Service<http::Request<tonic::body::Body>> for Connection {
    type Response = Answer;
    type Error = Status;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, Status>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.send.poll_ready(cx).map_err(lost)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        // A clone per call, as the body is collected inside the future: h2 queues a stream past
        // the daemon's concurrency limit instead of refusing it, so nothing is lost by not
        // reusing the handle `poll_ready` polled (our clients make one call at a time).
        let mut send = self.send.clone();
        let cork = self.cork.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let (head, body) = request.into_parts();
            // tonic has the message encoded already: collecting is one poll, no waiting.
            let body = body.collect().await?;
            let body = body.to_bytes();
            // Before the frames are queued: the connection task may write them at once.
            cork.open();
            let (answer, mut stream) =
                send.send_request(http::Request::from_parts(head, ()), body.is_empty()).map_err(lost)?;
            if !body.is_empty() {
                stream.send_data(body, true).map_err(lost)?;
            }
            let answer = match timeout {
                None => answer.await,
                Some(bound) => {
                    tokio::time::timeout(bound, answer).await.map_err(|_| Status::cancelled(TIMEOUT_MESSAGE))?
                }
            };
            let (head, recv) = answer.map_err(lost)?.into_parts();
            Ok(http::Response::from_parts(head, ResponseBody { recv, data_done: false }))
        })
    }
}

/// The connection (or the call on it) failed: the daemon closed it, reset the stream, or sent
/// something that is not HTTP/2. A reset's code becomes a status as gRPC's HTTP/2 mapping says.
fn lost(e: h2::Error) -> Status {
    use h2::Reason;
    if e.is_io() || e.is_go_away() {
        return Status::unavailable(format!("the connection to hf-authd was lost: {e}"));
    }
    let message = format!("hf-authd reset the call: {e}");
    match e.reason() {
        Some(Reason::REFUSED_STREAM) => Status::unavailable(message),
        Some(Reason::CANCEL) => Status::cancelled(message),
        Some(Reason::ENHANCE_YOUR_CALM) => Status::resource_exhausted(message),
        Some(Reason::INADEQUATE_SECURITY) => Status::permission_denied(message),
        _ if e.is_remote() => Status::internal(message),
        _ => Status::internal(format!("HTTP/2 protocol error from hf-authd: {e}")),
    }
}

/// An answer's DATA frames, then its trailers; received bytes are handed back to flow control as
/// they are read, so the daemon can send on.
#[derive(Debug)]
pub struct ResponseBody {
    recv: h2::RecvStream,
    data_done: bool,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if !this.data_done {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Fails only when the stream is already gone; the next poll reports that.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(lost(e)))),
                None => this.data_done = true,
            }
        }
        match ready!(this.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(lost(e)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}

#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;
