//! [`Tunnel`]: a `CONNECT` tunnel through an HTTP proxy.
//!
//! The proxy's answer is read with a bounded buffer ([`MAX_RESPONSE_HEAD`]); any 2xx
//! opens the tunnel, and bytes the proxy sent after its header are kept (they are the
//! target's) in a [`PrefixedStream`].

use crate::trace::{self, TraceEvent};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use extsvc_config::ProxyUrl;
use http::Uri;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::future::Connecting;
use crate::error::{BoxError, Error, ErrorKind, Phase};
use crate::host::{HostPort, UriTarget};
use crate::io::PrefixedStream;
use crate::phase;

/// The largest proxy answer head (status line and headers) accepted, in bytes.
#[doc(hidden)]
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// A connector that asks `inner` for a stream to the proxy, then sends
/// `CONNECT host:port` for the destination URI and yields the tunnelled stream.
///
/// `Proxy-Authorization` is sent when the proxy URL has credentials. The inner
/// connector is called with `http://proxy-host:proxy-port`; for an `https://` proxy it
/// must do the TLS (as [`ProxyConnector`](crate::connect::ProxyConnector) does).
#[derive(Debug, Clone)]
pub struct Tunnel<C> {
    inner: C,
    proxy: Arc<ProxyUrl>,
    proxy_dst: Uri,
}

impl<C> Tunnel<C> {
    /// A tunnel through `proxy`, connecting to it with `inner`.
    pub fn new(proxy: Arc<ProxyUrl>, inner: C) -> Tunnel<C> {
        let proxy_dst = proxy_uri(&proxy);
        Tunnel {
            inner,
            proxy,
            proxy_dst,
        }
    }

    /// The inner connector.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The inner connector, mutably.
    pub fn get_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// The inner connector.
    pub fn into_inner(self) -> C {
        self.inner
    }
}

/// `http://host:port` of a proxy: what the inner (TCP) connector is asked for.
pub(crate) fn proxy_uri(proxy: &ProxyUrl) -> Uri {
    Uri::builder()
        .scheme("http")
        .authority(proxy.authority())
        .path_and_query("/")
        .build()
        .expect("a parsed proxy URL has a valid authority")
}

impl<C> tower::Service<Uri> for Tunnel<C>
where
    C: tower::Service<Uri>,
    C::Response: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = PrefixedStream<C::Response>;
    type Error = Error;
    type Future = Connecting<PrefixedStream<C::Response>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx).map_err(|e| {
            Error::from_inner(e.into(), ErrorKind::ProxyConnect, "proxy connector not ready").with_proxy(&*self.proxy)
        })
    }

    fn call(&mut self, dst: Uri) -> Connecting<PrefixedStream<C::Response>> {
        let proxy = self.proxy.clone();
        let connecting = self.inner.call(self.proxy_dst.clone());
        Connecting::new(async move {
            let UriTarget { host, port, .. } = UriTarget::of(&dst)?;
            let io = connecting.await.map_err(|e| {
                Error::from_inner(e.into(), ErrorKind::ProxyConnect, "cannot connect to the proxy")
                    .on_proxy_hop()
                    .with_proxy(&*proxy)
            })?;
            connect_through(io, host, port, &proxy).await
        })
    }
}

/// Sends `CONNECT host:port` on `io` (a stream to `proxy`) and reads the answer.
/// `host` is as in a URI (IPv6 in brackets).
pub(crate) async fn connect_through<IO>(
    mut io: IO,
    host: &str,
    port: u16,
    proxy: &ProxyUrl,
) -> Result<PrefixedStream<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    phase::enter(Phase::ProxyConnect);
    let fail = |kind: ErrorKind, message: String| {
        Error::new(kind, message)
            .with_phase(Phase::ProxyConnect)
            .with_proxy(proxy)
    };
    let mut request = Vec::with_capacity(128);
    request.extend_from_slice(b"CONNECT ");
    push_authority(&mut request, host, port);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    push_authority(&mut request, host, port);
    request.extend_from_slice(b"\r\n");
    if let Some(auth) = proxy.proxy_authorization() {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(auth.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    trace::note(|| {
        let authority = HostPort(host, port).to_string();
        let mut lines = vec![format!("CONNECT {authority} HTTP/1.1"), format!("Host: {authority}")];
        if proxy.proxy_authorization().is_some() {
            lines.push("Proxy-Authorization: ***".to_owned());
        }
        TraceEvent::ConnectRequest { lines }
    });
    let io_error = |what: &str, e: std::io::Error| {
        let kind = match e.kind() {
            std::io::ErrorKind::InvalidData => ErrorKind::ProxyProtocol,
            _ => ErrorKind::ProxyConnect,
        };
        fail(kind, format!("{what} the proxy during CONNECT")).with_source(e)
    };
    io.write_all(&request)
        .await
        .map_err(|e| io_error("cannot write to", e))?;
    io.flush().await.map_err(|e| io_error("cannot write to", e))?;
    drop(request);

    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if buf.len() >= MAX_RESPONSE_HEAD {
            return Err(fail(
                ErrorKind::ProxyProtocol,
                format!("the proxy's answer to CONNECT has headers larger than {MAX_RESPONSE_HEAD} bytes"),
            ));
        }
        // Never read past the limit, so an endless header stays bounded.
        let room = MAX_RESPONSE_HEAD - buf.len();
        buf.reserve(room.min(4096));
        let n = {
            let mut limited = (&mut io).take(room as u64);
            limited
                .read_buf(&mut buf)
                .await
                .map_err(|e| io_error("lost the connection to", e))?
        };
        if n == 0 {
            return Err(fail(
                ErrorKind::ProxyConnect,
                if buf.is_empty() {
                    "the proxy closed the connection without answering CONNECT".to_owned()
                } else {
                    "the proxy closed the connection in the middle of its answer to CONNECT".to_owned()
                },
            ));
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(head_len)) => {
                let code = response.code.unwrap_or(0);
                trace::note(|| TraceEvent::ConnectResponse {
                    status_line: format!(
                        "HTTP/1.{} {code} {}",
                        response.version.unwrap_or(1),
                        extsvc_config::escaped(response.reason.unwrap_or(""))
                    )
                    .trim_end()
                    .to_owned(),
                });
                return match code {
                    200..=299 => {
                        let rest = buf.split_off(head_len).freeze();
                        Ok(PrefixedStream::new(rest, io))
                    }
                    407 => Err(fail(ErrorKind::ProxyAuth, proxy_auth_required(proxy).to_owned())),
                    _ => Err(fail(
                        ErrorKind::ProxyStatus,
                        format!(
                            "the proxy refused CONNECT to {}: {} {}",
                            HostPort(host, port),
                            code,
                            // The proxy's text: capped, control characters escaped.
                            extsvc_config::escaped(response.reason.unwrap_or(""))
                        )
                        .trim_end()
                        .to_owned(),
                    )),
                };
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(fail(
                    ErrorKind::ProxyProtocol,
                    "the proxy's answer to CONNECT has too many headers".to_owned(),
                ))
            }
            Err(e) => {
                return Err(fail(
                    ErrorKind::ProxyProtocol,
                    format!("the proxy's answer to CONNECT is not HTTP ({e})"),
                ))
            }
        }
    }
}

/// The message of a `407` from `proxy`, for a refused `CONNECT` and a forwarded request alike:
/// what to change in the proxy URL.
pub(crate) fn proxy_auth_required(proxy: &ProxyUrl) -> &'static str {
    if proxy.has_credentials() {
        "proxy authentication required (407): the proxy rejected the credentials of the proxy URL"
    } else {
        "proxy authentication required (407): add user:password@ to the proxy URL"
    }
}

fn push_authority(out: &mut Vec<u8>, host: &str, port: u16) {
    use std::io::Write as _;
    let _ = write!(out, "{}", HostPort(host, port));
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

    /// Runs CONNECT against a scripted proxy that answers `answer`; returns the result
    /// and what the proxy received.
    async fn exchange(proxy: &str, answer: Vec<u8>) -> (Result<PrefixedStream<DuplexStream>, Error>, String) {
        let proxy = ProxyUrl::parse(proxy).unwrap();
        let (client, mut server) = duplex(64 * 1024);
        let script = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = server.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let _ = server.write_all(&answer).await;
            // An empty answer means: close without answering.
            let server = if answer.is_empty() { None } else { Some(server) };
            (String::from_utf8(got).unwrap(), server)
        });
        let result = connect_through(client, "target.example", 443, &proxy).await;
        let (got, _server) = script.await.unwrap();
        (result, got)
    }

    #[tokio::test]
    async fn any_2xx_opens_the_tunnel() {
        for answer in [
            "HTTP/1.1 200 Connection established\r\n\r\n",
            "HTTP/1.0 200 OK\r\nProxy-Agent: test\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 299 Whatever\r\n\r\n",
        ] {
            let (result, got) = exchange("http://proxy:3128", answer.as_bytes().to_vec()).await;
            assert!(result.is_ok(), "{answer}: {:?}", result.err());
            assert!(
                got.starts_with("CONNECT target.example:443 HTTP/1.1\r\nHost: target.example:443\r\n"),
                "{got}"
            );
            assert!(!got.contains("Proxy-Authorization"));
        }
    }

    #[tokio::test]
    async fn credentials_go_in_proxy_authorization() {
        let (result, got) = exchange("http://alice:s3cret@proxy:3128", b"HTTP/1.1 200 OK\r\n\r\n".to_vec()).await;
        assert!(result.is_ok());
        // base64("alice:s3cret")
        assert!(
            got.contains("\r\nProxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"),
            "{got}"
        );
    }

    #[tokio::test]
    async fn bytes_after_the_header_are_kept() {
        let (result, _) = exchange(
            "http://proxy:3128",
            b"HTTP/1.1 200 OK\r\n\r\nHELLO FROM TARGET".to_vec(),
        )
        .await;
        let mut stream = result.unwrap();
        assert_eq!(stream.prefix(), b"HELLO FROM TARGET");
        let mut first = [0u8; 5];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HELLO");
    }

    #[tokio::test]
    async fn status_407_asks_for_credentials_and_hides_them() {
        let answer = b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n".to_vec();
        let (result, _) = exchange("http://alice:s3cret@proxy:3128", answer.clone()).await;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ProxyAuth);
        assert!(err.is_proxy());
        let text = format!("{err} {err:?}");
        assert!(text.contains("proxy authentication required"), "{text}");
        assert!(text.contains("http://alice:***@proxy:3128"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        let (result, _) = exchange("http://proxy:3128", answer).await;
        assert!(result.unwrap_err().to_string().contains("add user:password@"));
    }

    #[tokio::test]
    async fn other_statuses_are_named() {
        let (result, _) = exchange("http://proxy:3128", b"HTTP/1.1 502 Bad Gateway\r\n\r\n".to_vec()).await;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ProxyStatus);
        assert_eq!(err.phase(), Some(Phase::ProxyConnect));
        assert!(
            err.to_string()
                .contains("refused CONNECT to target.example:443: 502 Bad Gateway"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn garbage_is_not_http() {
        let (result, _) = exchange("http://proxy:3128", b"\x16\x03\x01\x00\x05hello\r\n\r\n".to_vec()).await;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ProxyProtocol);
        assert!(err.to_string().contains("not HTTP"), "{err}");
    }

    #[tokio::test]
    async fn oversized_headers_are_refused() {
        let mut answer = b"HTTP/1.1 200 OK\r\n".to_vec();
        while answer.len() < 20 * 1024 {
            answer.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let (result, _) = exchange("http://proxy:3128", answer).await;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ProxyProtocol);
        assert!(
            err.to_string().contains("larger than 16384 bytes") || err.to_string().contains("too many headers"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_silent_close_is_reported() {
        let (result, _) = exchange("http://proxy:3128", Vec::new()).await;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ProxyConnect);
        assert!(err.to_string().contains("without answering"), "{err}");
    }
}
