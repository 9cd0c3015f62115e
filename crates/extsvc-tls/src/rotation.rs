//! Client certificate rotation without rebuilding the client.
//!
//! A [`RotatingClientCert`] is the `ResolvesClientCert` of a service's target config. It
//! hands out an `Arc<CertifiedKey>` that a refresh task swaps when the store (or, on
//! request, the files) hold a new certificate. Each handshake asks the resolver, so the
//! next new connection presents the new certificate; established connections are not
//! touched and keep working.
//!
//! Session resumption is off for a rotating target config. A resumed session keeps the
//! client identity of the full handshake it descends from, and rustls gives a session
//! store no way to tell which certificate a ticket belongs to: a connection that started
//! before a swap can store old-identity tickets after it, and resumption chains would then
//! present the old certificate indefinitely (the tests showed exactly this when the cache
//! was merely emptied on a swap). The config keeps a cache of key-exchange hints only
//! ([`KxHintStore`]), which carry no identity. Pooled connections make the cost small.
//!
//! The task holds only a `Weak` reference: when every clone of the config is dropped, it
//! stops at its next tick.

use std::fmt;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use extsvc_config::{EncodingSecret, ServiceKind, Sourced};
use extsvc_resolve::ClientCertificateSource;
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, ResolvesClientCert};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{NamedGroup, SignatureScheme};
use rustls_pki_types::ServerName;

use crate::material::load_client;
use crate::store::CertificateStore;

/// The number of servers whose key-exchange hint is remembered.
const KX_HINT_CACHE_SIZE: usize = 256;

/// A client session store that remembers key-exchange hints (which group a server chose,
/// saving a HelloRetryRequest) but no session: no resumption.
#[derive(Debug)]
pub(crate) struct KxHintStore {
    hints: ClientSessionMemoryCache,
}

impl KxHintStore {
    pub(crate) fn new() -> Self {
        KxHintStore {
            hints: ClientSessionMemoryCache::new(KX_HINT_CACHE_SIZE),
        }
    }
}

impl ClientSessionStore for KxHintStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.hints.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.hints.kx_hint(server_name)
    }

    fn set_tls12_session(&self, _: ServerName<'static>, _: rustls::client::Tls12ClientSessionValue) {}

    fn tls12_session(&self, _: &ServerName<'_>) -> Option<rustls::client::Tls12ClientSessionValue> {
        None
    }

    fn remove_tls12_session(&self, _: &ServerName<'static>) {}

    fn insert_tls13_ticket(&self, _: ServerName<'static>, _: rustls::client::Tls13ClientSessionValue) {}

    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<rustls::client::Tls13ClientSessionValue> {
        None
    }
}

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

    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Installs `next` when its chain differs from the current one; true when swapped.
    fn replace(&self, next: Arc<CertifiedKey>) -> bool {
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

/// What the refresh task reloads from.
pub(crate) struct Reload {
    pub(crate) service: ServiceKind,
    pub(crate) source: ClientCertificateSource,
    pub(crate) store: Option<Arc<dyn CertificateStore>>,
    pub(crate) encoding_secret: Option<Sourced<EncodingSecret>>,
    pub(crate) provider: Arc<CryptoProvider>,
}

/// Starts the refresh task on `runtime`: every `interval`, reload and swap on change.
/// A failed reload keeps the current certificate and logs why.
pub(crate) fn spawn_refresh(
    runtime: &tokio::runtime::Handle,
    resolver: &Arc<RotatingClientCert>,
    reload: Reload,
    interval: Duration,
) {
    let weak: Weak<RotatingClientCert> = Arc::downgrade(resolver);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if weak.strong_count() == 0 {
                break;
            }
            let loaded = load_client(
                reload.service,
                &reload.source,
                reload.store.as_deref(),
                reload.encoding_secret.as_ref(),
                &reload.provider,
            )
            .await;
            let Some(resolver) = weak.upgrade() else { break };
            match loaded {
                Ok(Some(loaded)) => {
                    if resolver.replace(loaded.certified) {
                        tracing::info!(
                            service = %reload.service,
                            origin = %loaded.origin,
                            "client certificate rotated: new TLS connections present the new certificate"
                        );
                    }
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    service = %reload.service,
                    %error,
                    "client certificate reload failed; keeping the current certificate"
                ),
            }
        }
        tracing::debug!(service = %reload.service, "client certificate refresh stopped: configuration dropped");
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

    #[test]
    fn the_kx_hint_store_keeps_hints_and_no_session() {
        let store = KxHintStore::new();
        let name = ServerName::try_from("localhost").unwrap();
        store.set_kx_hint(name.clone(), NamedGroup::X25519);
        assert_eq!(store.kx_hint(&name), Some(NamedGroup::X25519));
        assert!(store.tls12_session(&name).is_none());
        assert!(store.take_tls13_ticket(&name).is_none());
    }
}
