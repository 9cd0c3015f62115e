//! [`build_service_tls`]: one service's rustls client configurations.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use extsvc_config::{ServiceKind, TlsVersion};
use extsvc_resolve::{ClientCertificateSource, ResolvedService};
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};

use crate::danger::NoServerVerification;
use crate::error::{key_path, Material, TlsError};
use crate::material::{load_material, LoadedCa, LoadedMaterial};
use crate::rotation::{spawn_refresh, KxHintStore, Reload, RotatingClientCert};
use crate::store::CertificateStore;

/// Options of [`build_service_tls`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Poll the certificate store for a replaced client certificate this often; new TLS
    /// handshakes use the new certificate, established connections keep theirs. `None`
    /// (the default) loads the certificate once.
    pub refresh_interval: Option<Duration>,
    /// With `refresh_interval`, also re-read `cert_file` / `key_file` on that interval
    /// (off by default: file-based certificates are loaded once).
    pub reload_files: bool,
}

/// The rustls client configurations of one service.
///
/// ALPN is left empty in both: the client crate clones a config and sets the protocols
/// it speaks. Both use the ring provider, have SNI on and session resumption on (rustls'
/// in-memory cache of 256 sessions) — except a target config whose client certificate
/// rotates ([`TlsOptions::refresh_interval`]): there resumption is off, because a resumed
/// session would keep presenting the identity of the certificate it started with.
///
/// When cloning `target` to adjust it, keep its `client_auth_cert_resolver` and
/// `resumption`: rotation swaps the certificate inside the resolver. Clones share the
/// resolver, and keep the refresh task alive while they exist.
///
/// ```
/// # async fn example(service: &extsvc_resolve::ResolvedService) -> Result<(), extsvc_tls::TlsError> {
/// let tls = extsvc_tls::build_service_tls(service, None, &extsvc_tls::TlsOptions::default()).await?;
/// let mut target = (*tls.target).clone();
/// target.alpn_protocols = vec![b"http/1.1".to_vec()];
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ServiceTls {
    /// For the TLS connection to the target: the service's roots (or the insecure
    /// verifier), its client certificate, its TLS version bounds.
    pub target: Arc<ClientConfig>,
    /// For the TLS leg to an `https://` proxy: the default roots plus the service's CA
    /// certificates, no client certificate, always verified, TLS 1.2 and 1.3.
    pub proxy: Arc<ClientConfig>,
}

/// The crypto provider of every config: rustls' ring provider.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The webpki-roots trust anchors.
fn default_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

fn versions(min: TlsVersion, max: TlsVersion) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut versions = Vec::with_capacity(2);
    if min <= TlsVersion::Tls13 && TlsVersion::Tls13 <= max {
        versions.push(&rustls::version::TLS13);
    }
    if min <= TlsVersion::Tls12 && TlsVersion::Tls12 <= max {
        versions.push(&rustls::version::TLS12);
    }
    versions
}

/// Adds CA certificates to `roots`, naming the file or id of one that cannot be an anchor.
fn add_ca(service: ServiceKind, roots: &mut RootCertStore, cas: &[LoadedCa]) -> Result<(), TlsError> {
    for ca in cas {
        for certificate in &ca.certificates {
            roots
                .add(certificate.clone())
                .map_err(|e| TlsError::InvalidCertificate {
                    service,
                    key_path: ca.key_path.clone(),
                    material: Material::CaCertificates,
                    origin: ca.origin.clone(),
                    reason: e.to_string(),
                })?;
        }
    }
    Ok(())
}

/// Builds both configs from loaded material. `rotating` is the resolver a refresh task
/// swaps certificates in, when rotation is on.
pub(crate) fn assemble(
    service: &ResolvedService,
    material: &LoadedMaterial,
    rotating: Option<Arc<RotatingClientCert>>,
) -> Result<ServiceTls, TlsError> {
    let kind = service.kind;
    let mtls = &service.mtls;
    let build_error = |e: rustls::Error| TlsError::Build {
        service: kind,
        key_path: key_path(kind, "", None),
        reason: e.to_string(),
    };
    let provider = provider();

    // Target leg.
    let target_versions = versions(mtls.tls_min_version.value, mtls.tls_max_version.value);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&target_versions)
        .map_err(build_error)?;
    let builder = if mtls.insecure_skip_verify.value {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoServerVerification::new(kind, provider.clone())))
    } else {
        let mut roots = match &material.ca {
            Some(_) => RootCertStore::empty(),
            None => default_roots(),
        };
        add_ca(kind, &mut roots, material.ca.as_deref().unwrap_or_default())?;
        builder.with_root_certificates(roots)
    };
    // The client certificate always goes through a `RotatingClientCert`; without rotation
    // nothing ever swaps it and resumption stays on. With rotation, sessions are not kept
    // (see the `rotation` module: a resumed session keeps the old identity).
    let target = match (rotating, &material.client) {
        (Some(resolver), _) => {
            let mut target = builder.with_client_cert_resolver(resolver);
            target.resumption = Resumption::store(Arc::new(KxHintStore::new()));
            target
        }
        (None, Some(client)) => {
            builder.with_client_cert_resolver(Arc::new(RotatingClientCert::new(kind, client.certified.clone())))
        }
        (None, None) => builder.with_no_client_auth(),
    };

    // Proxy leg: default roots plus the service's CA; never insecure, never a client cert.
    let mut proxy_roots = default_roots();
    add_ca(kind, &mut proxy_roots, material.ca.as_deref().unwrap_or_default())?;
    let proxy = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(build_error)?
        .with_root_certificates(proxy_roots)
        .with_no_client_auth();

    Ok(ServiceTls {
        target: Arc::new(target),
        proxy: Arc::new(proxy),
    })
}

/// Builds a service's TLS configurations: loads its files or store entries, checks that
/// the key matches the certificate, and applies roots, versions and `insecure_skip_verify`
/// as resolved (SPEC section 3).
///
/// - Client certificate: `cert_id` from `store`, else `cert_file` + `key_file`, else none.
/// - Roots: `ca_cert_ids` or `ca_file` replace the webpki roots; a CA-only service is valid.
/// - `insecure_skip_verify`: the target leg accepts any server certificate (see
///   [`crate::danger`]); the proxy leg is always verified.
/// - A service whose `mtls` is not enabled gets the plain configuration: webpki roots, no
///   client certificate, TLS 1.2–1.3 (and `insecure_skip_verify` only when the legacy
///   `jwt_ssl_insecure_skip_verify` applies to `oauth`).
/// - With [`TlsOptions::refresh_interval`], a store-based client certificate (and a
///   file-based one with [`TlsOptions::reload_files`]) is reloaded on that interval by a
///   task on the current tokio runtime, which stops when the configs are dropped.
///
/// `store` is needed only when ids are configured; without it they are an error.
/// Any error fails the build: there is no fallback to a client without mTLS.
pub async fn build_service_tls(
    service: &ResolvedService,
    store: Option<Arc<dyn CertificateStore>>,
    options: &TlsOptions,
) -> Result<ServiceTls, TlsError> {
    let kind = service.kind;
    let provider = provider();
    let source = &service.mtls.client_certificate;
    let material = load_material(kind, &service.mtls, store.as_deref(), &provider)
        .await
        .into_material()?;
    let rotates = match source {
        ClientCertificateSource::Store { .. } => true,
        ClientCertificateSource::File { .. } => options.reload_files,
        ClientCertificateSource::None => false,
    };
    let rotation = match (options.refresh_interval, &material.client) {
        (Some(interval), Some(client)) if rotates => {
            let runtime = tokio::runtime::Handle::try_current().map_err(|_| TlsError::NoRuntime {
                service: kind,
                key_path: key_path(kind, "", None),
            })?;
            let resolver = Arc::new(RotatingClientCert::new(kind, client.certified.clone()));
            let reload = Reload {
                service: kind,
                source: source.clone(),
                store: store.clone(),
                encoding_secret: service.mtls.encoding_secret.clone(),
                provider,
            };
            spawn_refresh(&runtime, &resolver, reload, interval);
            Some(resolver)
        }
        _ => None,
    };
    let tls = assemble(service, &material, rotation)?;
    if let Some(client) = &material.client {
        tracing::info!(service = %kind, origin = %client.origin, "client certificate loaded");
    }
    Ok(tls)
}
