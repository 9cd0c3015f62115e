//! [`StreamConnector`]: proxy- and TLS-aware byte streams for non-HTTP clients (Redis).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use extsvc_resolve::ResolvedService;
use extsvc_tls::RotatingConfig;
use http::Uri;

use crate::connect::{service_connector, Connecting, ServiceConnector, ServiceStream};
use crate::error::{Error, ErrorKind, Phase};
use crate::host::{RedactedUri, UriScheme, UriTarget};
use crate::phase;
use crate::route::RouteKey;

/// Connects `redis://host:port` (plain) and `rediss://host:port` (TLS to the target
/// with the service's target configuration: client certificate, roots, versions) by
/// the service's proxy rules: `redis://` through `http_proxy`, `rediss://` through
/// `https_proxy`, with `CONNECT` (HTTP proxies) or the SOCKS5 handshake (`socks5://`,
/// `socks5h://`); the bypass list applies as for HTTP. TLS to a `rediss://` target runs
/// inside the tunnel, so a proxy never sees the client certificate.
///
/// The service's timeout bounds the whole connect (DNS, TCP, proxy TLS, CONNECT or
/// SOCKS5 handshake, TLS); errors name the phase, the target and the proxy (redacted). The stream is
/// `AsyncRead + AsyncWrite + Send + Unpin`.
#[derive(Clone)]
pub struct StreamConnector {
    connector: ServiceConnector,
    service: Arc<ResolvedService>,
    timeout: Duration,
}

impl fmt::Debug for StreamConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamConnector")
            .field("service", &self.service.kind)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl StreamConnector {
    /// For `service`, with `target_tls` (used as given: no ALPN) and `proxy_tls`
    /// (`ServiceTls::target` and `ServiceTls::proxy`, or fixed `Arc<rustls::ClientConfig>`s);
    /// each new connection takes their current generation.
    pub fn new(
        service: Arc<ResolvedService>,
        target_tls: impl Into<RotatingConfig>,
        proxy_tls: impl Into<RotatingConfig>,
    ) -> StreamConnector {
        let timeout = service.timeout;
        let connector = service_connector(service.clone(), target_tls.into(), proxy_tls.into());
        StreamConnector {
            connector,
            service,
            timeout,
        }
    }

    /// The same connector with another deadline for the whole connect.
    pub fn with_timeout(mut self, timeout: Duration) -> StreamConnector {
        self.timeout = timeout;
        self
    }

    /// The deadline for the whole connect.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Connects to `dst` (`redis://` or `rediss://`).
    pub async fn connect(&self, dst: Uri) -> Result<ServiceStream, Error> {
        let target = UriTarget::of(&dst).ok();
        let Some(target @ UriTarget { host, port, .. }) = target.filter(|t| t.scheme.is_some_and(UriScheme::is_redis))
        else {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "\"{}\" is not a redis://host:port or rediss://host:port URI",
                    RedactedUri(&dst)
                ),
            ));
        };
        // Decided once, here: the connector follows it (and errors name its proxy).
        let (route, proxy) = RouteKey::decide(&self.service, target.target_scheme(), host, port);
        let deadline = crate::deadline::deadline_after(self.timeout);
        let connecting = self.connector.clone().connect_routed(dst.clone(), route);
        phase::tracked(Phase::Dns, deadline, self.timeout, connecting)
            .await
            .map_err(|mut err| {
                err = err.with_target(&format_args!(
                    "{}://{}:{}",
                    dst.scheme_str().unwrap_or("redis"),
                    host,
                    port
                ));
                if let Some(proxy) = proxy {
                    err = err.with_proxy(proxy);
                }
                err
            })
    }
}

impl tower::Service<Uri> for StreamConnector {
    type Response = ServiceStream;
    type Error = Error;
    type Future = Connecting<ServiceStream>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Connecting<ServiceStream> {
        let this = self.clone();
        Connecting::new(async move { this.connect(dst).await })
    }
}
