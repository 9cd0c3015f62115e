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
use http::Uri;

use super::proxy::ProxyConnector;
use super::tcp::TcpConnector;
use super::tls::TlsConnector;
use crate::io::{MaybeTlsStream, ProxyStream};
use crate::route::RouteKey;

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

impl ServiceConnector {
    /// Connects to `dst` by `route`, the decision its caller made once for this target
    /// (and built its pool key from): the proxy connector follows it instead of deciding
    /// again. As lazy as `tower::ServiceExt::oneshot`: nothing runs until polled.
    pub(crate) async fn connect_routed(mut self, dst: Uri, route: RouteKey) -> Result<ServiceStream, crate::Error> {
        // `TcpConnector` is always ready: no `poll_ready` to wait for.
        let connecting = self.get_mut().call_routed(dst.clone(), route);
        self.over(dst, connecting).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{ConnectionInfo, Hop};
    use extsvc_config::{EnvSnapshot, ServiceKind};

    /// The decision the caller carries down is the one followed: told `Direct`, the stack
    /// of a service that proxies everything (to a closed port) connects to the target;
    /// told `Proxy`, it goes to that proxy.
    #[tokio::test]
    async fn the_stack_follows_the_route_it_is_given() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = listener.local_addr().unwrap();
        tokio::spawn(async move { while listener.accept().await.is_ok() {} });
        let json = r#"{"external_services":{"health":{"proxy":{"enabled":true,"http_proxy":"http://127.0.0.1:1"}}}}"#;
        let env = EnvSnapshot::empty();
        let loaded = extsvc_config::load_str(json, "tyk.conf", &env, &Default::default()).unwrap();
        let service = extsvc_resolve::resolve(&loaded.config, &env)
            .service(ServiceKind::Health)
            .clone();
        let tls: RotatingConfig = crate::client::tests::plain_tls().into();
        let stack = service_connector(Arc::new(service), tls.clone(), tls);
        let dst: Uri = format!("http://{target}/").parse().unwrap();

        let stream = stack
            .clone()
            .connect_routed(dst.clone(), RouteKey::Direct)
            .await
            .unwrap();
        assert_eq!(stream.connected().hop, Hop::Direct);
        let err = stack
            .connect_routed(dst, RouteKey::Proxy(extsvc_resolve::TargetScheme::Http))
            .await
            .map(drop)
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::ProxyConnect, "{err}");
    }
}
