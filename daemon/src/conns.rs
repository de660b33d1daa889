//! Accepting connections without letting any one client exhaust the daemon: at most
//! [`Limits::max`] connections are open at once (at the cap, the one that has been quiet longest
//! is closed to make room, so a newcomer — the owner's next `hf-auth token` — is always served);
//! a connection that sends nothing within [`Limits::handshake`] is closed; and running out of file
//! descriptors (EMFILE) makes the accept loop close the quietest connection and back off instead
//! of spinning (tonic's own loop retries at once: 100% CPU with 4,000 idle sockets).
//! HTTP/2 keepalive (in `server.rs`) closes connections whose peer has gone away. Accepts,
//! closes and reads are told to `crate::idle`, which hands memory back once the daemon is idle.

use futures_util::task::AtomicWaker;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tonic::transport::server::Connected;

/// Which of the daemon's sockets a connection came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The main socket: the owner's own programs on this machine.
    Local,
    /// The forward socket (`[forward]`): a remote machine through `hf-auth ssh`, or a container.
    Forwarded,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Local => "local",
            Origin::Forwarded => "forwarded",
        }
    }
}

/// Who is on the other end of a connection, as the kernel says (`SO_PEERCRED`) when it was
/// accepted, and which socket it came in on. Every request carries it in its extensions.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub uid: Option<u32>,
    pub pid: Option<i32>,
    /// `/proc/<pid>/exe`, read once per connection (not on any request's path), for the audit log.
    pub exe: Option<Arc<str>>,
    pub origin: Origin,
}

impl PeerInfo {
    fn of(stream: &UnixStream, origin: Origin) -> Self {
        let cred = stream.peer_cred().ok();
        let pid = cred.as_ref().and_then(tokio::net::unix::UCred::pid);
        let exe = pid
            .and_then(|p| std::fs::read_link(format!("/proc/{p}/exe")).ok())
            .map(|p| Arc::from(p.to_string_lossy().as_ref()));
        Self { uid: cred.map(|c| c.uid()), pid, exe, origin }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once.
    pub max: usize,
    /// A connection must send its first bytes within this.
    pub handshake: Duration,
}

impl Limits {
    /// From the open-file limit (raise it first: [`crate::security::raise_fd_limit`]): three
    /// quarters of what is left after a reserve for files, the watcher, the keyring and logs.
    pub fn from_fd_limit() -> Self {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(1024);
        let max = (soft.saturating_sub(64) * 3 / 4).clamp(8, 4096) as usize;
        Self { max, handshake: Duration::from_secs(10) }
    }
}

/// One open connection's bookkeeping, shared by its stream and the registry.
#[derive(Debug)]
struct Slot {
    /// When its peer last sent anything, or when it was accepted (ms on [`crate::clock`]).
    last_read_ms: AtomicU64,
    /// Has the peer sent anything at all?
    spoke: AtomicBool,
    closed: AtomicBool,
    waker: AtomicWaker,
}

impl Slot {
    fn new() -> Self {
        Self {
            last_read_ms: AtomicU64::new(crate::clock::now_ms()),
            spoke: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    /// Makes the connection's next read or write fail, and wakes its task so it notices.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// The open connections.
#[derive(Debug, Default)]
struct Registry {
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
    closes: crate::idle::Closes,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn admit(self: &Arc<Self>, max: usize) -> (u64, Arc<Slot>) {
        crate::idle::accepted();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::new());
        let mut slots = self.lock();
        if slots.len() >= max {
            close_quietest(&mut slots);
        }
        slots.insert(id, slot.clone());
        (id, slot)
    }

    fn close_quietest(&self) -> bool {
        close_quietest(&mut self.lock())
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.closes.closed();
    }
}

/// Closes the connection whose peer has been quiet longest (a silent one counts from its accept,
/// so the newest connection — someone's next command — is never the one closed).
fn close_quietest(slots: &mut HashMap<u64, Arc<Slot>>) -> bool {
    let quietest = slots
        .iter()
        .filter(|(_, s)| !s.closed.load(Ordering::Acquire))
        .min_by_key(|(id, s)| (s.last_read_ms.load(Ordering::Relaxed), **id))
        .map(|(id, _)| *id);
    match quietest.and_then(|id| slots.remove(&id)) {
        Some(slot) => {
            slot.close();
            true
        }
        None => false,
    }
}

/// A connection as the server sees it: the Unix stream, failing once the registry closes it
/// or when its peer stays silent past the handshake deadline.
#[derive(Debug)]
pub struct Conn {
    inner: UnixStream,
    peer: PeerInfo,
    id: u64,
    slot: Arc<Slot>,
    registry: Arc<Registry>,
    /// Until the peer's first bytes: when to give up on it. A timer polled with the
    /// connection's own reads, so a connection costs no task of its own.
    silent_until: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

impl Conn {
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        self.slot.waker.register(cx.waker());
        if let Some(deadline) = &mut self.silent_until {
            if self.slot.spoke.load(Ordering::Relaxed) {
                self.silent_until = None;
            } else if deadline.as_mut().poll(cx).is_ready() {
                self.slot.close();
            }
        }
        if self.slot.closed.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed by hf-authd (silent, idle, or making room for another connection)",
            ));
        }
        Ok(())
    }
}

impl Connected for Conn {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.peer.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let now = crate::clock::now_ms();
            crate::clock::advance(&this.slot.last_read_ms, now);
            crate::idle::read(now);
            this.slot.spoke.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Is this accept error a shortage of descriptors or memory (which passes once something closes)?
fn is_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(rustix::io::Errno::from_raw_os_error),
        Some(
            rustix::io::Errno::MFILE | rustix::io::Errno::NFILE | rustix::io::Errno::NOBUFS | rustix::io::Errno::NOMEM
        )
    )
}

const FIRST_BACKOFF: Duration = Duration::from_millis(5);

/// The connections accepted on `listener`, for `serve_with_incoming`, each tagged with `origin`.
/// Accepting happens as the server polls this stream, in its own task: no task or channel of
/// its own stands between a client's connect and its first request.
/// Call within the runtime: it starts the task that hands memory back after a burst (`crate::idle`).
pub fn incoming(listener: UnixListener, limits: Limits, origin: Origin) -> Incoming {
    let registry = Arc::new(Registry { closes: crate::idle::Closes::watched(), ..Registry::default() });
    Incoming { listener, limits, origin, registry, pause: None, backoff: FIRST_BACKOFF }
}

/// The accept loop, as a stream (see [`incoming`]). It never yields an error: failures are
/// logged, and running out of descriptors pauses it.
#[derive(Debug)]
pub struct Incoming {
    listener: UnixListener,
    limits: Limits,
    origin: Origin,
    registry: Arc<Registry>,
    /// After EMFILE and the like: no accept until this fires.
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    backoff: Duration,
}

impl tokio_stream::Stream for Incoming {
    type Item = io::Result<Conn>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(pause) = &mut this.pause {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.pause = None;
            }
            let stream = match this.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok((stream, _))) => stream,
                Poll::Ready(Err(e)) if is_exhaustion(&e) => {
                    let freed = this.registry.close_quietest();
                    tracing::warn!(error = %e, freed, pause_ms = this.backoff.as_millis() as u64, "cannot accept a connection; closed the quietest and pausing");
                    this.pause = Some(Box::pin(tokio::time::sleep(this.backoff)));
                    this.backoff = (this.backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "accept failed");
                    continue;
                }
            };
            this.backoff = FIRST_BACKOFF;
            let (id, slot) = this.registry.admit(this.limits.max);
            let peer = PeerInfo::of(&stream, this.origin);
            let silent_until = Some(Box::pin(tokio::time::sleep(this.limits.handshake)));
            let registry = this.registry.clone();
            return Poll::Ready(Some(Ok(Conn { inner: stream, peer, id, slot, registry, silent_until })));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_quietest_connection_is_closed() {
        let registry = Arc::new(Registry::default());
        let (_, silent) = registry.admit(3);
        silent.last_read_ms.store(0, Ordering::Relaxed); // accepted long ago, never spoke
        let (_, old) = registry.admit(3);
        old.last_read_ms.store(0, Ordering::Relaxed); // spoke long ago (ties: the older connection)
        let (_, recent) = registry.admit(3);
        recent.last_read_ms.store(u64::MAX - 1, Ordering::Relaxed);
        let (_, newcomer) = registry.admit(3);
        assert!(silent.closed.load(Ordering::Acquire), "the connection quiet longest goes first");
        assert!(!old.closed.load(Ordering::Acquire) && !recent.closed.load(Ordering::Acquire));
        assert!(!newcomer.closed.load(Ordering::Acquire), "the newcomer is served");
        let (_, next) = registry.admit(3);
        assert!(old.closed.load(Ordering::Acquire), "then the next quietest");
        assert!(!newcomer.closed.load(Ordering::Acquire) && !next.closed.load(Ordering::Acquire), "newcomers stay");
        assert!(registry.close_quietest());
        assert_eq!(registry.lock().len(), 2);
    }
}
