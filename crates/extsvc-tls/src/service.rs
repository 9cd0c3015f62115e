//! [`build_service_tls`]: one service's rustls client configurations, loaded, built
//! ([`crate::config`]) and, when the material can change, rotating ([`crate::rotation`]).

use std::sync::Arc;

use extsvc_config::ServiceKind;
use extsvc_resolve::ResolvedService;

use crate::config::{assemble, Leg};
use crate::error::{key_path, TlsError};
use crate::material::load_material;
use crate::options::{within, TlsOptions};
use crate::provider::provider;
use crate::rotating_config::RotatingConfig;
use crate::rotation::{rotates, spawn_refresh, ReloadReport, Rotation};
use crate::store::{CertificateStore, DeadlineStore};

/// The rustls client configurations of one service.
///
/// Each leg is a [`RotatingConfig`]: take [`RotatingConfig::current`] for every new
/// connection. ALPN is left empty on both: the client crate derives a configuration
/// with the protocols it speaks ([`RotatingConfig::with_alpn`]). Both use the build's
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
///   [`TlsOptions::refresh_interval`] (default [`DEFAULT_REFRESH_INTERVAL`](crate::DEFAULT_REFRESH_INTERVAL)) a task on the
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
            cause: error.clone(),
        });
    }
    let provider = provider();
    let bounded = store
        .as_deref()
        .map(|store| DeadlineStore::new(store, options.store_timeout));
    let secrets = crate::rotation::secret_sources(options);
    let loading = load_material(
        kind,
        &service.mtls,
        bounded.as_ref().map(|s| s as &dyn CertificateStore),
        &secrets,
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
