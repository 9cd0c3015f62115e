//! [`TlsConnector`]: TLS to the target over whatever the inner connector yields.

use std::task::{Context, Poll};

use extsvc_tls::RotatingConfig;
use http::Uri;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};

use super::future::Connecting;
use crate::error::{BoxError, Error, ErrorKind, Phase};
use crate::host::{unbracketed, UriScheme};
use crate::io::MaybeTlsStream;
use crate::phase;
use crate::trace::{self, TlsLeg};

/// A connector that does TLS to the target for `https://` and `rediss://` URIs (SNI =
/// the URI's host) over the stream of its inner connector, and passes `http://` and
/// `redis://` through as plain.
///
/// Each new connection takes the configuration's [`current`](RotatingConfig::current)
/// generation, so a rotated certificate or CA reaches the next connection, and sessions
/// resume only within the generation they were made in. The configuration is used as
/// given: for HTTP clients, [`http1_tls_config`] adds ALPN `http/1.1`.
#[derive(Clone)]
pub struct TlsConnector<C> {
    inner: C,
    config: RotatingConfig,
}

impl<C: std::fmt::Debug> std::fmt::Debug for TlsConnector<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// `config` offering ALPN `http/1.1` (the client speaks HTTP/1.1 only): each of its
/// generations is copied with the protocol set once, on its first connection.
/// Called once per client, never per request.
pub fn http1_tls_config(config: &RotatingConfig) -> RotatingConfig {
    config.with_alpn(vec![b"http/1.1".to_vec()])
}

impl<C> TlsConnector<C> {
    /// TLS with `config` (a [`RotatingConfig`], or a fixed `Arc<rustls::ClientConfig>`)
    /// over `inner`'s streams.
    pub fn new(config: impl Into<RotatingConfig>, inner: C) -> TlsConnector<C> {
        TlsConnector {
            inner,
            config: config.into(),
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

/// The TLS server name of a URI host (IPv6 without brackets).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let bare = unbracketed(host);
    ServerName::try_from(bare.to_owned()).map_err(|e| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!("\"{bare}\" is not a valid TLS server name"),
        )
        .with_source(e)
    })
}

/// The TLS handshake with the target, with the current generation of `config`.
pub(crate) async fn handshake<IO>(
    config: &RotatingConfig,
    host: &str,
    io: IO,
) -> Result<tokio_rustls::client::TlsStream<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let name = server_name(host)?;
    phase::enter(Phase::Tls);
    let (current, presented) = trace::observed_config(config.current());
    let tls = tokio_rustls::TlsConnector::from(current);
    let stream = tls.connect(name, io).await.map_err(|e| {
        let message = match rustls_error(&e) {
            Some(rustls::Error::InvalidCertificate(_)) => "the target's certificate was rejected",
            Some(rustls::Error::AlertReceived(_)) => "the target refused the TLS handshake",
            _ => "TLS handshake with the target failed",
        };
        Error::new(ErrorKind::Tls, message)
            .with_phase(Phase::Tls)
            .with_source(e)
    })?;
    trace::note(|| trace::tls_handshake(TlsLeg::Target, stream.get_ref().1, trace::presented(presented.as_ref())));
    Ok(stream)
}

/// The rustls error inside an I/O error from tokio-rustls, if that is what it is.
pub(crate) fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The alerts a server sends about the client's certificate (RFC 8446 section 6.2).
pub(crate) fn refuses_client_certificate(alert: rustls::AlertDescription) -> bool {
    use rustls::AlertDescription as A;
    matches!(
        alert,
        A::CertificateRequired
            | A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied
            | A::HandshakeFailure
    )
}

impl<C> tower::Service<Uri> for TlsConnector<C>
where
    C: tower::Service<Uri>,
    C::Response: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = MaybeTlsStream<C::Response>;
    type Error = Error;
    type Future = Connecting<MaybeTlsStream<C::Response>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| Error::from_inner(e.into(), ErrorKind::Connect, "connector not ready"))
    }

    fn call(&mut self, dst: Uri) -> Connecting<MaybeTlsStream<C::Response>> {
        let connecting = self.inner.call(dst.clone());
        self.over(dst, connecting)
    }
}

impl<C> TlsConnector<C> {
    /// TLS to `dst` (when its scheme wants it) over the stream `connecting` yields: the
    /// inner connector called with `dst`, by [`tower::Service::call`] or by a caller
    /// that decided the route before (`connect::stack`).
    pub(super) fn over<IO, E>(
        &self,
        dst: Uri,
        connecting: impl std::future::Future<Output = Result<IO, E>> + Send + 'static,
    ) -> Connecting<MaybeTlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        E: Into<BoxError>,
    {
        let use_tls = UriScheme::of(&dst).is_some_and(UriScheme::is_tls);
        let config = use_tls.then(|| self.config.clone());
        Connecting::new(async move {
            let io = connecting
                .await
                .map_err(|e| Error::from_inner(e.into(), ErrorKind::Connect, "cannot connect"))?;
            let Some(config) = config else {
                return Ok(MaybeTlsStream::Plain(io));
            };
            let host = dst.host().unwrap_or_default();
            let stream = handshake(&config, host, io).await?;
            Ok(MaybeTlsStream::Tls(Box::new(stream)))
        })
    }
}
