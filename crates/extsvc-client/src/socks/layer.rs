use std::sync::Arc;

use extsvc_config::ProxyUrl;

use super::Socks5;

/// Wraps a connector (to the proxy) in a [`Socks5`] connector through one SOCKS5 proxy.
#[derive(Debug, Clone)]
pub struct Socks5Layer {
    proxy: Arc<ProxyUrl>,
}

impl Socks5Layer {
    /// A layer connecting through `proxy` (a `socks5://` or `socks5h://` URL).
    pub fn new(proxy: Arc<ProxyUrl>) -> Socks5Layer {
        Socks5Layer { proxy }
    }
}

impl<C> tower::Layer<C> for Socks5Layer {
    type Service = Socks5<C>;

    fn layer(&self, inner: C) -> Socks5<C> {
        Socks5::new(self.proxy.clone(), inner)
    }
}
