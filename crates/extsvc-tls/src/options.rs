//! [`TlsOptions`]: how often material is reloaded and how long loading it may take.

use std::time::Duration;

use crate::store::DEFAULT_STORE_TIMEOUT;

/// The default [`TlsOptions::refresh_interval`]: 60 seconds.
///
/// Kubernetes refreshes a mounted secret within about a minute of its update (the
/// kubelet's sync period), cert-manager renews certificates long before they expire, and a
/// reload costs one read per file or store id; polling every minute adds at most a minute
/// to the kubelet's own delay for a negligible load, even on a Redis shared by many gateways.
#[doc(hidden)]
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Options of [`build_service_tls`](crate::build_service_tls).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsOptions {
    /// Reload the service's TLS material — client certificate and key, CA certificates,
    /// from files or the store — this often; new TLS handshakes use what changed,
    /// established connections keep theirs (see [`ServiceTls::reload`](crate::ServiceTls::reload)). `None` turns the
    /// periodic reload off ([`ServiceTls::reload`](crate::ServiceTls::reload) still works). Default:
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
    /// The stores that resolve secret references in the path fields and the encoding
    /// secret (SPEC section 6), looked up at every load (build, refresh, reload). Default:
    /// none (a reference then fails naming its store); `ExternalServices::builder()` sets
    /// [`SecretSources::standard`](crate::SecretSources::standard) plus the stores given
    /// to it, with [`TlsOptions::store_timeout`] as each lookup's deadline.
    pub secrets: crate::SecretSources,
}

/// The default [`TlsOptions::load_timeout`]: 30 seconds, three store lookups' worth.
#[doc(hidden)]
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            refresh_interval: Some(DEFAULT_REFRESH_INTERVAL),
            store_timeout: DEFAULT_STORE_TIMEOUT,
            load_timeout: DEFAULT_LOAD_TIMEOUT,
            secrets: crate::SecretSources::default(),
        }
    }
}

impl TlsOptions {
    /// These options with [`TlsOptions::refresh_interval`] set to `interval`.
    pub fn with_refresh_interval(mut self, interval: Option<Duration>) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// These options with [`TlsOptions::secrets`] set to `secrets`.
    pub fn with_secrets(mut self, secrets: crate::SecretSources) -> Self {
        self.secrets = secrets;
        self
    }

    /// These options with [`TlsOptions::store_timeout`] set to `timeout`.
    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
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
