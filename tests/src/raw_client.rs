//! A bare client for checking the test peers themselves, independent of `extsvc-client`:
//! one HTTP/1.1 request over any stream (hyper's connection API), a hand-written CONNECT, and
//! a TLS handshake with tokio-rustls (ring provider).

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Sends one request over `stream` and reads the whole response body.
///
/// For a request through a proxy, give an absolute-form URI (`http://host:port/path`); hyper
/// then writes it as the request target.
pub async fn send_request<S>(stream: S, request: Request<String>) -> Result<Response<Bytes>, hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = request.map(|body| Full::new(Bytes::from(body)));
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// A `GET` request for `uri` with a `Host` header, and `Proxy-Authorization` when given.
pub fn get(uri: &str, proxy_authorization: Option<&str>) -> Request<String> {
    let parsed: http::Uri = uri.parse().expect("a valid URI");
    let mut builder = Request::get(uri);
    if let Some(authority) = parsed.authority() {
        builder = builder.header(http::header::HOST, authority.as_str());
    }
    if let Some(value) = proxy_authorization {
        builder = builder.header("proxy-authorization", value);
    }
    builder.body(String::new()).expect("a valid request")
}

/// The answer to a CONNECT: its status and raw head.
#[derive(Debug, Clone)]
pub struct ConnectResponse {
    /// Status code.
    pub status: u16,
    /// The whole response head as text (status line and headers).
    pub head: String,
}

/// Writes `CONNECT authority` on `stream` and reads the response head byte by byte (so no
/// tunnelled byte is consumed). Errors on EOF before the head ends or on a non-HTTP answer.
pub async fn connect_tunnel<S>(
    stream: &mut S,
    authority: &str,
    proxy_authorization: Option<&str>,
) -> io::Result<ConnectResponse>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(value) = proxy_authorization {
        request.push_str(&format!("Proxy-Authorization: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "CONNECT response head over 64 KiB",
            ));
        }
        if stream.read(&mut byte).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("proxy closed after {} bytes of the CONNECT response", head.len()),
            ));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("not an HTTP response: {head:?}")))?;
    Ok(ConnectResponse { status, head })
}

/// Which TLS versions a [`tls_client_config`] offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientVersions {
    /// TLS 1.2 and 1.3.
    #[default]
    Both,
    /// TLS 1.2 only.
    Tls12Only,
    /// TLS 1.3 only.
    Tls13Only,
}

/// A rustls client config (ring provider) trusting `roots`, optionally presenting a client
/// certificate chain and key.
pub fn tls_client_config(
    roots: RootCertStore,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    versions: ClientVersions,
) -> Arc<ClientConfig> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match versions {
        ClientVersions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
        ClientVersions::Tls12Only => &[&rustls::version::TLS12],
        ClientVersions::Tls13Only => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .expect("ring supports these versions")
        .with_root_certificates(roots);
    let config = match client {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .expect("client certificate and key match"),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// A TLS handshake over `stream` for `server_name` (`localhost` or an IP literal).
pub async fn tls_connect<S>(
    stream: S,
    config: Arc<ClientConfig>,
    server_name: &str,
) -> io::Result<tokio_rustls::client::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name =
        ServerName::try_from(server_name.to_owned()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    tokio_rustls::TlsConnector::from(config).connect(name, stream).await
}
