use std::sync::Arc;

use extsvc_config::ProxyUrl;

use super::Tunnel;

/// Wraps a connector (to the proxy) in a [`Tunnel`] through one proxy.
#[derive(Debug, Clone)]
pub struct TunnelLayer {
    proxy: Arc<ProxyUrl>,
}

impl TunnelLayer {
    /// A layer tunnelling through `proxy`.
    pub fn new(proxy: Arc<ProxyUrl>) -> TunnelLayer {
        TunnelLayer { proxy }
    }
}

impl<C> tower::Layer<C> for TunnelLayer {
    type Service = Tunnel<C>;

    fn layer(&self, inner: C) -> Tunnel<C> {
        Tunnel::new(self.proxy.clone(), inner)
    }
}
