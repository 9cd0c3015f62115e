//! Building rustls client configurations, in this one place: a service's two legs (target
//! and `https://` proxy), their verifiers and roots, versions and session stores, from
//! loaded material — as a [`Generation`]. [`crate::rotation`] decides *when* a new
//! generation is built; this module decides *what* it holds.

use std::fmt;
use std::sync::Arc;

use extsvc_config::{ServiceKind, TlsVersion};
use extsvc_resolve::ResolvedService;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;

use crate::danger::NoServerVerification;
use crate::error::{key_path, Material, TlsError};
use crate::material::{LoadedCa, LoadedMaterial};
use crate::provider::provider;

/// Sessions kept per configuration (rustls' default size).
const SESSION_CACHE_SIZE: usize = 256;

/// One of a service's two TLS legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leg {
    /// To the target (client certificate, the service's roots).
    Target,
    /// To an `https://` proxy (default roots plus the service's CA).
    Proxy,
}

/// One generation of a service's TLS material and the configurations built from it.
///
/// Never changed once built: a reload that changes the material builds the next one.
pub(crate) struct Generation {
    /// 0 as built, one more for each generation after it.
    pub(crate) number: u64,
    /// The client certificate; `None` when the service presents none.
    pub(crate) client: Option<Arc<CertifiedKey>>,
    /// The CA certificates, to compare a reload with (empty for the default roots).
    pub(crate) ca: Vec<CertificateDer<'static>>,
    pub(crate) trust: Trust,
    target: Arc<ClientConfig>,
    proxy: Arc<ClientConfig>,
}

impl fmt::Debug for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generation")
            .field("number", &self.number)
            .field("client_certificate", &self.client.is_some())
            .field("ca_certificates", &self.ca.len())
            .finish_non_exhaustive()
    }
}

impl Generation {
    /// Generation 0: configurations for `client`, `ca` and its `trust`.
    pub(crate) fn first(
        service: &ResolvedService,
        client: Option<Arc<CertifiedKey>>,
        ca: Option<&[LoadedCa]>,
        trust: Trust,
    ) -> Result<Generation, TlsError> {
        Ok(Generation {
            number: 0,
            target: target_config(service, client.as_ref(), &trust.target)?,
            proxy: proxy_config(service.kind, &trust.proxy)?,
            client,
            ca: flatten(ca),
            trust,
        })
    }

    /// The generation after this one with a new client certificate and/or new CA
    /// certificates (and the verifiers built for them): a new configuration (and so a new,
    /// empty session store) for each leg whose material changed, the same one for the other.
    pub(crate) fn next(
        &self,
        service: &ResolvedService,
        client: Option<&Arc<CertifiedKey>>,
        ca: Option<(&Vec<CertificateDer<'static>>, &Trust)>,
    ) -> Result<Generation, TlsError> {
        let target_changes = client.is_some() || (ca.is_some() && !service.mtls.insecure_skip_verify.value);
        let client = client.or(self.client.as_ref()).cloned();
        let trust = ca.map_or(&self.trust, |(_, trust)| trust).clone();
        let target = match target_changes {
            true => target_config(service, client.as_ref(), &trust.target)?,
            false => self.target.clone(),
        };
        let proxy = match ca {
            Some(_) => proxy_config(service.kind, &trust.proxy)?,
            None => self.proxy.clone(),
        };
        Ok(Generation {
            number: self.number + 1,
            client,
            ca: ca.map_or_else(|| self.ca.clone(), |(certificates, _)| certificates.clone()),
            trust,
            target,
            proxy,
        })
    }

    /// The configuration of `leg`.
    pub(crate) fn config(&self, leg: Leg) -> &Arc<ClientConfig> {
        match leg {
            Leg::Target => &self.target,
            Leg::Proxy => &self.proxy,
        }
    }
}

/// The default roots of `service`: the operating system's, as Go finds them
/// ([`crate::system_roots`]), webpki-roots when it has none.
fn default_roots(service: &ResolvedService) -> RootCertStore {
    crate::system_roots::system_roots(&service.mtls.system_roots)
        .roots
        .clone()
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

/// The server verifiers of a service's two legs, for one set of CA certificates.
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    /// The target leg's: `ca` (or the default roots), or, with `insecure_skip_verify`,
    /// [`NoServerVerification`] (which never changes).
    pub(crate) target: Arc<dyn ServerCertVerifier>,
    /// The proxy leg's: the default roots plus `ca`, always verified.
    pub(crate) proxy: Arc<dyn ServerCertVerifier>,
}

/// The webpki verifiers of the target leg (`ca` replaces the default roots) and of the
/// proxy leg (default roots plus `ca`).
pub(crate) fn verifiers(
    service: &ResolvedService,
    ca: Option<&[LoadedCa]>,
    provider: &Arc<CryptoProvider>,
) -> Result<(Arc<WebPkiServerVerifier>, Arc<WebPkiServerVerifier>), TlsError> {
    let kind = service.kind;
    let mut target_roots = match ca {
        Some(_) => RootCertStore::empty(),
        None => default_roots(service),
    };
    add_ca(kind, &mut target_roots, ca.unwrap_or_default())?;
    let mut proxy_roots = default_roots(service);
    add_ca(kind, &mut proxy_roots, ca.unwrap_or_default())?;
    let build = |roots: RootCertStore| {
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| TlsError::Build {
                service: kind,
                key_path: key_path(kind, "", None),
                reason: e.to_string(),
            })
    };
    Ok((build(target_roots)?, build(proxy_roots)?))
}

/// The verifiers of both legs for `ca`, `insecure_skip_verify` applied.
pub(crate) fn trust(service: &ResolvedService, ca: Option<&[LoadedCa]>) -> Result<Trust, TlsError> {
    let kind = service.kind;
    let provider = provider();
    let (target, proxy) = verifiers(service, ca, &provider)?;
    let target: Arc<dyn ServerCertVerifier> = if service.mtls.insecure_skip_verify.value {
        Arc::new(NoServerVerification::new(kind, provider))
    } else {
        target
    };
    Ok(Trust { target, proxy })
}

fn build_error(kind: ServiceKind) -> impl Fn(rustls::Error) -> TlsError {
    move |e| TlsError::Build {
        service: kind,
        key_path: key_path(kind, "", None),
        reason: e.to_string(),
    }
}

/// A new configuration of the target leg: `verifier`, `client` (if any), the service's
/// version bounds, and a session store of its own.
pub(crate) fn target_config(
    service: &ResolvedService,
    client: Option<&Arc<CertifiedKey>>,
    verifier: &Arc<dyn ServerCertVerifier>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mtls = &service.mtls;
    let versions = versions(mtls.tls_min_version.value, mtls.tls_max_version.value);
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)
        .map_err(build_error(service.kind))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone());
    let mut config = match client {
        Some(certified) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified.clone()))),
        None => builder.with_no_client_auth(),
    };
    config.resumption = Resumption::in_memory_sessions(SESSION_CACHE_SIZE);
    Ok(Arc::new(config))
}

/// A new configuration of the proxy leg: `verifier`, never a client certificate, TLS 1.2
/// and 1.3, and a session store of its own.
pub(crate) fn proxy_config(
    kind: ServiceKind,
    verifier: &Arc<dyn ServerCertVerifier>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(build_error(kind))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.resumption = Resumption::in_memory_sessions(SESSION_CACHE_SIZE);
    Ok(Arc::new(config))
}

/// The first generation of a service's configurations, from loaded material.
pub(crate) fn assemble(service: &ResolvedService, material: &LoadedMaterial) -> Result<Generation, TlsError> {
    let trust = trust(service, material.ca.as_deref())?;
    let client = material.client.as_ref().map(|client| client.certified.clone());
    Generation::first(service, client, material.ca.as_deref(), trust)
}

/// Every CA certificate of `ca`, in order (empty for the default roots).
pub(crate) fn flatten(ca: Option<&[LoadedCa]>) -> Vec<CertificateDer<'static>> {
    ca.unwrap_or_default()
        .iter()
        .flat_map(|ca| ca.certificates.iter().cloned())
        .collect()
}
