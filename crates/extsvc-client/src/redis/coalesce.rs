//! [`Coalescing`]: the stream under a multiplexed Redis connection lets the commands of
//! other tasks join a write before it goes out.
//!
//! redis-rs's connection driver writes what its channel holds when it runs. A caller that
//! sends a command wakes the driver, and tokio runs a task woken by the running one next
//! (its "LIFO slot"): the driver then writes that one command, and the next caller's
//! command wakes it again — one write (and one read by the server) per command, however
//! many callers are ready. Here, on the node connections of a Redis Cluster, when more
//! than one command is in flight on the connection, the driver yields once before a write (it wakes itself and returns
//! `Pending`, so tokio polls it again after the tasks already queued): those tasks'
//! commands join the same write. At most every other write attempt yields, so a write
//! always follows; a lone command (concurrency 1) never waits.
//!
//! Only for a cluster's nodes: there one client feeds several servers and its own work
//! per write is what limits it (measured: 0.76–0.85× of redis-rs's cluster client
//! without, 1.1–1.3× with). Against one node the server's work limits, and a write
//! held back while the server idles costs more than it saves (the sliding-log pipeline
//! at concurrency 16 fell to 0.74–0.96× of redis-rs): single-node connections write at
//! once. See `docs/performance.md`, "`redis_cluster`".

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::watch::Watch;

/// A stream whose writes yield once before they go out while other commands are in
/// flight.
pub(super) struct Coalescing<S> {
    inner: S,
    /// The connection's commands in flight.
    watch: Arc<Watch>,
    /// Off: every write goes out at once.
    enabled: bool,
    /// The last write attempt yielded: this one writes.
    yielded: bool,
}

impl<S> Coalescing<S> {
    pub(super) fn new(inner: S, watch: Arc<Watch>, enabled: bool) -> Coalescing<S> {
        Coalescing {
            inner,
            watch,
            enabled,
            yielded: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Coalescing<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalescing<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if self.enabled && !self.yielded && self.watch.several_in_flight() {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn every_write_goes_out_after_one_yield_at_most() {
        let (mut near, far) = tokio::io::duplex(64);
        let watch = Arc::new(Watch::new(std::time::Duration::from_secs(1)));
        let mut coalescing = Coalescing::new(far, watch.clone(), true);
        coalescing.write_all(b"PING\r\n").await.unwrap();
        let (_one, _two) = (
            watch.start(tokio::time::Instant::now()),
            watch.start(tokio::time::Instant::now()),
        );
        coalescing.write_all(b"PING\r\n").await.unwrap();
        let mut got = [0u8; 12];
        tokio::io::AsyncReadExt::read_exact(&mut near, &mut got).await.unwrap();
        assert_eq!(&got, b"PING\r\nPING\r\n");
    }
}
