//! [`ProxyConnector`]: the route-aware connector (direct, forward proxy, tunnel or SOCKS5).

use crate::trace::{self, TlsLeg};
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use extsvc_config::{ProxyScheme, ProxyUrl};
use extsvc_resolve::ResolvedService;
use extsvc_tls::RotatingConfig;
use http::Uri;
use tokio::io::{AsyncRead, AsyncWrite};

use super::future::Connecting;
use super::socks::{socks_handshake, socks_target};
use super::tls::{rustls_error, server_name};
use super::tunnel::{connect_through, proxy_uri};
use crate::error::{BoxError, Error, ErrorKind, Phase};
use crate::host::{UriScheme, UriTarget};
use crate::io::{Hop, MaybeTlsStream, PrefixedStream, ProxyStream};
use crate::phase;
use crate::route::RouteKey;

/// Connects to a target URI the way the service's proxy settings say:
///
/// - **direct** (no proxy, or bypassed): `inner` connects to the target;
/// - **proxy** ([`ResolvedService::route`] picks `http_proxy` for `http://`/`redis://`
///   and `https_proxy` for `https://`/`rediss://`): `inner` connects to the proxy;
///   for an `https://` proxy, TLS to the proxy (the service's proxy TLS config, SNI =
///   the proxy host); then
///   - `https://` and non-HTTP targets: a `CONNECT` tunnel ([`Hop::Tunnel`]);
///   - `http://` targets: the connection to the proxy itself, for requests in absolute
///     form ([`Hop::Forward`]);
///   - for a `socks5://`/`socks5h://` proxy, every target: the SOCKS5 handshake
///     ([`Socks5`](crate::connect::Socks5)), then the target's bytes as in a tunnel
///     ([`Hop::Tunnel`]: `http://` requests in origin form, as if direct). For
///     `socks5://` the target name is resolved before connecting to the proxy.
///
/// TLS to the *target* is not done here: wrap this in a
/// [`TlsConnector`](crate::connect::TlsConnector).
#[derive(Clone)]
pub struct ProxyConnector<C> {
    inner: C,
    service: Arc<ResolvedService>,
    proxy_tls: Option<RotatingConfig>,
}

impl<C: fmt::Debug> fmt::Debug for ProxyConnector<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The proxy URLs' Debug is redacted.
        f.debug_struct("ProxyConnector")
            .field("service", &self.service.kind)
            .field("http_proxy", &self.service.proxy.http_proxy.value)
            .field("https_proxy", &self.service.proxy.https_proxy.value)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<C> ProxyConnector<C> {
    /// Routes per `service`; `proxy_tls` verifies `https://` proxies (required only when
    /// one is configured); `inner` opens TCP connections (e.g. a
    /// [`TcpConnector`](crate::connect::TcpConnector)).
    ///
    /// `proxy_tls` is the *proxy's* configuration (`ServiceTls::proxy` from
    /// `extsvc-tls`, which has no client certificate), never the target's: a target
    /// configuration would offer the service's client certificate to the proxy. Each TLS
    /// connection to a proxy takes its [`current`](RotatingConfig::current) generation
    /// (a rotated CA reaches the next one); a fixed `Arc<rustls::ClientConfig>` converts
    /// with `.into()`.
    pub fn new(service: Arc<ResolvedService>, proxy_tls: Option<RotatingConfig>, inner: C) -> Self {
        ProxyConnector {
            inner,
            service,
            proxy_tls,
        }
    }

    /// Routes per `service`, with the proxy leg's TLS configuration of `tls`
    /// (`tls.proxy`): the way to build one that cannot mix up the two configurations.
    pub fn for_service(service: Arc<ResolvedService>, tls: &extsvc_tls::ServiceTls, inner: C) -> Self {
        ProxyConnector::new(service, Some(tls.proxy.clone()), inner)
    }

    /// The service whose routes this follows.
    pub fn service(&self) -> &Arc<ResolvedService> {
        &self.service
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

impl<C> tower::Service<Uri> for ProxyConnector<C>
where
    C: tower::Service<Uri>,
    C::Response: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = ProxyStream<C::Response>;
    type Error = Error;
    type Future = Connecting<ProxyStream<C::Response>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| Error::from_inner(e.into(), ErrorKind::Connect, "connector not ready"))
    }

    fn call(&mut self, dst: Uri) -> Connecting<ProxyStream<C::Response>> {
        // Called as a plain `Service<Uri>` (hyper-util's legacy client): the route is
        // decided here, once. The service's own clients decide it before, for the pool
        // key too, and call `call_routed`.
        let route = match UriTarget::of(&dst) {
            Ok(target) => RouteKey::decide(&self.service, target.target_scheme(), target.host, target.port).0,
            Err(err) => return Connecting::new(async move { Err(err) }),
        };
        self.call_routed(dst, route)
    }
}

impl<C> ProxyConnector<C>
where
    C: tower::Service<Uri>,
    C::Response: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    /// Connects to `dst` by `route`, the decision already made for this target
    /// ([`RouteKey::decide`]): it is followed, not made again.
    pub(crate) fn call_routed(&mut self, dst: Uri, route: RouteKey) -> Connecting<ProxyStream<C::Response>> {
        let target = match UriTarget::of(&dst) {
            Ok(target) => target,
            Err(err) => return Connecting::new(async move { Err(err) }),
        };
        let (port, forward) = (target.port, target.scheme == Some(UriScheme::Http));
        match route {
            RouteKey::Direct => {
                let connecting = self.inner.call(dst);
                Connecting::new(async move {
                    let io = connecting
                        .await
                        .map_err(|e| Error::from_inner(e.into(), ErrorKind::Connect, "cannot connect to the target"))?;
                    Ok(ProxyStream::new(
                        PrefixedStream::new(Bytes::new(), MaybeTlsStream::Plain(io)),
                        Hop::Direct,
                    ))
                })
            }
            RouteKey::Proxy(_) => {
                let Some(proxy) = route.proxy(&self.service) else {
                    return Connecting::new(async { Err(no_proxy_for_scheme()) });
                };
                let connecting = self.inner.call(proxy_uri(proxy));
                let service = self.service.clone();
                let proxy_tls = self.proxy_tls.clone();
                Connecting::new(async move {
                    let host = dst.host().unwrap_or_default();
                    // Borrowed again from the owned service, for the future.
                    let Some(proxy) = route.proxy(&service) else {
                        return Err(no_proxy_for_scheme());
                    };
                    let socks_target = match proxy.scheme() {
                        ProxyScheme::Socks5 | ProxyScheme::Socks5h => Some(socks_target(host, port, proxy).await?),
                        ProxyScheme::Http | ProxyScheme::Https => None,
                    };
                    let io = connecting.await.map_err(|e| {
                        Error::from_inner(e.into(), ErrorKind::ProxyConnect, "cannot connect to the proxy")
                            .on_proxy_hop()
                            .with_proxy(proxy)
                    })?;
                    if let Some(target) = socks_target {
                        let io = socks_handshake(io, target, proxy).await?;
                        return Ok(ProxyStream::new(
                            PrefixedStream::new(Bytes::new(), MaybeTlsStream::Plain(io)),
                            Hop::Tunnel,
                        ));
                    }
                    let io = match proxy.scheme() {
                        ProxyScheme::Https => {
                            MaybeTlsStream::Tls(Box::new(proxy_handshake(proxy_tls.as_ref(), proxy, io).await?))
                        }
                        ProxyScheme::Http | ProxyScheme::Socks5 | ProxyScheme::Socks5h => MaybeTlsStream::Plain(io),
                    };
                    if forward {
                        return Ok(ProxyStream::new(PrefixedStream::new(Bytes::new(), io), Hop::Forward));
                    }
                    let tunnel = connect_through(io, host, port, proxy).await?;
                    Ok(ProxyStream::new(tunnel, Hop::Tunnel))
                })
            }
        }
    }
}

/// A route through a proxy the service does not have for the target's scheme (a
/// [`RouteKey`] of another service).
fn no_proxy_for_scheme() -> Error {
    Error::new(ErrorKind::InvalidRequest, "no proxy for the target's scheme")
}

/// TLS to an `https://` proxy with the current generation of `tls`, SNI = the proxy host.
pub(crate) async fn proxy_handshake<IO>(
    tls: Option<&RotatingConfig>,
    proxy: &ProxyUrl,
    io: IO,
) -> Result<tokio_rustls::client::TlsStream<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    phase::enter(Phase::ProxyTls);
    let fail = |message: &str| {
        Error::new(ErrorKind::ProxyTls, message)
            .with_phase(Phase::ProxyTls)
            .with_proxy(proxy)
    };
    let Some(tls) = tls else {
        return Err(fail("no TLS configuration for the https:// proxy"));
    };
    let name = server_name(proxy.host()).map_err(|e| fail("invalid proxy host name for TLS").with_source(e))?;
    let (current, presented) = trace::observed_config(tls.current());
    let tls = tokio_rustls::TlsConnector::from(current);
    let stream = tls.connect(name, io).await.map_err(|e| {
        let message = match rustls_error(&e) {
            Some(rustls::Error::InvalidMessage(_)) => {
                "TLS handshake with the proxy failed: it does not speak TLS (a plain HTTP proxy? then use http:// in the proxy URL)"
            }
            Some(rustls::Error::InvalidCertificate(_)) => "the proxy's certificate was rejected",
            _ => "TLS handshake with the proxy failed",
        };
        fail(message).with_source(e)
    })?;
    trace::note(|| trace::tls_handshake(TlsLeg::Proxy, stream.get_ref().1, trace::presented(presented.as_ref())));
    Ok(stream)
}
