//! Rotation of a service's TLS material without rebuilding the client.
//!
//! Every service whose material comes from files or a certificate store gets a [`Rotation`]:
//! where its material is reloaded from, and the current [`Generation`] — the material in
//! use and the rustls configurations of both legs built from it. [`Rotation::reload`] reads
//! the files or store entries again and, when something changed, builds the next
//! generation and publishes it:
//!
//! - the client certificate (`cert_id`, or `cert_file` + `key_file`) when its chain
//!   differs; a key that does not match its certificate (a pair caught half-written)
//!   keeps the last good pair and logs a WARN at every reload until the pair matches;
//! - the CA certificates (`ca_cert_ids` or `ca_file`) when they differ: the target leg's
//!   roots (unless `insecure_skip_verify` replaces its verification; that never changes)
//!   and the proxy leg's (default roots plus the service's CA — always verified);
//! - any failure keeps what was there and logs a WARN naming the key path and file or id.
//!
//! A leg gets a new configuration only when its own material changed: the target leg for
//! a new client certificate or (when it verifies) new roots, the proxy leg for new roots.
//! Connectors take the current configuration ([`crate::RotatingConfig::current`]) for each
//! new connection, so the next one uses the new material; established connections keep
//! their handshake. Files are read again by path at every reload and compared by content,
//! so a Kubernetes secret volume (whose files are symlinks through a `..data` directory
//! that is swapped atomically) rotates too.
//!
//! **Resumption.** A resumed TLS session keeps the client identity and the server
//! verification of the full handshake it descends from, so a session made with old
//! material must never be resumed after a swap. Every configuration has its own session
//! store, and rustls saves a connection's sessions (TLS 1.3 tickets, however late the
//! server sends them or the client reads them; TLS 1.2 sessions) in the store of the
//! configuration that connection was made with. A generation's store therefore only ever
//! holds sessions of that generation's material, and a new connection, which takes the
//! current generation's configuration, can only resume one of those.
//!
//! A refresh task ([`spawn_refresh`]) reloads on an interval
//! ([`crate::TlsOptions::refresh_interval`]); it holds only a `Weak` reference, and stops at
//! its next tick once every [`crate::RotatingConfig`] and [`crate::ServiceTls`] of the
//! service is dropped.

use std::fmt;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use extsvc_config::ServiceKind;
use extsvc_resolve::{CaSource, ClientCertificateSource, ResolvedService};
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;

use crate::config::{flatten, verifiers, Generation, Leg, Trust};
use crate::error::{Material, TlsError};
use crate::material::{load_ca_pieces, load_client, LoadedCa};
use crate::options::{within, TlsOptions};
use crate::store::{CertificateStore, DeadlineStore};

/// Where a service's material is reloaded from, and its current generation.
pub(crate) struct Rotation {
    service: ResolvedService,
    store: Option<Arc<dyn CertificateStore>>,
    provider: Arc<CryptoProvider>,
    /// Read once per new connection, written once per reload that changed something.
    current: RwLock<Arc<Generation>>,
    /// The current generation's number, published after `current` changes: read by pools
    /// (an atomic load per returned connection) and watched, to close connections made
    /// with older material.
    published: tokio::sync::watch::Sender<u64>,
    /// The deadline of each store lookup.
    store_timeout: Duration,
    /// The stores of secret references, resolved again at every reload.
    secrets: crate::SecretSources,
    /// The deadline of one whole reload.
    load_timeout: Duration,
    /// One reload at a time (the refresh task and [`crate::ServiceTls::reload`]).
    reloading: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotation")
            .field("service", &self.service.kind)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

/// What a reload ([`crate::ServiceTls::reload`]) changed and what failed, for one service.
///
/// A failed piece keeps the material in use; the others still change when they changed.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReloadReport {
    /// The service.
    pub service: ServiceKind,
    /// The material that changed: new connections use it ([`Material::ClientCertificate`]
    /// for a new certificate and key, [`Material::CaCertificates`] for new roots).
    pub changed: Vec<Material>,
    /// Why a piece could not be reloaded; each error names the key path and file or id.
    pub failed: Vec<TlsError>,
}

impl ReloadReport {
    pub(crate) fn new(service: ServiceKind) -> Self {
        ReloadReport {
            service,
            changed: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// True when nothing changed and nothing failed.
    pub fn is_unchanged(&self) -> bool {
        self.changed.is_empty() && self.failed.is_empty()
    }
}

/// Whether a service's material comes from anywhere that can change: files or a store.
pub(crate) fn rotates(service: &ResolvedService) -> bool {
    !matches!(service.mtls.client_certificate, ClientCertificateSource::None)
        || !matches!(service.mtls.ca, CaSource::DefaultRoots)
}

/// The secret stores of `options`, each lookup under the store deadline.
pub(crate) fn secret_sources(options: &TlsOptions) -> crate::SecretSources {
    options.secrets.clone().with_timeout(options.store_timeout)
}

impl Rotation {
    pub(crate) fn new(
        service: &ResolvedService,
        store: Option<Arc<dyn CertificateStore>>,
        provider: Arc<CryptoProvider>,
        first: Generation,
        options: &TlsOptions,
    ) -> Self {
        Rotation {
            service: service.clone(),
            store,
            provider,
            published: tokio::sync::watch::Sender::new(first.number),
            current: RwLock::new(Arc::new(first)),
            store_timeout: options.store_timeout,
            secrets: secret_sources(options),
            load_timeout: options.load_timeout,
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The store ids or files reloaded, for logs.
    fn describe_sources(&self) -> String {
        let mut sources = Vec::new();
        match &self.service.mtls.client_certificate {
            ClientCertificateSource::Store { cert_id, .. } => sources.push(extsvc_config::shown(cert_id).to_string()),
            ClientCertificateSource::File { cert_file, .. } => {
                sources.push(extsvc_config::shown(cert_file).to_string())
            }
            ClientCertificateSource::None => {}
        }
        match &self.service.mtls.ca {
            CaSource::Store { ca_cert_ids, .. } => {
                sources.extend(ca_cert_ids.iter().map(|id| extsvc_config::shown(id).to_string()))
            }
            CaSource::File { ca_file, .. } => sources.push(extsvc_config::shown(ca_file).to_string()),
            CaSource::DefaultRoots => {}
        }
        sources.join(", ")
    }

    fn current(&self) -> Arc<Generation> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The current generation's configuration of `leg`, for a new connection.
    pub(crate) fn config(&self, leg: Leg) -> Arc<ClientConfig> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .config(leg)
            .clone()
    }

    /// The current generation: 0 as built, one more after each reload that changed something.
    pub(crate) fn generation(&self) -> u64 {
        *self.published.borrow()
    }

    /// A receiver that sees each new generation number as it is published.
    pub(crate) fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// Reads the material again and, when it changed, publishes the next generation;
    /// failures keep what is in use.
    pub(crate) async fn reload(&self) -> ReloadReport {
        let _one_at_a_time = self.reloading.lock().await;
        let kind = self.service.kind;
        let insecure = self.service.mtls.insecure_skip_verify.value;
        let mut report = ReloadReport::new(kind);
        // Every store lookup under its deadline, the whole reload under another; a reload
        // that runs out keeps everything in use, like any other failure.
        let bounded = self
            .store
            .as_deref()
            .map(|store| DeadlineStore::new(store, self.store_timeout));
        let store = bounded.as_ref().map(|s| s as &dyn CertificateStore);
        let current = self.current();
        let loading = async {
            let client = match &current.client {
                Some(_) => {
                    load_client(
                        kind,
                        &self.service.mtls.client_certificate,
                        store,
                        self.service.mtls.encoding_secret.as_ref(),
                        &self.secrets,
                        &self.provider,
                    )
                    .await
                }
                None => Ok(None),
            };
            (
                client,
                load_ca_pieces(kind, &self.service.mtls.ca, store, &self.secrets).await,
            )
        };
        let Some((client, (ca, ca_errors))) = within(self.load_timeout, loading).await else {
            let error = TlsError::Timeout {
                service: kind,
                key_path: format!("external_services.{kind}.mtls"),
                after: self.load_timeout,
            };
            tracing::warn!(
                service = %kind,
                store = ?self.store,
                ids = %self.describe_sources(),
                %error,
                "TLS material reload timed out; keeping the current certificate and CAs"
            );
            report.failed.push(error);
            return report;
        };

        let next_client = match client {
            Ok(Some(loaded)) if current.client.as_ref().is_some_and(|c| c.cert != loaded.certified.cert) => {
                Some(loaded)
            }
            Ok(_) => None,
            Err(error) => {
                report.failed.push(error);
                None
            }
        };
        let mut next_ca = None;
        if ca_errors.is_empty() {
            if let Some(loaded) = ca {
                let certificates = flatten(Some(&loaded));
                if current.ca != certificates {
                    match verifiers(&self.service, Some(&loaded), &self.provider) {
                        Ok((target, proxy)) => {
                            // The verifier of `insecure_skip_verify` never changes.
                            let target: Arc<dyn ServerCertVerifier> = match insecure {
                                true => current.trust.target.clone(),
                                false => target,
                            };
                            next_ca = Some(NextCa {
                                certificates,
                                trust: Trust { target, proxy },
                                loaded,
                            });
                        }
                        Err(error) => report.failed.push(error),
                    }
                }
            }
        } else {
            report.failed.extend(ca_errors);
        }

        if next_client.is_some() || next_ca.is_some() {
            let certified = next_client.as_ref().map(|client| &client.certified);
            match current.next(
                &self.service,
                certified,
                next_ca.as_ref().map(|ca| (&ca.certificates, &ca.trust)),
            ) {
                Ok(next) => {
                    let number = next.number;
                    *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
                    // After the configurations: whoever sees the number, sees them.
                    self.published.send_replace(number);
                    if let Some(client) = &next_client {
                        report.changed.push(Material::ClientCertificate);
                        tracing::info!(
                            service = %kind,
                            origin = %client.origin,
                            generation = number,
                            "client certificate rotated: new TLS connections present the new certificate"
                        );
                    }
                    if let Some(ca) = &next_ca {
                        report.changed.push(Material::CaCertificates);
                        let origins: Vec<String> = ca.loaded.iter().map(|ca| ca.origin.to_string()).collect();
                        tracing::info!(
                            service = %kind,
                            origin = %origins.join(", "),
                            generation = number,
                            "CA certificates rotated: new TLS connections verify servers against the new roots"
                        );
                    }
                }
                Err(error) => report.failed.push(error),
            }
        }
        for error in &report.failed {
            tracing::warn!(
                service = %kind,
                %error,
                "TLS material reload failed; new connections keep using the last good material"
            );
        }
        report
    }
}

/// New CA certificates found by a reload, and the verifiers built for them.
struct NextCa {
    certificates: Vec<CertificateDer<'static>>,
    trust: Trust,
    loaded: Vec<LoadedCa>,
}

/// The shortest refresh interval: a zero one would spin (tokio refuses it outright).
const MIN_REFRESH_INTERVAL: Duration = Duration::from_millis(1);
/// The longest refresh interval: a year, beyond which an `Instant` may overflow.
const MAX_REFRESH_INTERVAL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Starts the refresh task on `runtime`: every `interval` (clamped to 1 ms ..= one year, so
/// no value makes the task panic and rotation silently stop), [`Rotation::reload`].
pub(crate) fn spawn_refresh(runtime: &tokio::runtime::Handle, rotation: &Arc<Rotation>, interval: Duration) {
    let weak: Weak<Rotation> = Arc::downgrade(rotation);
    let service = rotation.service.kind;
    let interval = interval.clamp(MIN_REFRESH_INTERVAL, MAX_REFRESH_INTERVAL);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(rotation) = weak.upgrade() else { break };
            rotation.reload().await;
        }
        tracing::debug!(service = %service, "TLS material refresh stopped: configuration dropped");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that answers its first lookup and then never again.
    #[derive(Debug)]
    struct GoesSilent {
        inner: crate::MemoryStore,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl CertificateStore for GoesSilent {
        fn client_certificate<'a>(&'a self, id: &'a str) -> crate::StoreFuture<'a, crate::ClientCertificate> {
            if self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                self.inner.client_certificate(id)
            } else {
                Box::pin(std::future::pending())
            }
        }
        fn ca_certificates<'a>(&'a self, _: &'a str) -> crate::StoreFuture<'a, Vec<CertificateDer<'static>>> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn a_zero_refresh_interval_still_rotates_instead_of_killing_the_task() {
        let pem = |name: &str| {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            format!("{}{}", cert.pem(), key.serialize_pem())
        };
        let store = Arc::new(crate::MemoryStore::new());
        store.insert_pem("client", pem("first").as_bytes()).unwrap();
        let mut config = extsvc_config::ExternalServicesConfig::default();
        let mtls = &mut config.service_mut(ServiceKind::Health).mtls;
        mtls.enabled = Some(extsvc_config::Sourced::new(true, extsvc_config::Source::Default));
        mtls.cert_id = Some(extsvc_config::Sourced::new(
            "client".to_owned(),
            extsvc_config::Source::Default,
        ));
        let resolution = extsvc_resolve::resolve(&config, &extsvc_config::EnvSnapshot::empty());
        let options = TlsOptions::default().with_refresh_interval(Some(Duration::ZERO));
        let tls = crate::build_service_tls(resolution.service(ServiceKind::Health), Some(store.clone()), &options)
            .await
            .unwrap();
        store.insert_pem("client", pem("second").as_bytes()).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tls.generation() == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the refresh task never reloaded"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_refresh_that_times_out_keeps_the_certificate_and_warns_naming_the_store_and_id() {
        let logs = extsvc_test_support::LogCapture::new();
        let _guard = tracing::subscriber::set_default(logs.subscriber(tracing::Level::INFO));

        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let inner = crate::MemoryStore::new();
        inner
            .insert_pem("client-7", format!("{}{}", cert.pem(), key.serialize_pem()).as_bytes())
            .unwrap();
        let store = Arc::new(GoesSilent {
            inner,
            calls: Default::default(),
        });
        let mut config = extsvc_config::ExternalServicesConfig::default();
        let mtls = &mut config.service_mut(ServiceKind::Storage).mtls;
        mtls.enabled = Some(extsvc_config::Sourced::new(true, extsvc_config::Source::Default));
        mtls.cert_id = Some(extsvc_config::Sourced::new(
            "client-7".to_owned(),
            extsvc_config::Source::Default,
        ));
        let resolution = extsvc_resolve::resolve(&config, &extsvc_config::EnvSnapshot::empty());
        let options = TlsOptions {
            refresh_interval: Some(Duration::from_millis(20)),
            store_timeout: Duration::from_millis(30),
            ..Default::default()
        };
        let tls = crate::build_service_tls(resolution.service(ServiceKind::Storage), Some(store), &options)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            tls.generation(),
            0,
            "the last good certificate is kept: no new generation"
        );
        let log = logs.text();
        let warning = log
            .lines()
            .find(|line| line.contains("WARN") && line.contains("keep using the last good material"))
            .unwrap_or_else(|| panic!("no WARN in {log}"));
        assert!(
            warning.contains("client-7") && warning.contains("GoesSilent") && warning.contains("within 30ms"),
            "{warning}"
        );
    }
}
