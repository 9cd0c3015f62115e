//! The byte streams the connectors yield, and what each knows about its connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How a connection reaches its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed set: a connection is direct, forwarded or tunnelled, which callers match"
)]
pub enum Hop {
    /// Straight to the target.
    #[default]
    Direct,
    /// To an HTTP proxy that forwards requests in absolute form (`GET http://…`);
    /// the requests on it carry `Proxy-Authorization` when the proxy URL has
    /// credentials.
    Forward,
    /// Through a `CONNECT` tunnel or a SOCKS5 proxy: the bytes reach the target
    /// unchanged, and requests go in origin form, as if direct.
    Tunnel,
}

/// What a connector knows about a connection it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Connected {
    /// How the connection reaches its target.
    pub hop: Hop,
    /// The TLS version negotiated with the target, when the connection is TLS to it
    /// (never the proxy's: an `http://` target through an `https://` proxy has none).
    pub tls_version: Option<rustls::ProtocolVersion>,
    /// The TLS version negotiated with an `https://` proxy, when there is one.
    pub proxy_tls_version: Option<rustls::ProtocolVersion>,
}

/// A TLS version as people write it: `TLSv1_2` → `"1.2"`, `TLSv1_3` → `"1.3"`, anything
/// else `"other"` (the client negotiates only these two).
#[doc(hidden)]
pub fn tls_version_name(version: rustls::ProtocolVersion) -> &'static str {
    match version {
        rustls::ProtocolVersion::TLSv1_2 => "1.2",
        rustls::ProtocolVersion::TLSv1_3 => "1.3",
        _ => "other",
    }
}

/// Implemented by the connection types of the connectors: tells the client how to
/// frame requests (origin or absolute form) and what to log.
pub trait ConnectionInfo {
    /// What is known about this connection.
    fn connected(&self) -> Connected;
}

impl ConnectionInfo for TcpStream {
    fn connected(&self) -> Connected {
        Connected::default()
    }
}

impl ConnectionInfo for tokio::io::DuplexStream {
    fn connected(&self) -> Connected {
        Connected::default()
    }
}

/// A stream that is either plain or TLS (to the target or to an `https://` proxy).
#[derive(Debug)]
#[allow(clippy::exhaustive_enums, reason = "closed set: a stream is plain or TLS")]
pub enum MaybeTlsStream<IO> {
    /// Plain bytes.
    Plain(IO),
    /// TLS over `IO` (boxed: a TLS session is large).
    Tls(Box<tokio_rustls::client::TlsStream<IO>>),
}

impl<IO> MaybeTlsStream<IO> {
    /// The negotiated TLS version, when this is TLS.
    pub fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        match self {
            MaybeTlsStream::Plain(_) => None,
            MaybeTlsStream::Tls(tls) => tls.get_ref().1.protocol_version(),
        }
    }

    /// The stream under TLS (or the stream itself when plain).
    pub fn get_ref(&self) -> &IO {
        match self {
            MaybeTlsStream::Plain(io) => io,
            MaybeTlsStream::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl<IO: ConnectionInfo> ConnectionInfo for MaybeTlsStream<IO> {
    fn connected(&self) -> Connected {
        let mut info = self.get_ref().connected();
        if let Some(version) = self.tls_version() {
            info.tls_version = Some(version);
        }
        info
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTlsStream<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(io) => Pin::new(io).poll_read(cx, buf),
            MaybeTlsStream::Tls(tls) => Pin::new(&mut **tls).poll_read(cx, buf),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTlsStream<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(io) => Pin::new(io).poll_write(cx, buf),
            MaybeTlsStream::Tls(tls) => Pin::new(&mut **tls).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            MaybeTlsStream::Tls(tls) => Pin::new(&mut **tls).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(io) => io.is_write_vectored(),
            MaybeTlsStream::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(io) => Pin::new(io).poll_flush(cx),
            MaybeTlsStream::Tls(tls) => Pin::new(&mut **tls).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(io) => Pin::new(io).poll_shutdown(cx),
            MaybeTlsStream::Tls(tls) => Pin::new(&mut **tls).poll_shutdown(cx),
        }
    }
}

/// A stream that first yields bytes already read from it (e.g. what a proxy sent
/// right after its `200` to `CONNECT`), then reads on.
#[derive(Debug)]
pub struct PrefixedStream<IO> {
    prefix: Bytes,
    io: IO,
}

impl<IO> PrefixedStream<IO> {
    /// `io`, with `prefix` to be read first.
    pub fn new(prefix: Bytes, io: IO) -> PrefixedStream<IO> {
        PrefixedStream { prefix, io }
    }

    /// The bytes not yet read from the prefix.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The underlying stream and the unread prefix.
    pub fn into_parts(self) -> (Bytes, IO) {
        (self.prefix, self.io)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for PrefixedStream<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.has_remaining() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for PrefixedStream<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<IO: ConnectionInfo> ConnectionInfo for PrefixedStream<IO> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

/// What [`ProxyConnector`](crate::connect::ProxyConnector) yields: a stream to the target
/// (direct or tunnelled) or to a forwarding proxy, with the [`Hop`] it took.
#[derive(Debug)]
pub struct ProxyStream<IO> {
    io: PrefixedStream<MaybeTlsStream<IO>>,
    hop: Hop,
}

impl<IO> ProxyStream<IO> {
    pub(crate) fn new(io: PrefixedStream<MaybeTlsStream<IO>>, hop: Hop) -> ProxyStream<IO> {
        ProxyStream { io, hop }
    }

    /// How this stream reaches its target.
    pub fn hop(&self) -> Hop {
        self.hop
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for ProxyStream<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ProxyStream<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<IO> ConnectionInfo for ProxyStream<IO> {
    fn connected(&self) -> Connected {
        // The TLS here (if any) is to the proxy, not to the target.
        Connected {
            hop: self.hop,
            tls_version: None,
            proxy_tls_version: self.io.get_ref().tls_version(),
        }
    }
}

// So the connectors compose into hyper-util's legacy client (through `TokioIo`):
// a forwarding proxy hop makes it send absolute-form requests.
impl hyper_util::client::legacy::connect::Connection for ProxyStream<TcpStream> {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new().proxy(self.hop == Hop::Forward)
    }
}

impl<IO> hyper_util::client::legacy::connect::Connection for MaybeTlsStream<IO>
where
    IO: hyper_util::client::legacy::connect::Connection + AsyncRead + AsyncWrite + Unpin,
{
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        self.get_ref().connected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn the_prefix_is_read_before_the_stream() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut s = PrefixedStream::new(Bytes::from_static(b"abc"), a);
        b.write_all(b"def").await.unwrap();
        drop(b);
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"abcdef");
    }
}
