//! Risky switches. Everything here weakens TLS; using it logs a warning.
//!
//! Mirrors rustls' own `client::danger` module: the only thing here is the verifier behind
//! `mtls.insecure_skip_verify`. It is used for a service's *target* leg only, never for the
//! TLS leg to an `https://` proxy.

use std::sync::Arc;

use extsvc_config::ServiceKind;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// A server certificate verifier that accepts any certificate for any name.
///
/// The handshake signature is still checked against the presented certificate (so the
/// peer must hold that certificate's key), but nothing ties the certificate to a trusted
/// root or to the server name: anyone on the path can impersonate the server.
#[derive(Debug)]
pub struct NoServerVerification {
    provider: Arc<CryptoProvider>,
}

impl NoServerVerification {
    /// Builds the verifier for `service` and logs a `WARN` line saying that the service's
    /// server certificates are not verified.
    pub fn new(service: ServiceKind, provider: Arc<CryptoProvider>) -> Self {
        tracing::warn!(
            service = %service,
            "insecure_skip_verify is on: server certificates of this service's targets are NOT verified"
        );
        NoServerVerification { provider }
    }

    /// Builds the verifier for the secret store `store` (`kv.consul.tls_config.insecure_skip_verify`)
    /// and logs a `WARN` line saying that its server certificate is not verified.
    pub(crate) fn for_secret_store(store: &str, provider: Arc<CryptoProvider>) -> Self {
        tracing::warn!(
            store = %store,
            "insecure_skip_verify is on: the server certificate of this secret store is NOT verified"
        );
        NoServerVerification { provider }
    }
}

impl ServerCertVerifier for NoServerVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use extsvc_test_support::LogCapture;

    use super::*;

    #[test]
    fn building_the_verifier_logs_a_warning_naming_the_service() {
        let logs = LogCapture::new();
        tracing::subscriber::with_default(logs.subscriber(tracing::Level::INFO), || {
            NoServerVerification::new(ServiceKind::Webhooks, crate::crypto_provider());
        });
        let log = logs.text();
        assert!(log.contains("WARN"), "{log}");
        assert!(
            log.contains("service=webhooks") && log.contains("NOT verified"),
            "{log}"
        );
    }
}
