//! The connector stack of a service, assembled in one place: [`ServiceClient`] (HTTP)
//! and [`StreamConnector`] (Redis and other stream clients) both build theirs with
//! [`service_connector`], and the stack is named once, as [`ServiceConnector`]
//! (reqwest's `LayeredService` pattern): the layer order is read from the type.
//!
//! [`ServiceClient`]: crate::ServiceClient
//! [`StreamConnector`]: crate::StreamConnector

use std::sync::Arc;

use extsvc_resolve::ResolvedService;
use extsvc_tls::RotatingConfig;

use super::proxy::ProxyConnector;
use super::tcp::TcpConnector;
use super::tls::TlsConnector;
use crate::io::{MaybeTlsStream, ProxyStream};

/// The connector stack of a [`ServiceClient`](crate::ServiceClient): TLS to the target over the route-aware
/// proxy connector over TCP.
pub type ServiceConnector = TlsConnector<ProxyConnector<TcpConnector>>;

/// The stream a [`ServiceConnector`] yields.
pub type ServiceStream = MaybeTlsStream<ProxyStream<tokio::net::TcpStream>>;

/// The stack of `service`, outermost first: TLS to the target with `target_tls` (for
/// `https://` and `rediss://` targets), the route-aware [`ProxyConnector`] (direct, or to
/// the proxy with `proxy_tls` for an `https://` proxy, then `CONNECT` or SOCKS5), TCP.
pub(crate) fn service_connector(
    service: Arc<ResolvedService>,
    target_tls: RotatingConfig,
    proxy_tls: RotatingConfig,
) -> ServiceConnector {
    TlsConnector::new(
        target_tls,
        ProxyConnector::new(service, Some(proxy_tls), TcpConnector::new()),
    )
}
