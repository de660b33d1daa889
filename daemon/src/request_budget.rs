//! One budget, across every connection, for request messages still arriving.
//!
//! A request's message is buffered until it is whole (tonic decodes only complete messages). Each
//! may be up to `MAX_MESSAGE_BYTES`, a connection may carry hundreds of streams and the daemon
//! thousands of connections, so a client that sends every message but its last bytes and waits
//! made the daemon hold ~80 KB per stream: 12,000 such streams took it from 22 MB to 995 MB.
//!
//! Every request body passes through [`Budgeted`], which counts the bytes of bodies that have not
//! ended, and from the moment one waits for its message, what its stream holds already: its
//! headers, decoded (up to the header list bound, 16 KiB, a stream of headers alone held ~88 KB),
//! and tonic's buffer. Past [`MAX_HELD_BYTES`] in all, the body that has been incomplete the longest is cut
//! (`RESOURCE_EXHAUSTED`, which resets its stream and frees its buffer). Real clients send a
//! request as one frame that ends the stream, so their bodies are never held and never cut: the
//! oldest incomplete body is the one that stalls on purpose, whoever else is connected.

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http_body::{Body, Frame, SizeHint};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

/// Bytes of incomplete request messages the daemon holds at most, over all connections: 256
/// messages of the largest size allowed at once, and nothing a real client comes near.
pub const MAX_HELD_BYTES: usize = 16 * 1024 * 1024;

/// The process's budget (one daemon per process; the benchmarks' bare server shares the rule).
fn budget() -> &'static Budget {
    static BUDGET: OnceLock<Budget> = OnceLock::new();
    BUDGET.get_or_init(|| Budget::new(MAX_HELD_BYTES))
}

/// Wraps a request's body so it counts against the budget (for `tower::util::MapRequestLayer`).
pub fn budgeted(req: http::Request<tonic::body::Body>) -> http::Request<tonic::body::Body> {
    if req.body().is_end_stream() {
        return req;
    }
    let stream = stream_bytes(req.headers());
    req.map(|body| tonic::body::Body::new(Budgeted::new(body, budget(), stream)))
}

/// What a stream holds before its message: its headers as decoded (HTTP/2's 32 bytes an entry,
/// times six for the map, its allocations and the request's copies: measured, ~88 KB for 16 KB
/// of headers) and tonic's 8 KiB buffer.
fn stream_bytes(headers: &http::HeaderMap) -> usize {
    let listed: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 32).sum();
    8 * 1024 + 6 * listed
}

#[derive(Debug)]
struct Budget {
    limit: usize,
    held: AtomicUsize,
    cut: AtomicU64,
    next_id: AtomicU64,
    /// Incomplete bodies that hold bytes, oldest (smallest id) first.
    holders: Mutex<BTreeMap<u64, Arc<Holder>>>,
}

#[derive(Debug, Default)]
struct Holder {
    cut: AtomicBool,
    /// What its body holds now.
    bytes: AtomicUsize,
    waker: AtomicWaker,
}

impl Budget {
    fn new(limit: usize) -> Self {
        Self { limit, held: 0.into(), cut: 0.into(), next_id: 0.into(), holders: Mutex::default() }
    }

    fn holders(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Holder>>> {
        self.holders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Over the limit: cut the oldest incomplete bodies (`me` last) until the ones left fit.
    /// What they hold is released when they next run and end (or are dropped); one cut already
    /// and not yet run counts as released, so a burst does not cut more than it must.
    fn cut_oldest(&self, me: u64, mut over: usize) {
        let holders = self.holders();
        for holder in holders.iter().filter(|(id, _)| **id != me).chain(holders.get_key_value(&me)).map(|(_, h)| h) {
            if over == 0 {
                break;
            }
            if !holder.cut.swap(true, Ordering::AcqRel) {
                self.cut.fetch_add(1, Ordering::Relaxed);
                holder.waker.wake();
            }
            over = over.saturating_sub(holder.bytes.load(Ordering::Acquire));
        }
    }
}

/// A request body counted against the [`Budget`] while it has not ended.
#[derive(Debug)]
pub struct Budgeted<B> {
    inner: B,
    budget: &'static Budget,
    /// Bytes of this body received so far and not yet released.
    held: usize,
    /// What its stream holds besides (its headers): counted once it waits.
    stream: usize,
    /// Registered once it holds bytes without having ended.
    holder: Option<(u64, Arc<Holder>)>,
}

impl<B> Budgeted<B> {
    fn new(inner: B, budget: &'static Budget, stream: usize) -> Self {
        Self { inner, budget, held: 0, stream, holder: None }
    }

    fn is_cut(&self) -> bool {
        self.holder.as_ref().is_some_and(|(_, h)| h.cut.load(Ordering::Acquire))
    }

    /// `n` more bytes arrived (or none yet) and the body goes on.
    fn hold(&mut self, n: usize, cx: &Context<'_>) {
        let n = if self.holder.is_none() { n + self.stream } else { n };
        self.held += n;
        let total = self.budget.held.fetch_add(n, Ordering::AcqRel) + n;
        let (id, holder) = self.holder.get_or_insert_with(|| {
            let id = self.budget.next_id.fetch_add(1, Ordering::Relaxed);
            let holder = Arc::new(Holder::default());
            self.budget.holders().insert(id, holder.clone());
            (id, holder)
        });
        holder.bytes.store(self.held, Ordering::Release);
        holder.waker.register(cx.waker());
        if total > self.budget.limit {
            self.budget.cut_oldest(*id, total - self.budget.limit);
        }
    }

    /// Ended, failed, cut or dropped: nothing is held any more.
    fn release(&mut self) {
        if self.held > 0 {
            self.budget.held.fetch_sub(self.held, Ordering::AcqRel);
            self.held = 0;
        }
        if let Some((id, _)) = self.holder.take() {
            self.budget.holders().remove(&id);
        }
    }
}

impl<B> Drop for Budgeted<B> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<B> Body for Budgeted<B>
where
    B: Body<Data = Bytes, Error = tonic::Status> + Unpin,
{
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        if self.is_cut() {
            self.release();
            return Poll::Ready(Some(Err(tonic::Status::resource_exhausted(
                "hf-authd cut this request: its message stayed incomplete while the daemon's budget for \
                 incomplete requests was full",
            ))));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, Bytes::len);
                if self.inner.is_end_stream() {
                    self.release();
                } else if n > 0 {
                    self.hold(n, cx);
                }
            }
            Poll::Ready(_) => self.release(),
            // Waiting for its message: from now on its stream counts.
            Poll::Pending => match &self.holder {
                Some((_, holder)) => holder.waker.register(cx.waker()),
                None => self.hold(0, cx),
            },
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    type Chunks = StreamBody<tokio_stream::wrappers::ReceiverStream<Result<Frame<Bytes>, tonic::Status>>>;

    /// A body fed by hand: its sender, and the body (never ending until the sender is dropped).
    fn fed() -> (tokio::sync::mpsc::Sender<Result<Frame<Bytes>, tonic::Status>>, Chunks) {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        (tx, StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    fn leak(limit: usize) -> &'static Budget {
        Box::leak(Box::new(Budget::new(limit)))
    }

    async fn send(tx: &tokio::sync::mpsc::Sender<Result<Frame<Bytes>, tonic::Status>>, n: usize) {
        tx.send(Ok(Frame::data(Bytes::from(vec![0u8; n])))).await.unwrap();
    }

    #[tokio::test]
    async fn past_the_budget_the_oldest_incomplete_body_is_cut_and_the_rest_go_on() {
        let budget = leak(1000);
        let (old_tx, old) = fed();
        let (new_tx, new) = fed();
        let mut old = Budgeted::new(old, budget, 0);
        let mut new = Budgeted::new(new, budget, 0);
        send(&old_tx, 600).await;
        assert_eq!(old.frame().await.unwrap().unwrap().into_data().unwrap().len(), 600);
        send(&new_tx, 600).await;
        assert_eq!(new.frame().await.unwrap().unwrap().into_data().unwrap().len(), 600);
        assert_eq!(budget.cut.load(Ordering::Relaxed), 1, "1200 bytes held against 1000: one cut");
        let err = old.frame().await.unwrap().expect_err("the oldest is cut");
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert_eq!(budget.held.load(Ordering::Relaxed), 600, "the cut body's bytes are released");
        send(&new_tx, 100).await;
        assert_eq!(new.frame().await.unwrap().unwrap().into_data().unwrap().len(), 100, "the newer one goes on");
        drop(new);
        assert_eq!(budget.held.load(Ordering::Relaxed), 0);
        assert!(budget.holders().is_empty());
    }

    #[tokio::test]
    async fn a_stream_waiting_for_its_message_counts_from_its_headers_on() {
        use futures_util::FutureExt;
        let budget = leak(1000);
        let (_old_tx, old) = fed();
        let (_new_tx, new) = fed();
        let mut old = Budgeted::new(old, budget, 600);
        let mut new = Budgeted::new(new, budget, 600);
        assert!(old.frame().now_or_never().is_none(), "no message yet");
        assert_eq!(budget.held.load(Ordering::Relaxed), 600, "its stream counts once it waits");
        assert!(new.frame().now_or_never().is_none());
        assert_eq!(budget.cut.load(Ordering::Relaxed), 1, "1200 against 1000: the older one is cut");
        let err = old.frame().await.unwrap().expect_err("cut");
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert_eq!(budget.held.load(Ordering::Relaxed), 600);
        drop(new);
        assert_eq!(budget.held.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_body_that_ends_holds_nothing() {
        let budget = leak(10);
        let body =
            http_body_util::Full::new(Bytes::from(vec![1u8; 100])).map_err(|e: std::convert::Infallible| match e {});
        let mut b = Budgeted::new(body, budget, 500);
        assert_eq!(b.frame().await.unwrap().unwrap().into_data().unwrap().len(), 100);
        assert_eq!((budget.held.load(Ordering::Relaxed), budget.cut.load(Ordering::Relaxed)), (0, 0));
        assert!(budget.holders().is_empty(), "never registered");
    }
}
