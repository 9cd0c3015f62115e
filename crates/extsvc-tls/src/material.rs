//! Loading a service's TLS material from files or the store, with errors that name the
//! key path and the file or id. Only what the resolution chose is read: files that lost
//! to a store id are never opened.

use std::path::Path;
use std::sync::Arc;

use extsvc_config::ServiceKind;
use extsvc_resolve::{CaSource, ClientCertificateSource};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{key_path, Material, Origin, TlsError};
use crate::pem::{parse_certificates, parse_private_key};
use crate::store::CertificateStore;

/// CA certificates and where each group came from.
#[derive(Debug, Clone)]
pub(crate) struct LoadedCa {
    pub(crate) origin: Origin,
    pub(crate) key_path: String,
    pub(crate) certificates: Vec<CertificateDer<'static>>,
}

/// A loaded client certificate and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct LoadedClient {
    pub(crate) origin: Origin,
    pub(crate) key_path: String,
    pub(crate) certified: Arc<CertifiedKey>,
}

async fn read_file(service: ServiceKind, key_path: &str, material: Material, path: &Path) -> Result<Vec<u8>, TlsError> {
    tokio::fs::read(path).await.map_err(|source| TlsError::ReadFile {
        service,
        key_path: key_path.to_owned(),
        material,
        path: path.to_owned(),
        source,
    })
}

fn no_store(service: ServiceKind, key_path: String, ids: String) -> TlsError {
    TlsError::NoStore { service, key_path, ids }
}

/// The client certificate of `source`, its key checked against it. `None` when the
/// service presents no client certificate.
pub(crate) async fn load_client(
    service: ServiceKind,
    source: &ClientCertificateSource,
    store: Option<&dyn CertificateStore>,
    provider: &CryptoProvider,
) -> Result<Option<LoadedClient>, TlsError> {
    match source {
        ClientCertificateSource::None => Ok(None),
        ClientCertificateSource::File {
            cert_file,
            key_file,
            source,
        } => {
            let cert_path = key_path(service, "cert_file", Some(source));
            let key_key_path = key_path(service, "key_file", None);
            let cert_pem = read_file(service, &cert_path, Material::ClientCertificate, cert_file).await?;
            let chain = parse_certificates(&cert_pem).map_err(|source| TlsError::ParseFile {
                service,
                key_path: cert_path.clone(),
                material: Material::ClientCertificate,
                path: cert_file.clone(),
                source,
            })?;
            let key_pem = read_file(service, &key_key_path, Material::PrivateKey, key_file).await?;
            let key = parse_private_key(&key_pem).map_err(|source| TlsError::ParseFile {
                service,
                key_path: key_key_path.clone(),
                material: Material::PrivateKey,
                path: key_file.clone(),
                source,
            })?;
            let certified = certify(
                service,
                &cert_path,
                &key_key_path,
                Origin::File(cert_file.clone()),
                Origin::File(key_file.clone()),
                chain,
                key,
                provider,
            )?;
            Ok(Some(LoadedClient {
                origin: Origin::File(cert_file.clone()),
                key_path: cert_path,
                certified,
            }))
        }
        ClientCertificateSource::Store { cert_id, source } => {
            let path = key_path(service, "cert_id", Some(source));
            let Some(store) = store else {
                return Err(no_store(service, path, format!("cert_id {cert_id}")));
            };
            let client = store
                .client_certificate(cert_id)
                .await
                .map_err(|source| TlsError::Store {
                    service,
                    key_path: path.clone(),
                    source,
                })?;
            let (chain, key) = client.into_parts();
            let origin = Origin::Store(cert_id.clone());
            let certified = certify(
                service,
                &path,
                &path,
                origin.clone(),
                origin.clone(),
                chain,
                key,
                provider,
            )?;
            Ok(Some(LoadedClient {
                origin,
                key_path: path,
                certified,
            }))
        }
    }
}

/// Checks the chain's end-entity certificate, loads the key with the provider and checks
/// that the two belong together.
#[allow(clippy::too_many_arguments)] // one call site per source kind; a struct would only rename them
fn certify(
    service: ServiceKind,
    cert_key_path: &str,
    key_key_path: &str,
    cert_origin: Origin,
    key_origin: Origin,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    if let Some(leaf) = chain.first() {
        if let Err(e) = x509_parser::parse_x509_certificate(leaf) {
            return Err(TlsError::InvalidCertificate {
                service,
                key_path: cert_key_path.to_owned(),
                material: Material::ClientCertificate,
                origin: cert_origin,
                reason: e.to_string(),
            });
        }
    }
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::UnusableKey {
            service,
            key_path: key_key_path.to_owned(),
            origin: key_origin.clone(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Err(TlsError::KeyMismatch {
            service,
            key_path: key_key_path.to_owned(),
            certificate: cert_origin,
            key: key_origin,
        }),
        // The ring provider always exposes the public key; an unknown answer would come from
        // a provider that cannot, and then the handshake is the check.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(Arc::new(certified)),
        Err(e) => Err(TlsError::InvalidCertificate {
            service,
            key_path: cert_key_path.to_owned(),
            material: Material::ClientCertificate,
            origin: cert_origin,
            reason: e.to_string(),
        }),
    }
}

/// The CA certificates of `source`; `None` for the default roots.
pub(crate) async fn load_ca(
    service: ServiceKind,
    source: &CaSource,
    store: Option<&dyn CertificateStore>,
) -> Result<Option<Vec<LoadedCa>>, TlsError> {
    match source {
        CaSource::DefaultRoots => Ok(None),
        CaSource::File { ca_file, source } => {
            let path = key_path(service, "ca_file", Some(source));
            let pem = read_file(service, &path, Material::CaCertificates, ca_file).await?;
            let certificates = parse_certificates(&pem).map_err(|source| TlsError::ParseFile {
                service,
                key_path: path.clone(),
                material: Material::CaCertificates,
                path: ca_file.clone(),
                source,
            })?;
            Ok(Some(vec![LoadedCa {
                origin: Origin::File(ca_file.clone()),
                key_path: path,
                certificates,
            }]))
        }
        CaSource::Store { ca_cert_ids, source } => {
            let path = key_path(service, "ca_cert_ids", Some(source));
            let Some(store) = store else {
                return Err(no_store(
                    service,
                    path,
                    format!("ca_cert_ids {}", ca_cert_ids.join(",")),
                ));
            };
            let mut loaded = Vec::with_capacity(ca_cert_ids.len());
            for id in ca_cert_ids {
                let certificates = store.ca_certificates(id).await.map_err(|source| TlsError::Store {
                    service,
                    key_path: path.clone(),
                    source,
                })?;
                loaded.push(LoadedCa {
                    origin: Origin::Store(id.clone()),
                    key_path: path.clone(),
                    certificates,
                });
            }
            Ok(Some(loaded))
        }
    }
}
