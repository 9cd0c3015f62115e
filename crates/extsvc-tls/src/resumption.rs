//! TLS session resumption that never crosses a change of TLS material.
//!
//! A resumed session keeps the identity (client certificate) and the server verification of
//! the full handshake it descends from: the server does not ask for a certificate again and
//! the client does not verify the server's again. So a session saved before a rotation must
//! never be resumed after it. [`GenerationSessionStore`] keeps the sessions of the current
//! [`Generation`] of a service's material only; when the generation advances (a client
//! certificate or CA swapped), every saved session is dropped at the next access.
//!
//! rustls does not tell a session store which connection (and so which certificate) a
//! ticket comes from: a connection whose full handshake used the old certificate can hand
//! over its tickets just after the swap. Those would be filed under the new generation. So
//! after each advance the store *settles* for [`SETTLE`]: tickets offered meanwhile are
//! dropped, not saved. Servers send TLS 1.3 tickets right after the handshake and rustls
//! files TLS 1.2 sessions at its end, so the tickets of connections that started before the
//! swap arrive within a round trip or two of their handshake; [`SETTLE`] is far longer
//! (see `docs/tls.md`, "Rotation", for what remains).
//!
//! Key-exchange hints (which group a server chose) carry no identity and are kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::NamedGroup;
use rustls_pki_types::ServerName;

/// How long after a swap offered tickets are dropped rather than saved.
pub(crate) const SETTLE: Duration = Duration::from_secs(5);

/// Sessions kept per configuration (rustls' default size).
const SESSION_CACHE_SIZE: usize = 256;

/// The generation of a service's TLS material: a number that advances with every swap.
#[derive(Debug, Default)]
pub(crate) struct Generation {
    number: AtomicU64,
    settles_at: Mutex<Option<Instant>>,
}

impl Generation {
    /// The current generation (0 for the material the configs were built with).
    pub(crate) fn current(&self) -> u64 {
        self.number.load(Ordering::Acquire)
    }

    /// Starts a new generation: sessions saved so far are never resumed again.
    pub(crate) fn advance(&self) {
        // Settling starts before the number moves, so no ticket is filed under the new
        // number before settling covers it.
        *self
            .settles_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now() + SETTLE);
        self.number.fetch_add(1, Ordering::AcqRel);
    }

    /// True while tickets offered may still come from connections of the previous generation.
    fn settling(&self) -> bool {
        let settles_at = *self
            .settles_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        settles_at.is_some_and(|at| Instant::now() < at)
    }
}

/// The sessions of one generation.
#[derive(Debug)]
struct Sessions {
    generation: u64,
    cache: ClientSessionMemoryCache,
}

/// A rustls client session store that resumes only sessions of the current generation.
///
/// `keep_alive` is what the store's configuration keeps alive by holding the store (the
/// service's rotation, whose refresh task runs while any configuration exists).
#[derive(Debug)]
pub(crate) struct GenerationSessionStore<K: std::fmt::Debug + Send + Sync> {
    generation: Arc<Generation>,
    kx_hints: ClientSessionMemoryCache,
    sessions: Mutex<Sessions>,
    _keep_alive: K,
}

impl<K: std::fmt::Debug + Send + Sync> GenerationSessionStore<K> {
    pub(crate) fn new(generation: Arc<Generation>, keep_alive: K) -> Self {
        GenerationSessionStore {
            sessions: Mutex::new(Sessions {
                generation: generation.current(),
                cache: ClientSessionMemoryCache::new(SESSION_CACHE_SIZE),
            }),
            generation,
            kx_hints: ClientSessionMemoryCache::new(SESSION_CACHE_SIZE),
            _keep_alive: keep_alive,
        }
    }

    /// The current generation's sessions, older ones dropped first.
    fn current_sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.generation.current();
        if sessions.generation != current {
            *sessions = Sessions {
                generation: current,
                cache: ClientSessionMemoryCache::new(SESSION_CACHE_SIZE),
            };
        }
        sessions
    }

    /// Saves through `f` unless the generation is settling, or advances meanwhile.
    fn save(&self, f: impl FnOnce(&ClientSessionMemoryCache)) {
        // Read before the settling check: an advance after this read either shows as
        // settling or as a different generation when saving.
        let generation = self.generation.current();
        if self.generation.settling() {
            tracing::debug!("TLS session not saved: the TLS material changed moments ago");
            return;
        }
        let sessions = self.current_sessions();
        if sessions.generation == generation {
            f(&sessions.cache);
        }
    }
}

impl<K: std::fmt::Debug + Send + Sync> ClientSessionStore for GenerationSessionStore<K> {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.kx_hints.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.kx_hints.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.save(|cache| cache.set_tls12_session(server_name, value));
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.current_sessions().cache.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.current_sessions().cache.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(&self, server_name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.save(|cache| cache.insert_tls13_ticket(server_name, value));
    }

    fn take_tls13_ticket(&self, server_name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.current_sessions().cache.take_tls13_ticket(server_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_settles_after_each_advance_and_kx_hints_survive() {
        let generation = Arc::new(Generation::default());
        assert_eq!(generation.current(), 0);
        assert!(!generation.settling());
        let store = GenerationSessionStore::new(generation.clone(), ());
        let name = ServerName::try_from("localhost").unwrap();
        store.set_kx_hint(name.clone(), NamedGroup::X25519);
        generation.advance();
        assert_eq!(generation.current(), 1);
        assert!(generation.settling());
        assert_eq!(store.kx_hint(&name), Some(NamedGroup::X25519));
        assert!(store.take_tls13_ticket(&name).is_none());
        assert!(store.tls12_session(&name).is_none());
    }
}
