//! [`Socks5`]: a connection through a SOCKS5 proxy (RFC 1928), with RFC 1929
//! username/password authentication when the proxy URL has credentials.
//!
//! The handshake is tokio-socks' (the crate reqwest uses); this module decides what is
//! sent (`socks5://`: the address the client resolved; `socks5h://`: the name) and turns
//! each of tokio-socks' errors into an [`Error`] with the right kind: refused
//! credentials are [`ErrorKind::ProxyAuth`] like a `407`, reply codes are
//! [`ErrorKind::ProxyStatus`] named by their meaning, an answer that is not SOCKS5 is
//! [`ErrorKind::ProxyProtocol`]. All of it runs in [`Phase::SocksHandshake`] (target
//! name resolution for `socks5://` in [`Phase::Dns`]), under the caller's deadline.

use crate::trace::{self, TraceEvent};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use extsvc_config::{ProxyScheme, ProxyUrl};
use http::Uri;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_socks::tcp::Socks5Stream;
use tokio_socks::TargetAddr;

use super::future::Connecting;
use super::tunnel::proxy_uri;
use crate::error::{BoxError, Error, ErrorKind, Phase};
use crate::host::{unbracketed, UriTarget};
use crate::phase;

/// A connector that asks `inner` for a stream to a SOCKS5 proxy, then has the proxy
/// connect to the destination URI's host and port and yields the stream, which then
/// carries the target's bytes unchanged (TLS to an `https://` target goes inside it:
/// wrap this in a [`TlsConnector`](crate::connect::TlsConnector)).
///
/// For `socks5://` a host name is resolved here and the proxy is sent the first address;
/// for `socks5h://` the proxy is sent the name. IP literals are sent as addresses.
/// The inner connector is called with `http://proxy-host:proxy-port` (plain TCP).
#[derive(Debug, Clone)]
pub struct Socks5<C> {
    inner: C,
    proxy: Arc<ProxyUrl>,
    proxy_dst: Uri,
}

impl<C> Socks5<C> {
    /// A connector through `proxy` (a `socks5://` or `socks5h://` URL; any other scheme
    /// fails each call), connecting to it with `inner`.
    pub fn new(proxy: Arc<ProxyUrl>, inner: C) -> Socks5<C> {
        let proxy_dst = proxy_uri(&proxy);
        Socks5 {
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

impl<C> tower::Service<Uri> for Socks5<C>
where
    C: tower::Service<Uri>,
    C::Response: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = Error;
    type Future = Connecting<C::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx).map_err(|e| {
            Error::from_inner(e.into(), ErrorKind::ProxyConnect, "proxy connector not ready").with_proxy(&*self.proxy)
        })
    }

    fn call(&mut self, dst: Uri) -> Connecting<C::Response> {
        let proxy = self.proxy.clone();
        let connecting = self.inner.call(self.proxy_dst.clone());
        Connecting::new(async move {
            let UriTarget { host, port, .. } = UriTarget::of(&dst)?;
            if !proxy.scheme().is_socks() {
                return Err(
                    Error::new(ErrorKind::InvalidRequest, "not a socks5:// or socks5h:// proxy URL")
                        .with_proxy(&*proxy),
                );
            }
            let target = socks_target(host, port, &proxy).await?;
            let io = connecting.await.map_err(|e| {
                Error::from_inner(e.into(), ErrorKind::ProxyConnect, "cannot connect to the proxy")
                    .on_proxy_hop()
                    .with_proxy(&*proxy)
            })?;
            socks_handshake(io, target, &proxy).await
        })
    }
}

/// What the proxy is asked to connect to: `host` (as in a URI, IPv6 in brackets) as an
/// address when it is an IP literal or the proxy is `socks5://` (resolved here, in
/// [`Phase::Dns`]), else as a name. Call it before connecting to the proxy, so no proxy
/// connection waits on DNS.
pub(crate) async fn socks_target(host: &str, port: u16, proxy: &ProxyUrl) -> Result<TargetAddr<'static>, Error> {
    let host = unbracketed(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(TargetAddr::Ip(SocketAddr::new(ip, port)));
    }
    if proxy.scheme() == ProxyScheme::Socks5 {
        phase::enter(Phase::Dns);
        let resolved = tokio::net::lookup_host((host, port)).await.map_err(|e| {
            Error::new(
                ErrorKind::Connect,
                format!("cannot resolve {host} (socks5:// resolves target names here; socks5h:// lets the proxy resolve them)"),
            )
            .with_phase(Phase::Dns)
            .with_source(e)
        })?;
        return match resolved.into_iter().next() {
            Some(addr) => Ok(TargetAddr::Ip(addr)),
            None => Err(Error::new(ErrorKind::Connect, format!("no address for {host}")).with_phase(Phase::Dns)),
        };
    }
    // RFC 1928 carries a name in one length byte.
    if host.len() > 255 {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            "the host name is longer than the 255 bytes SOCKS5 can carry",
        ));
    }
    Ok(TargetAddr::Domain(host.to_owned().into(), port))
}

/// The SOCKS5 handshake on `io` (a stream to `proxy`): greeting, RFC 1929
/// authentication when the URL has credentials, then CONNECT to `target`. The stream
/// that comes back carries the target's bytes.
pub(crate) async fn socks_handshake<IO>(io: IO, target: TargetAddr<'static>, proxy: &ProxyUrl) -> Result<IO, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    phase::enter(Phase::SocksHandshake);
    let shown_target = target.to_string();
    let result = match proxy.socks_credentials() {
        Some((user, password)) => Socks5Stream::connect_with_password_and_socket(io, target, user, password).await,
        None => Socks5Stream::connect_with_socket(io, target).await,
    };
    result
        .map(|stream| {
            trace::note(|| TraceEvent::SocksReply {
                reply: format!("succeeded (reply 0), bound {}", stream.target_addr()),
            });
            stream.into_inner()
        })
        .map_err(|e| handshake_error(e, &shown_target, proxy))
}

/// What each tokio-socks error means for an operator, and its kind.
fn handshake_error(e: tokio_socks::Error, target: &str, proxy: &ProxyUrl) -> Error {
    use tokio_socks::Error as E;
    let refused = |meaning: &str, code: u8| {
        (
            ErrorKind::ProxyStatus,
            format!("the SOCKS5 proxy refused to connect to {target}: {meaning} (reply {code})"),
        )
    };
    let (kind, message) = match &e {
        E::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => (
            ErrorKind::ProxyConnect,
            "the proxy closed the connection in the middle of the SOCKS5 handshake".to_owned(),
        ),
        E::Io(_) => (
            ErrorKind::ProxyConnect,
            "lost the connection to the proxy during the SOCKS5 handshake".to_owned(),
        ),
        E::InvalidResponseVersion => (
            ErrorKind::ProxyProtocol,
            "the proxy's answer is not SOCKS5 (an HTTP proxy? then use http:// in the proxy URL)".to_owned(),
        ),
        E::InvalidReservedByte | E::UnknownAddressType => (
            ErrorKind::ProxyProtocol,
            "the proxy's reply to the SOCKS5 connect request is malformed".to_owned(),
        ),
        // tokio-socks reports an unknown reply code the same way as a method it did not offer.
        E::UnknownAuthMethod => (
            ErrorKind::ProxyProtocol,
            "the SOCKS5 proxy answered with an authentication method it was not offered or an unknown reply code"
                .to_owned(),
        ),
        E::NoAcceptableAuthMethods | E::AuthorizationRequired if !proxy.has_credentials() => (
            ErrorKind::ProxyAuth,
            "the SOCKS5 proxy requires authentication: add user:password@ to the proxy URL".to_owned(),
        ),
        E::NoAcceptableAuthMethods | E::AuthorizationRequired => (
            ErrorKind::ProxyAuth,
            "the SOCKS5 proxy accepts neither no authentication nor username/password (RFC 1929)".to_owned(),
        ),
        E::PasswordAuthFailure(_) => (
            ErrorKind::ProxyAuth,
            "the SOCKS5 proxy rejected the credentials of the proxy URL".to_owned(),
        ),
        E::GeneralSocksServerFailure => refused("general SOCKS server failure", 1),
        E::ConnectionNotAllowedByRuleset => refused("connection not allowed by ruleset", 2),
        E::NetworkUnreachable => refused("network unreachable", 3),
        E::HostUnreachable => refused("host unreachable", 4),
        E::ConnectionRefused => refused("connection refused", 5),
        E::TtlExpired => refused("TTL expired", 6),
        E::CommandNotSupported => refused("command not supported", 7),
        E::AddressTypeNotSupported => refused("address type not supported", 8),
        E::InvalidTargetAddress(_) | E::InvalidAuthValues(_) => (
            ErrorKind::InvalidRequest,
            "the target or the credentials cannot be sent over SOCKS5".to_owned(),
        ),
        _ => (ErrorKind::ProxyProtocol, "the SOCKS5 handshake failed".to_owned()),
    };
    let error = Error::new(kind, message)
        .with_phase(Phase::SocksHandshake)
        .with_proxy(proxy);
    match e {
        // The cause of a lost connection is worth showing; tokio-socks' own texts repeat
        // the message (and none of them carries a credential).
        E::Io(io) => error.with_source(io),
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

    /// What a scripted proxy answers at each step; an empty answer closes the connection.
    struct Script {
        method: Vec<u8>,
        auth: Vec<u8>,
        reply: Vec<u8>,
    }

    const OK_REPLY: &[u8] = &[5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];

    fn script(method: &[u8], auth: &[u8], reply: &[u8]) -> Script {
        Script {
            method: method.to_vec(),
            auth: auth.to_vec(),
            reply: reply.to_vec(),
        }
    }

    /// Plays `script` as the proxy; returns what it received: the offered methods, the
    /// credentials (if sent) and the connect request's address part.
    async fn play(mut server: DuplexStream, script: Script) -> (Vec<u8>, Option<(String, String)>, Vec<u8>) {
        let mut head = [0u8; 2];
        server.read_exact(&mut head).await.unwrap();
        let mut methods = vec![0u8; usize::from(head[1])];
        server.read_exact(&mut methods).await.unwrap();
        if script.method.is_empty() || server.write_all(&script.method).await.is_err() {
            return (methods, None, Vec::new());
        }
        let mut credentials = None;
        if script.method == [5, 2] {
            let mut b = [0u8; 2];
            server.read_exact(&mut b).await.unwrap();
            let mut user = vec![0u8; usize::from(b[1])];
            server.read_exact(&mut user).await.unwrap();
            server.read_exact(&mut b[..1]).await.unwrap();
            let mut pass = vec![0u8; usize::from(b[0])];
            server.read_exact(&mut pass).await.unwrap();
            credentials = Some((String::from_utf8(user).unwrap(), String::from_utf8(pass).unwrap()));
            if script.auth.is_empty() || server.write_all(&script.auth).await.is_err() {
                return (methods, credentials, Vec::new());
            }
        }
        let mut request = vec![0u8; 4];
        if server.read_exact(&mut request).await.is_err() {
            return (methods, credentials, Vec::new());
        }
        let rest = match request[3] {
            1 => 6,
            4 => 18,
            _ => {
                let mut len = [0u8; 1];
                server.read_exact(&mut len).await.unwrap();
                request.push(len[0]);
                usize::from(len[0]) + 2
            }
        };
        let mut address = vec![0u8; rest];
        server.read_exact(&mut address).await.unwrap();
        request.extend_from_slice(&address);
        let _ = server.write_all(&script.reply).await;
        (methods, credentials, request)
    }

    async fn run(
        proxy: &str,
        host: &str,
        script: Script,
    ) -> (
        Result<DuplexStream, Error>,
        (Vec<u8>, Option<(String, String)>, Vec<u8>),
    ) {
        let proxy = ProxyUrl::parse(proxy).unwrap();
        let (client, server) = duplex(4096);
        let played = tokio::spawn(play(server, script));
        let result = match socks_target(host, 443, &proxy).await {
            Ok(target) => socks_handshake(client, target, &proxy).await,
            Err(e) => Err(e),
        };
        (result, played.await.unwrap())
    }

    #[tokio::test]
    async fn socks5h_sends_the_name_and_socks5_an_address() {
        let (result, (methods, credentials, request)) =
            run("socks5h://p:1080", "target.example", script(&[5, 0], &[], OK_REPLY)).await;
        assert!(result.is_ok(), "{:?}", result.err());
        assert_eq!(methods, [0], "only 'no authentication' is offered without credentials");
        assert!(credentials.is_none());
        let mut expected = vec![5, 1, 0, 3, 14];
        expected.extend_from_slice(b"target.example");
        expected.extend_from_slice(&443u16.to_be_bytes());
        assert_eq!(request, expected);

        let (result, (_, _, request)) = run("socks5://p:1080", "localhost", script(&[5, 0], &[], OK_REPLY)).await;
        assert!(result.is_ok(), "{:?}", result.err());
        assert!(matches!(request[3], 1 | 4), "an address, not a name: {request:?}");

        let (_, (_, _, request)) = run("socks5h://p:1080", "[::1]", script(&[5, 0], &[], OK_REPLY)).await;
        assert_eq!(request[3], 4, "IP literals go as addresses even with socks5h");
    }

    #[tokio::test]
    async fn credentials_are_sent_decoded_and_a_refusal_is_proxy_auth() {
        let (result, (methods, credentials, _)) = run(
            "socks5://gw%40corp:p%3Ass@p",
            "10.0.0.1",
            script(&[5, 2], &[1, 0], OK_REPLY),
        )
        .await;
        assert!(result.is_ok(), "{:?}", result.err());
        assert!(methods.contains(&2));
        assert_eq!(credentials, Some(("gw@corp".to_owned(), "p:ss".to_owned())));

        let (result, _) = run("socks5://gw:s3cret@p", "10.0.0.1", script(&[5, 2], &[1, 1], &[])).await;
        let err = result.unwrap_err();
        assert_eq!(
            (err.kind(), err.phase()),
            (ErrorKind::ProxyAuth, Some(Phase::SocksHandshake))
        );
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("rejected the credentials") && text.contains("socks5://gw:***@p:1080"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");

        let (result, _) = run("socks5://p", "10.0.0.1", script(&[5, 0xff], &[], &[])).await;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ProxyAuth);
        assert!(err.to_string().contains("add user:password@"), "{err}");
    }

    #[tokio::test]
    async fn each_reply_code_is_named() {
        for (code, meaning) in [
            (1, "general SOCKS server failure"),
            (2, "connection not allowed by ruleset"),
            (3, "network unreachable"),
            (4, "host unreachable"),
            (5, "connection refused"),
            (6, "TTL expired"),
            (7, "command not supported"),
            (8, "address type not supported"),
        ] {
            let reply = [5, code, 0, 1, 0, 0, 0, 0, 0, 0];
            let (result, _) = run("socks5h://p", "t.example", script(&[5, 0], &[], &reply)).await;
            let err = result.unwrap_err();
            assert_eq!(
                (err.kind(), err.phase()),
                (ErrorKind::ProxyStatus, Some(Phase::SocksHandshake))
            );
            assert!(
                err.to_string().contains(&format!(
                    "refused to connect to t.example:443: {meaning} (reply {code})"
                )),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn an_answer_that_is_not_socks5_and_a_close_are_told_apart() {
        let (result, _) = run(
            "socks5h://p",
            "t.example",
            script(b"HTTP/1.1 400 Bad Request\r\n\r\n", &[], &[]),
        )
        .await;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ProxyProtocol);
        assert!(err.to_string().contains("not SOCKS5"), "{err}");

        let (result, _) = run("socks5h://p", "t.example", script(&[5, 0], &[], &[5, 0])).await;
        let err = result.unwrap_err();
        assert_eq!(
            (err.kind(), err.phase()),
            (ErrorKind::ProxyConnect, Some(Phase::SocksHandshake))
        );
        assert!(err.to_string().contains("closed the connection in the middle"), "{err}");
    }

    #[tokio::test]
    async fn a_name_socks5_cannot_carry_is_refused_before_connecting() {
        let proxy = ProxyUrl::parse("socks5h://p").unwrap();
        let err = socks_target(&"a".repeat(256), 80, &proxy).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }
}
