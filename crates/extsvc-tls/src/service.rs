//! [`build_service_tls`]: one service's rustls client configurations.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use extsvc_config::{ServiceKind, TlsVersion};
use extsvc_resolve::ResolvedService;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};

use rustls::sign::{CertifiedKey, SingleCertAndKey};

use crate::danger::NoServerVerification;
use crate::error::{key_path, Material, TlsError};
use crate::material::{load_material, LoadedCa, LoadedMaterial};
use crate::rotating_config::RotatingConfig;
use crate::rotation::{rotates, spawn_refresh, Generation, Leg, ReloadReport, Rotation};
use crate::store::{CertificateStore, DeadlineStore, DEFAULT_STORE_TIMEOUT};

/// Sessions kept per configuration (rustls' default size).
const SESSION_CACHE_SIZE: usize = 256;

/// The default [`TlsOptions::refresh_interval`]: 60 seconds.
///
/// Kubernetes refreshes a mounted secret within about a minute of its update (the
/// kubelet's sync period), cert-manager renews certificates long before they expire, and a
/// reload costs one read per file or store id; polling every minute adds at most a minute
/// to the kubelet's own delay for a negligible load, even on a Redis shared by many gateways.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Options of [`build_service_tls`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Reload the service's TLS material — client certificate and key, CA certificates,
    /// from files or the store — this often; new TLS handshakes use what changed,
    /// established connections keep theirs (see [`ServiceTls::reload`]). `None` turns the
    /// periodic reload off ([`ServiceTls::reload`] still works). Default:
    /// [`DEFAULT_REFRESH_INTERVAL`]. Services without files or store ids have nothing to
    /// reload and run no task.
    pub refresh_interval: Option<Duration>,
    /// The deadline of each certificate store lookup, connecting included (default
    /// [`DEFAULT_STORE_TIMEOUT`], 10 s). A lookup that misses it fails the build with an
    /// error naming the store and the id; in a rotation refresh the current certificate
    /// is kept and a WARN names both. Applied around any store, yours included.
    pub store_timeout: Duration,
    /// The deadline of loading one service's material as a whole — files and every store
    /// lookup (default [`DEFAULT_LOAD_TIMEOUT`], 30 s). A duration too large to add to the
    /// clock means no deadline.
    pub load_timeout: Duration,
}

/// The default [`TlsOptions::load_timeout`]: 30 seconds, three store lookups' worth.
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            refresh_interval: Some(DEFAULT_REFRESH_INTERVAL),
            store_timeout: DEFAULT_STORE_TIMEOUT,
            load_timeout: DEFAULT_LOAD_TIMEOUT,
        }
    }
}

impl TlsOptions {
    /// These options with [`TlsOptions::refresh_interval`] set to `interval`.
    pub fn with_refresh_interval(mut self, interval: Option<Duration>) -> Self {
        self.refresh_interval = interval;
        self
    }
}

/// Runs `future` under `timeout`; `None` when it ran out. A timeout too large to add to
/// the clock means no deadline.
pub(crate) async fn within<T>(timeout: Duration, future: impl std::future::Future<Output = T>) -> Option<T> {
    match tokio::time::Instant::now().checked_add(timeout) {
        Some(deadline) => tokio::time::timeout_at(deadline, future).await.ok(),
        None => Some(future.await),
    }
}

/// The rustls client configurations of one service.
///
/// Each leg is a [`RotatingConfig`]: take [`RotatingConfig::current`] for every new
/// connection. ALPN is left empty on both: the client crate derives a configuration
/// with the protocols it speaks ([`RotatingConfig::with_alpn`]). Both use the ring
/// provider and have SNI and session resumption on.
///
/// When the service's material comes from files or a store, a reload that changes it
/// ([`ServiceTls::reload`], or the refresh task every [`TlsOptions::refresh_interval`])
/// builds new configurations — each with its own session store — and publishes them: the
/// next new connection takes them, and can never resume a session made with the old
/// material (`docs/tls.md`, "Rotation"). An `Arc<ClientConfig>` taken from
/// [`RotatingConfig::current`] and kept is one generation's configuration: it never
/// changes.
///
/// ```
/// # async fn example(service: &extsvc::resolve::ResolvedService) -> Result<(), extsvc::tls::TlsError> {
/// let tls = extsvc::tls::build_service_tls(service, None, &extsvc::tls::TlsOptions::default()).await?;
/// let target = tls.target.with_alpn(vec![b"http/1.1".to_vec()]);
/// let for_this_connection = target.current();
/// assert_eq!(for_this_connection.alpn_protocols, [b"http/1.1".to_vec()]);
/// let report = tls.reload().await; // e.g. on the gateway's reload signal
/// assert!(report.failed.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ServiceTls {
    /// For the TLS connection to the target: the service's roots (or the insecure
    /// verifier), its client certificate, its TLS version bounds.
    pub target: RotatingConfig,
    /// For the TLS leg to an `https://` proxy: the default roots plus the service's CA
    /// certificates, no client certificate, always verified, TLS 1.2 and 1.3.
    pub proxy: RotatingConfig,
    service: ServiceKind,
    /// `None` when the material comes from nowhere that can change.
    rotation: Option<Arc<Rotation>>,
}

impl ServiceTls {
    /// Reads the service's files and store entries again now, and publishes new
    /// configurations for new connections when something changed (what the refresh task
    /// does on its interval; for a gateway's reload signal). A piece that fails to load
    /// keeps the material in use and is reported (and logged as a WARN). A service without
    /// files or store ids reports nothing.
    pub async fn reload(&self) -> ReloadReport {
        match &self.rotation {
            Some(rotation) => rotation.reload().await,
            None => ReloadReport::new(self.service),
        }
    }

    /// The generation of the material in use: 0 as built, one more after each reload
    /// that changed something.
    pub fn generation(&self) -> u64 {
        self.rotation.as_ref().map_or(0, |rotation| rotation.generation())
    }
}

/// The crypto provider of every config: rustls' ring provider.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
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

/// Builds a service's TLS configurations: loads its files or store entries, checks that
/// the key matches the certificate, and applies roots, versions and `insecure_skip_verify`
/// as resolved (SPEC section 3).
///
/// - Client certificate: `cert_id` from `store`, else `cert_file` + `key_file`, else none.
/// - Roots: `ca_cert_ids` or `ca_file` replace the system roots (the operating system's,
///   found as Go finds them; webpki-roots when it has none); a CA-only service is valid.
/// - `insecure_skip_verify`: the target leg accepts any server certificate (see
///   [`crate::danger`]); the proxy leg is always verified.
/// - A service whose `mtls` is not enabled gets the plain configuration: system roots, no
///   client certificate, TLS 1.2–1.3 (and `insecure_skip_verify` only when the legacy
///   `jwt_ssl_insecure_skip_verify` applies to `oauth`).
/// - Material from files or the store rotates: [`ServiceTls::reload`] on demand, and with
///   [`TlsOptions::refresh_interval`] (default [`DEFAULT_REFRESH_INTERVAL`]) a task on the
///   current tokio runtime that stops when the configs are dropped; a change publishes new
///   configurations for new connections.
///
/// `store` is needed only when ids are configured; without it they are an error.
/// Any error fails the build: there is no fallback to a client without mTLS. That
/// includes the block's configuration errors ([`extsvc_resolve::ResolvedMtls::errors`]),
/// so an `ExternalServicesConfig` built in code with `cert_file` and no `key_file` fails
/// here with the loader's message instead of connecting without a client certificate.
pub async fn build_service_tls(
    service: &ResolvedService,
    store: Option<Arc<dyn CertificateStore>>,
    options: &TlsOptions,
) -> Result<ServiceTls, TlsError> {
    let kind = service.kind;
    if let Some(error) = service.mtls.errors.first() {
        return Err(TlsError::Config {
            service: kind,
            key_path: error.path().to_owned(),
            source: error.clone(),
        });
    }
    let provider = provider();
    let bounded = store
        .as_deref()
        .map(|store| DeadlineStore::new(store, options.store_timeout));
    let loading = load_material(
        kind,
        &service.mtls,
        bounded.as_ref().map(|s| s as &dyn CertificateStore),
        &provider,
    );
    let material = within(options.load_timeout, loading)
        .await
        .ok_or_else(|| TlsError::Timeout {
            service: kind,
            key_path: key_path(kind, "", None),
            after: options.load_timeout,
        })?
        .into_material()?;
    let first = assemble(service, &material)?;
    let (target, proxy) = (first.config(Leg::Target).clone(), first.config(Leg::Proxy).clone());
    let rotation = if rotates(service) {
        let rotation = Arc::new(Rotation::new(service, store, provider, first, options));
        match options.refresh_interval {
            Some(interval) => {
                let runtime = tokio::runtime::Handle::try_current().map_err(|_| TlsError::NoRuntime {
                    service: kind,
                    key_path: key_path(kind, "", None),
                })?;
                spawn_refresh(&runtime, &rotation, interval);
            }
            None => tracing::info!(
                service = %kind,
                "periodic TLS material reload is off: certificates change only on ServiceTls::reload"
            ),
        }
        Some(rotation)
    } else {
        None
    };
    if let Some(client) = &material.client {
        tracing::info!(service = %kind, origin = %client.origin, "client certificate loaded");
    }
    Ok(ServiceTls {
        target: match &rotation {
            Some(rotation) => RotatingConfig::rotating(rotation.clone(), Leg::Target),
            None => RotatingConfig::from(target),
        },
        proxy: match &rotation {
            Some(rotation) => RotatingConfig::rotating(rotation.clone(), Leg::Proxy),
            None => RotatingConfig::from(proxy),
        },
        service: kind,
        rotation,
    })
}
