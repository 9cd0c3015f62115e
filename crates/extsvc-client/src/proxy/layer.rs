use std::sync::Arc;

use extsvc_resolve::ResolvedService;
use extsvc_tls::RotatingConfig;

use super::ProxyConnector;

/// Wraps a TCP connector in a [`ProxyConnector`] for one service.
#[derive(Debug, Clone)]
pub struct ProxyConnectorLayer {
    service: Arc<ResolvedService>,
    proxy_tls: Option<RotatingConfig>,
}

impl ProxyConnectorLayer {
    /// Routes per `service`; `proxy_tls` verifies `https://` proxies.
    pub fn new(service: Arc<ResolvedService>, proxy_tls: Option<RotatingConfig>) -> Self {
        ProxyConnectorLayer { service, proxy_tls }
    }
}

impl<C> tower::Layer<C> for ProxyConnectorLayer {
    type Service = ProxyConnector<C>;

    fn layer(&self, inner: C) -> ProxyConnector<C> {
        ProxyConnector::new(self.service.clone(), self.proxy_tls.clone(), inner)
    }
}
