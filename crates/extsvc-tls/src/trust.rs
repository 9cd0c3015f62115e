//! [`RotatingServerVerifier`]: server certificate verification whose trust anchors can be
//! replaced while configurations using it are alive (CA rotation).

use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Verifies server certificates with the current webpki verifier; [`Self::replace`] swaps
/// it, so the next handshake checks against the new roots. Established connections are not
/// touched.
#[derive(Debug)]
pub(crate) struct RotatingServerVerifier {
    current: RwLock<Arc<WebPkiServerVerifier>>,
}

impl RotatingServerVerifier {
    pub(crate) fn new(initial: Arc<WebPkiServerVerifier>) -> Self {
        RotatingServerVerifier {
            current: RwLock::new(initial),
        }
    }

    fn current(&self) -> Arc<WebPkiServerVerifier> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Installs `next` for the handshakes that start from now on.
    pub(crate) fn replace(&self, next: Arc<WebPkiServerVerifier>) {
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = next;
    }
}

impl ServerCertVerifier for RotatingServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.current()
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::RootCertStore;

    /// A CA certificate and a server certificate for `server.test` that it issued.
    fn ca_and_leaf() -> (CertificateDer<'static>, CertificateDer<'static>) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["server.test".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();
        (ca.der().clone(), leaf.der().clone())
    }

    fn trusting(ca: &CertificateDer<'static>) -> Arc<WebPkiServerVerifier> {
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone()).unwrap();
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::new(rustls::crypto::ring::default_provider()))
            .build()
            .unwrap()
    }

    #[test]
    fn replacing_the_roots_changes_which_servers_verify() {
        let (old_ca, old_leaf) = ca_and_leaf();
        let (new_ca, new_leaf) = ca_and_leaf();
        let verifier = RotatingServerVerifier::new(trusting(&old_ca));
        let verifies = |leaf: &CertificateDer<'static>| {
            verifier
                .verify_server_cert(
                    leaf,
                    &[],
                    &ServerName::try_from("server.test").unwrap(),
                    &[],
                    UnixTime::now(),
                )
                .is_ok()
        };
        assert!(verifies(&old_leaf) && !verifies(&new_leaf));
        verifier.replace(trusting(&new_ca));
        assert!(!verifies(&old_leaf) && verifies(&new_leaf));
        assert!(!verifier.supported_verify_schemes().is_empty());
    }
}
