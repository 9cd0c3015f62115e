//! [`TcpConnector`]: DNS and TCP, the innermost connector.

use std::io;
use std::task::{Context, Poll};

use http::Uri;
use tokio::net::TcpStream;

use super::future::Connecting;
use crate::error::{Error, ErrorKind, Phase};
use crate::host::{port_of, unbracketed, HostPort, RedactedUri};
use crate::phase;

/// Opens a TCP connection to a URI's host and port (the scheme's default port when
/// none is given), with `TCP_NODELAY`. Host names are resolved with the system
/// resolver; IP literals (IPv6 in brackets) are used as they are.
///
/// Errors are [`ErrorKind::Connect`] in [`Phase::Dns`] or [`Phase::Connect`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector {
    _private: (),
}

impl TcpConnector {
    /// A connector.
    pub fn new() -> TcpConnector {
        TcpConnector { _private: () }
    }
}

impl tower::Service<Uri> for TcpConnector {
    type Response = TcpStream;
    type Error = Error;
    type Future = Connecting<TcpStream>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Connecting<TcpStream> {
        Connecting::new(async move { connect_uri(&dst).await })
    }
}

async fn connect_uri(dst: &Uri) -> Result<TcpStream, Error> {
    let host = dst.host().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!("no host in URI \"{}\"", RedactedUri(dst)),
        )
    })?;
    let port = port_of(dst).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!("no port in URI \"{}\"", RedactedUri(dst)),
        )
    })?;
    connect(unbracketed(host), port).await
}

/// Resolves `host` (unbracketed) and connects to the first address that answers.
pub(crate) async fn connect(host: &str, port: u16) -> Result<TcpStream, Error> {
    phase::enter(Phase::Dns);
    let addrs = tokio::net::lookup_host((host, port)).await.map_err(|e| {
        Error::new(ErrorKind::Connect, format!("cannot resolve {host}"))
            .with_phase(Phase::Dns)
            .with_source(e)
    })?;
    phase::enter(Phase::Connect);
    let mut last: Option<io::Error> = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    let cause = last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no addresses"));
    let what = match cause.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused by",
        io::ErrorKind::ConnectionReset => "connection reset by",
        io::ErrorKind::TimedOut => "connection timed out to",
        _ => "cannot connect to",
    };
    Err(
        Error::new(ErrorKind::Connect, format!("{what} {}", HostPort(host, port)))
            .with_phase(Phase::Connect)
            .with_source(cause),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn refused_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let uri: Uri = format!("http://127.0.0.1:{port}/").parse().unwrap();
        let err = TcpConnector::new().oneshot(uri).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connect);
        assert_eq!(err.phase(), Some(Phase::Connect));
        assert!(err.to_string().contains("connection refused by 127.0.0.1"), "{err}");
    }
}
