//! A loopback listener whose connections a handler can cut.
//!
//! `Mode::ResetConnection` must drop the TCP connection without a single response byte, but an axum
//! handler never sees its stream. So every accepted stream carries a [`Kill`] switch that axum also
//! hands the handler as connect info. Once the switch is set, the stream fails every read and write;
//! hyper then drops it, and because the switch also turned on `SO_LINGER(0)`, the close is a TCP reset
//! rather than a clean end of stream, as with a crashed proxy.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug)]
pub(crate) struct KillableListener(pub TcpListener);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((inner, addr)) => {
                    return (KillableStream { inner, kill: Kill::default() }, addr);
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(e) => {
                    tracing::debug!("fake hub: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// The switch that cuts one connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct Kill(Arc<AtomicBool>);

impl Kill {
    pub fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for Kill {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.io().kill.clone()
    }
}

#[derive(Debug)]
pub(crate) struct KillableStream {
    inner: TcpStream,
    kill: Kill,
}

impl KillableStream {
    fn check(&self) -> io::Result<()> {
        if !self.kill.0.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Zero linger makes the coming close a reset; with no linger set it would be a FIN.
        let _ = self.inner.set_zero_linger();
        Err(io::Error::new(io::ErrorKind::ConnectionReset, "fake hub: connection reset on purpose"))
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
