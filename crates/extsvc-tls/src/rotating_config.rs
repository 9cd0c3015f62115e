//! [`RotatingConfig`]: the rustls configuration of one TLS leg as it is now, taken once per
//! new connection.

use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::ClientConfig;

use crate::config::Leg;
use crate::rotation::Rotation;

/// The rustls client configuration of one TLS leg of a service, as it is now.
///
/// Take [`RotatingConfig::current`] for each new connection (and only then: it is a read
/// lock and a reference count, not a per-request cost). When the service's material
/// rotates, `current` returns a new configuration built for the new material, with a
/// session store of its own: a connection saves its sessions in the store of the
/// configuration it was made with, so a connection opened after a rotation can never
/// resume a session made with the old material, however late the old connection reads its
/// tickets. A configuration taken from `current` never changes; keep it no longer than
/// the connection made with it.
///
/// Cheap to clone; clones share everything. While a `RotatingConfig` of a rotating service
/// exists, its refresh task runs ([`crate::TlsOptions::refresh_interval`]).
///
/// A configuration built elsewhere converts with `From` (`Arc<ClientConfig>` or
/// `ClientConfig`) and never changes.
#[derive(Clone)]
pub struct RotatingConfig {
    source: Arc<Source>,
}

enum Source {
    /// One configuration for good.
    Fixed(Arc<ClientConfig>),
    /// The current generation's configuration of a leg of a rotating service.
    Rotating { rotation: Arc<Rotation>, leg: Leg },
    /// `base` with ALPN set, derived once per configuration of `base`.
    Alpn {
        base: RotatingConfig,
        protocols: Vec<Vec<u8>>,
        /// The last configuration of `base` seen (held, so that it is compared by identity
        /// and never confused with a later one at the same address) and its derived copy.
        derived: RwLock<Option<(Arc<ClientConfig>, Arc<ClientConfig>)>>,
    },
}

impl RotatingConfig {
    pub(crate) fn rotating(rotation: Arc<Rotation>, leg: Leg) -> RotatingConfig {
        RotatingConfig {
            source: Arc::new(Source::Rotating { rotation, leg }),
        }
    }

    /// The configuration for a new connection: the current generation's.
    pub fn current(&self) -> Arc<ClientConfig> {
        match &*self.source {
            Source::Fixed(config) => config.clone(),
            Source::Rotating { rotation, leg } => rotation.config(*leg),
            Source::Alpn {
                base,
                protocols,
                derived,
            } => {
                let base = base.current();
                if let Some((from, config)) = &*derived.read().unwrap_or_else(std::sync::PoisonError::into_inner) {
                    if Arc::ptr_eq(from, &base) {
                        return config.clone();
                    }
                }
                // First use of this generation: derive it (two connections racing here
                // each derive one, and the last is kept; both are this generation's). The
                // copy shares the base configuration's session store, which belongs to the
                // same generation.
                let mut config = (*base).clone();
                config.alpn_protocols = protocols.clone();
                let config = Arc::new(config);
                *derived.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((base, config.clone()));
                config
            }
        }
    }

    /// The generation of the material [`current`](RotatingConfig::current) returns: 0 as
    /// built, one more after each reload that changed the service's client certificate or
    /// CA (the same number for both legs of a service); always 0 for a fixed
    /// configuration. A pool tags each connection with the generation it was made with and
    /// stops reusing it once this moves on (SPEC section 4: rotation reaches the wire). A
    /// read lock, no allocation.
    pub fn generation(&self) -> u64 {
        match &*self.source {
            Source::Fixed(_) => 0,
            Source::Rotating { rotation, .. } => rotation.generation(),
            Source::Alpn { base, .. } => base.generation(),
        }
    }

    /// A receiver of each new [`generation`](RotatingConfig::generation) as it is
    /// published, to act on a rotation at once (close idle connections made with the old
    /// material); `None` for a configuration that never changes. It does not keep the
    /// service's material alive: once every configuration of the service is dropped, its
    /// `changed()` returns an error.
    pub fn watch_generation(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        match &*self.source {
            Source::Fixed(_) => None,
            Source::Rotating { rotation, .. } => Some(rotation.watch()),
            Source::Alpn { base, .. } => base.watch_generation(),
        }
    }

    /// This leg with ALPN `protocols` (in order of preference): each of its configurations
    /// copied once, with everything else (certificate, verifier, session store) kept.
    pub fn with_alpn(&self, protocols: Vec<Vec<u8>>) -> RotatingConfig {
        RotatingConfig {
            source: Arc::new(Source::Alpn {
                base: self.clone(),
                protocols,
                derived: RwLock::new(None),
            }),
        }
    }
}

impl From<Arc<ClientConfig>> for RotatingConfig {
    fn from(config: Arc<ClientConfig>) -> Self {
        RotatingConfig {
            source: Arc::new(Source::Fixed(config)),
        }
    }
}

impl From<ClientConfig> for RotatingConfig {
    fn from(config: ClientConfig) -> Self {
        RotatingConfig::from(Arc::new(config))
    }
}

impl fmt::Debug for RotatingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.source {
            Source::Fixed(_) => f.write_str("RotatingConfig::Fixed"),
            Source::Rotating { rotation, leg } => f
                .debug_struct("RotatingConfig")
                .field("leg", leg)
                .field("rotation", rotation)
                .finish(),
            Source::Alpn { base, protocols, .. } => {
                let protocols: Vec<String> = protocols
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                f.debug_struct("RotatingConfig")
                    .field("alpn", &protocols)
                    .field("base", base)
                    .finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClientConfig {
        ClientConfig::builder_with_provider(crate::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    }

    #[test]
    fn alpn_is_set_on_a_copy_made_once() {
        let base = RotatingConfig::from(config());
        let http1 = base.with_alpn(vec![b"http/1.1".to_vec()]);
        let first = http1.current();
        assert_eq!(first.alpn_protocols, [b"http/1.1".to_vec()]);
        assert!(base.current().alpn_protocols.is_empty());
        assert!(Arc::ptr_eq(&first, &http1.current()));
        assert!(Arc::ptr_eq(&first, &http1.current()));
        assert!(format!("{http1:?}").contains("http/1.1"));
    }
}
