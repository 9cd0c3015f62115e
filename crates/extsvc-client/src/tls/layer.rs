use extsvc_tls::RotatingConfig;

use super::TlsConnector;

/// Wraps a connector in a [`TlsConnector`] with one TLS leg's configuration.
#[derive(Debug, Clone)]
pub struct TlsConnectorLayer {
    config: RotatingConfig,
}

impl TlsConnectorLayer {
    /// A layer doing TLS with `config` (used as given; see
    /// [`http1_tls_config`](super::http1_tls_config)).
    pub fn new(config: impl Into<RotatingConfig>) -> TlsConnectorLayer {
        TlsConnectorLayer { config: config.into() }
    }
}

impl<C> tower::Layer<C> for TlsConnectorLayer {
    type Service = TlsConnector<C>;

    fn layer(&self, inner: C) -> TlsConnector<C> {
        TlsConnector::new(self.config.clone(), inner)
    }
}
