//! A stream that holds back what HTTP/2 writes until the first request is queued, so the
//! connection preface, SETTINGS and the first request leave in one `write`.
//!
//! Most of our clients connect, make one call and exit. Written as h2 produces them, the preface,
//! SETTINGS, HEADERS and DATA are four writes, and each can wake the daemon for a partial read;
//! held back, the daemon wakes once and finds the whole request. The hold ends when
//! [`Cork::open`] is called (the first request), when [`HELD_MAX`] bytes wait, or [`HELD_FOR`]
//! after the first held byte: it never holds more than a few frames, nor for long. (The daemon
//! closes a connection that stays silent for 10 s; a client made now and used later must still
//! have said its preface.)

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Beyond this many held bytes, writes go out whether or not a request was queued.
pub const HELD_MAX: usize = 16 * 1024;
/// Held bytes go out this long after the first of them, whether or not a request was queued.
pub const HELD_FOR: Duration = Duration::from_millis(50);

/// Opens the cork of the [`Corked`] stream it was made with.
#[derive(Clone, Debug, Default)]
pub struct Cork(Arc<AtomicBool>);

impl Cork {
    /// From now on, every flush writes (the first request's frames are queued or about to be).
    pub fn open(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_open(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Debug)]
pub struct Corked<S> {
    inner: S,
    cork: Cork,
    held: Vec<u8>,
    /// How much of `held` is already written.
    sent: usize,
    /// When the cork opens by itself ([`HELD_FOR`] after the first held write).
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Corked<S> {
    pub fn new(inner: S) -> (Self, Cork) {
        let cork = Cork::default();
        (Self { inner, cork: cork.clone(), held: Vec::new(), sent: 0, deadline: None }, cork)
    }

    /// Still holding: the cork is shut and its deadline has not passed. Polled from a flush, so
    /// the deadline's timer wakes the task that flushes (h2's connection task flushes on every
    /// poll), and the held bytes then go out.
    fn holding(&mut self, cx: &mut Context<'_>) -> bool {
        if self.cork.is_open() {
            // Its timer would only wake the connection task for nothing.
            self.deadline = None;
            return false;
        }
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(HELD_FOR)));
        if deadline.as_mut().poll(cx).is_ready() {
            self.cork.open();
            return false;
        }
        true
    }
}

impl<S: AsyncWrite + Unpin> Corked<S> {
    /// Writes out everything held (in as few writes as the socket takes).
    fn poll_release(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.held.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.held[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.held.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Corked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Corked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // Held bytes go first; what follows them joins them, to leave in the same write.
        if (!this.cork.is_open() || !this.held.is_empty()) && this.held.len() + buf.len() <= HELD_MAX {
            this.held.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.holding(cx) {
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn reads_until_eof(mut far: tokio::net::UnixStream) -> Vec<u8> {
        let mut got = Vec::new();
        far.read_to_end(&mut got).await.unwrap();
        got
    }

    #[tokio::test]
    async fn flushes_before_the_cork_opens_write_nothing_and_the_first_one_after_writes_everything() {
        // The far end is a plain socket, read without the runtime: each read is a real one.
        let (near, mut far) = std::os::unix::net::UnixStream::pair().unwrap();
        near.set_nonblocking(true).unwrap();
        far.set_nonblocking(true).unwrap();
        let (mut corked, cork) = Corked::new(tokio::net::UnixStream::from_std(near).unwrap());
        corked.write_all(b"preface").await.unwrap();
        corked.flush().await.unwrap();
        corked.write_all(b"+settings").await.unwrap();
        corked.flush().await.unwrap();
        let mut buf = [0; 64];
        let nothing = far.read(&mut buf);
        assert_eq!(nothing.map_err(|e| e.kind()), Err(io::ErrorKind::WouldBlock), "written before the cork opened");
        cork.open();
        corked.write_all(b"+request").await.unwrap();
        corked.flush().await.unwrap();
        // All of it is in the socket now, from one write: one read takes it.
        let n = far.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"preface+settings+request");
        corked.write_all(b"later").await.unwrap();
        corked.flush().await.unwrap();
        corked.shutdown().await.unwrap();
        drop(corked);
        far.set_nonblocking(false).unwrap();
        let mut rest = Vec::new();
        far.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"later");
    }

    #[tokio::test]
    async fn a_cork_never_opened_holds_at_most_held_max_bytes() {
        let (near, mut far) = tokio::net::UnixStream::pair().unwrap();
        let (mut corked, _cork) = Corked::new(near);
        let frame = vec![7u8; 1000];
        for _ in 0..(HELD_MAX / frame.len() + 2) {
            corked.write_all(&frame).await.unwrap();
            corked.flush().await.unwrap();
        }
        let mut got = vec![0; HELD_MAX];
        far.read_exact(&mut got).await.unwrap();
        assert!(got.iter().all(|b| *b == 7));
    }

    #[tokio::test]
    async fn a_cork_never_opened_lets_its_bytes_go_when_its_time_is_up() {
        let (near, mut far) = tokio::net::UnixStream::pair().unwrap();
        let (mut corked, _cork) = Corked::new(near);
        corked.write_all(b"preface").await.unwrap();
        corked.flush().await.unwrap();
        // As h2's connection task does: flush again whenever woken. The deadline's timer is
        // what wakes this one.
        let flusher = tokio::spawn(async move {
            let mut flushes = 0;
            std::future::poll_fn(|cx| {
                flushes += 1;
                let _ = Pin::new(&mut corked).poll_flush(cx);
                if corked.held.is_empty() { Poll::Ready(()) } else { Poll::Pending }
            })
            .await;
            flushes
        });
        let mut got = [0; 7];
        tokio::time::timeout(Duration::from_secs(5), far.read_exact(&mut got)).await.unwrap().unwrap();
        assert_eq!(&got, b"preface");
        let flushes = flusher.await.unwrap();
        assert!(flushes <= 3, "woken by the deadline, not spinning: {flushes} flushes");
    }

    #[tokio::test]
    async fn shutdown_writes_what_is_held() {
        let (near, far) = tokio::net::UnixStream::pair().unwrap();
        let (mut corked, _cork) = Corked::new(near);
        corked.write_all(b"held").await.unwrap();
        corked.shutdown().await.unwrap();
        drop(corked);
        assert_eq!(reads_until_eof(far).await, b"held");
    }
}
