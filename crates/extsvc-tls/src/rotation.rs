//! Rotation of a service's TLS material without rebuilding the client.
//!
//! Every service whose material comes from files or a certificate store gets a [`Rotation`]:
//! the swappable parts of its two configurations — the client certificate resolver
//! ([`RotatingClientCert`]) and the server verifiers of both legs
//! ([`crate::trust::RotatingServerVerifier`]) — and the [`Generation`] of its material.
//! [`Rotation::reload`] reads the files or store entries again, and swaps what changed:
//!
//! - the client certificate (`cert_id`, or `cert_file` + `key_file`) when its chain
//!   differs; a key that does not match its certificate (a pair caught half-written)
//!   keeps the last good pair and logs a WARN at every reload until the pair matches;
//! - the CA certificates (`ca_cert_ids` or `ca_file`) when they differ: the target leg's
//!   roots (unless `insecure_skip_verify` replaces its verification; that never changes)
//!   and the proxy leg's (default roots plus the service's CA — always verified);
//! - any failure keeps what was there and logs a WARN naming the key path and file or id.
//!
//! Each handshake asks the resolver and the verifiers, so the next new connection uses
//! the new material; established connections keep their handshake. Files are read again
//! by path at every reload and compared by content, so a Kubernetes secret volume (whose
//! files are symlinks through a `..data` directory that is swapped atomically) rotates too.
//!
//! Every swap advances the generation; [`crate::resumption::GenerationSessionStore`]
//! resumes only sessions of the current generation, so a session authenticated with the
//! old certificate (or verified against the old CA) is never resumed after a swap.
//!
//! A refresh task ([`spawn_refresh`]) reloads on an interval
//! ([`crate::TlsOptions::refresh_interval`]); it holds only a `Weak` reference, and stops at
//! its next tick once every configuration and [`crate::ServiceTls`] is dropped.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use extsvc_config::ServiceKind;
use extsvc_resolve::{CaSource, ClientCertificateSource, ResolvedService};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use rustls_pki_types::CertificateDer;

use crate::error::{Material, TlsError};
use crate::material::{load_ca_pieces, load_client, LoadedCa};
use crate::resumption::{Generation, GenerationSessionStore};
use crate::service::{verifiers, within, Rotatable, TlsOptions};
use crate::store::{CertificateStore, DeadlineStore};

/// The client certificate resolver of a service: the current certificate, swapped
/// atomically on rotation.
pub(crate) struct RotatingClientCert {
    service: ServiceKind,
    current: RwLock<Arc<CertifiedKey>>,
}

impl RotatingClientCert {
    pub(crate) fn new(service: ServiceKind, initial: Arc<CertifiedKey>) -> Self {
        RotatingClientCert {
            service,
            current: RwLock::new(initial),
        }
    }

    pub(crate) fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Installs `next` when its chain differs from the current one; true when swapped.
    pub(crate) fn replace(&self, next: Arc<CertifiedKey>) -> bool {
        let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.cert == next.cert {
            return false;
        }
        *current = next;
        true
    }
}

impl fmt::Debug for RotatingClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotatingClientCert")
            .field("service", &self.service)
            .field("chain_len", &self.current().cert.len())
            .finish_non_exhaustive()
    }
}

impl ResolvesClientCert for RotatingClientCert {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], _sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The swappable parts of a service's configurations, where they are reloaded from, and
/// the generation of the material in use.
pub(crate) struct Rotation {
    service: ResolvedService,
    store: Option<Arc<dyn CertificateStore>>,
    provider: Arc<CryptoProvider>,
    parts: Rotatable,
    /// The CA certificates in use, to compare a reload with.
    ca: Mutex<Vec<CertificateDer<'static>>>,
    generation: Arc<Generation>,
    /// The deadline of each store lookup.
    store_timeout: Duration,
    /// The deadline of one whole reload.
    load_timeout: Duration,
    /// One reload at a time (the refresh task and [`crate::ServiceTls::reload`]).
    reloading: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotation")
            .field("service", &self.service.kind)
            .field("generation", &self.generation.current())
            .finish_non_exhaustive()
    }
}

/// What a reload ([`crate::ServiceTls::reload`]) changed and what failed, for one service.
///
/// A failed piece keeps the material in use; the others are still swapped when they changed.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReloadReport {
    /// The service.
    pub service: ServiceKind,
    /// The material swapped: new handshakes use it ([`Material::ClientCertificate`] for a
    /// new certificate and key, [`Material::CaCertificates`] for new roots).
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

impl Rotation {
    pub(crate) fn new(
        service: &ResolvedService,
        store: Option<Arc<dyn CertificateStore>>,
        provider: Arc<CryptoProvider>,
        parts: Rotatable,
        ca: Option<&[LoadedCa]>,
        options: &TlsOptions,
    ) -> Self {
        Rotation {
            service: service.clone(),
            store,
            provider,
            parts,
            ca: Mutex::new(flatten(ca)),
            generation: Arc::new(Generation::default()),
            store_timeout: options.store_timeout,
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

    /// The swappable parts.
    pub(crate) fn parts(&self) -> &Rotatable {
        &self.parts
    }

    /// The current generation: 0 as built, one more after each reload that changed something.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.current()
    }

    /// A session store for one of the service's configurations; it keeps this rotation
    /// (and so its refresh task) alive.
    pub(crate) fn session_store(self: &Arc<Self>) -> Arc<GenerationSessionStore<Arc<Rotation>>> {
        Arc::new(GenerationSessionStore::new(self.generation.clone(), self.clone()))
    }

    /// Reads the material again and swaps what changed; failures keep what is in use.
    pub(crate) async fn reload(&self) -> ReloadReport {
        let _one_at_a_time = self.reloading.lock().await;
        let kind = self.service.kind;
        let mut report = ReloadReport::new(kind);
        // Every store lookup under its deadline, the whole reload under another; a reload
        // that runs out keeps everything in use, like any other failure.
        let bounded = self
            .store
            .as_deref()
            .map(|store| DeadlineStore::new(store, self.store_timeout));
        let store = bounded.as_ref().map(|s| s as &dyn CertificateStore);
        let loading = async {
            let client = match &self.parts.client {
                Some(_) => load_client(kind, &self.service.mtls.client_certificate, store, &self.provider).await,
                None => Ok(None),
            };
            (client, load_ca_pieces(kind, &self.service.mtls.ca, store).await)
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

        // The generation advances before anything is swapped (see `resumption`).
        let mut next_client = None;
        match (client, &self.parts.client) {
            (Ok(Some(loaded)), Some(resolver)) if resolver.current().cert != loaded.certified.cert => {
                next_client = Some(loaded);
            }
            (Ok(_), _) => {}
            (Err(error), _) => report.failed.push(error),
        }
        let mut next_ca = None;
        if ca_errors.is_empty() {
            if let Some(ca) = ca {
                let certificates = flatten(Some(&ca));
                if *self.ca.lock().unwrap_or_else(std::sync::PoisonError::into_inner) != certificates {
                    match verifiers(kind, Some(&ca), &self.provider) {
                        Ok(verifiers) => next_ca = Some((certificates, verifiers, ca)),
                        Err(error) => report.failed.push(error),
                    }
                }
            }
        } else {
            report.failed.extend(ca_errors);
        }

        if next_client.is_some() || next_ca.is_some() {
            self.generation.advance();
        }
        if let (Some(loaded), Some(resolver)) = (next_client, &self.parts.client) {
            resolver.replace(loaded.certified);
            report.changed.push(Material::ClientCertificate);
            tracing::info!(
                service = %kind,
                origin = %loaded.origin,
                generation = self.generation.current(),
                "client certificate rotated: new TLS connections present the new certificate"
            );
        }
        if let Some((certificates, (target, proxy), loaded)) = next_ca {
            if let Some(trust) = &self.parts.target_trust {
                trust.replace(target);
            }
            self.parts.proxy_trust.replace(proxy);
            *self.ca.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = certificates;
            report.changed.push(Material::CaCertificates);
            let origins: Vec<String> = loaded.iter().map(|ca| ca.origin.to_string()).collect();
            tracing::info!(
                service = %kind,
                origin = %origins.join(", "),
                generation = self.generation.current(),
                "CA certificates rotated: new TLS connections verify servers against the new roots"
            );
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

/// Every CA certificate of `ca`, in order (empty for the default roots).
fn flatten(ca: Option<&[LoadedCa]>) -> Vec<CertificateDer<'static>> {
    ca.unwrap_or_default()
        .iter()
        .flat_map(|ca| ca.certificates.iter().cloned())
        .collect()
}

/// Starts the refresh task on `runtime`: every `interval`, [`Rotation::reload`].
pub(crate) fn spawn_refresh(runtime: &tokio::runtime::Handle, rotation: &Arc<Rotation>, interval: Duration) {
    let weak: Weak<Rotation> = Arc::downgrade(rotation);
    let service = rotation.service.kind;
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

    fn certified(name: &str) -> Arc<CertifiedKey> {
        let provider = rustls::crypto::ring::default_provider();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        Arc::new(CertifiedKey::from_der(vec![cert.der().clone()], der, &provider).unwrap())
    }

    #[test]
    fn replace_swaps_only_a_different_chain() {
        let first = certified("a");
        let resolver = RotatingClientCert::new(ServiceKind::Oauth, first.clone());
        assert!(!resolver.replace(first.clone()));
        assert!(Arc::ptr_eq(&resolver.resolve(&[], &[]).unwrap(), &first));
        let next = certified("b");
        assert!(resolver.replace(next.clone()));
        assert!(Arc::ptr_eq(&resolver.resolve(&[], &[]).unwrap(), &next));
        assert!(resolver.has_certs());
    }

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

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_refresh_that_times_out_keeps_the_certificate_and_warns_naming_the_store_and_id() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

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
        let presented = tls.target.client_auth_cert_resolver.resolve(&[], &[]).unwrap();
        assert_eq!(presented.cert[0], *cert.der(), "the last good certificate is kept");
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
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
