use std::sync::Arc;

use super::TlsConnector;

/// Wraps a connector in a [`TlsConnector`] with one rustls configuration.
#[derive(Debug, Clone)]
pub struct TlsConnectorLayer {
    config: Arc<rustls::ClientConfig>,
}

impl TlsConnectorLayer {
    /// A layer doing TLS with `config` (used as given; see
    /// [`http1_tls_config`](super::http1_tls_config)).
    pub fn new(config: Arc<rustls::ClientConfig>) -> TlsConnectorLayer {
        TlsConnectorLayer { config }
    }
}

impl<C> tower::Layer<C> for TlsConnectorLayer {
    type Service = TlsConnector<C>;

    fn layer(&self, inner: C) -> TlsConnector<C> {
        TlsConnector::new(self.config.clone(), inner)
    }
}
