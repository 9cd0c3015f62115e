//! The certificate store: the one seam a user implements to bring certificates by id.
//!
//! `cert_id` and `ca_cert_ids` in the configuration name entries of a [`CertificateStore`].
//! Provided implementations:
//! - [`MemoryStore`]: in memory, entries inserted and replaced at run time;
//! - [`DirectoryStore`]: `DIR/<id>.pem` files;
//! - `RedisStore` (cargo feature `redis`): key `cert-raw-<id>` in Redis, as Tyk keeps its store.
//!
//! Stores return entries as they hold them: a private key encrypted the way Tyk encrypts
//! it ([`crate::encrypted_pem`]) comes back still encrypted
//! ([`crate::StoredPrivateKey::Encrypted`]) and is decrypted with the encoding secret when
//! the service's TLS is built, the same way for every store.
//!
//! The trait is object safe; its methods return boxed futures, so a store can do network
//! I/O. Every lookup runs under a deadline applied by the caller, whatever the store
//! ([`crate::TlsOptions::store_timeout`]). Stores are read again at every reload (every
//! refresh interval, on by default: [`crate::TlsOptions::refresh_interval`]; or
//! [`crate::ServiceTls::reload`]).

mod deadline;
mod directory;
mod memory;
#[cfg(feature = "redis")]
mod redis;

pub(crate) use deadline::DeadlineStore;
pub use deadline::DEFAULT_STORE_TIMEOUT;
pub use directory::DirectoryStore;
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{InvalidRedisUrl, RedisConnector, RedisStore, RedisUrl, TcpConnector, DEFAULT_KEY_PREFIX};

use std::future::Future;
use std::pin::Pin;

use extsvc_config::{escaped, shown};
use rustls_pki_types::CertificateDer;

use crate::pem::{ClientCertificate, PemError};

/// The future a [`CertificateStore`] method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A source of certificates by id.
///
/// Implement this to plug in your own store (a secrets manager, a database, …).
///
/// ```
/// use extsvc::tls::{CertificateStore, ClientCertificate, StoreError, StoreFuture};
/// use extsvc::rustls::pki_types::CertificateDer;
///
/// /// A store that knows nothing.
/// #[derive(Debug)]
/// struct EmptyStore;
///
/// impl CertificateStore for EmptyStore {
///     fn client_certificate<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ClientCertificate> {
///         Box::pin(async move { Err(StoreError::NotFound { id: id.to_owned() }) })
///     }
///     fn ca_certificates<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<CertificateDer<'static>>> {
///         Box::pin(async move { Err(StoreError::NotFound { id: id.to_owned() }) })
///     }
/// }
/// ```
pub trait CertificateStore: std::fmt::Debug + Send + Sync {
    /// The client certificate chain (end-entity first) and private key stored under `id`.
    fn client_certificate<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ClientCertificate>;

    /// The CA certificates stored under `id` (one or more; intermediates included).
    fn ca_certificates<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<CertificateDer<'static>>>;
}

/// Why a store lookup failed. Messages name the id; they never contain key material or
/// store credentials: ids are shown through [`extsvc_config::shown`] (PEM text pasted as
/// an id appears as `<PEM text, N bytes>`), and a backend's own text is capped and its
/// control characters escaped ([`extsvc_config::escaped`]).
///
/// `Debug` is the message (`StoreError("…")`), for the same reason.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Nothing is stored under the id.
    #[error("certificate not found in store: {}", shown(id))]
    NotFound {
        /// The id looked up.
        id: String,
    },
    /// The id cannot name an entry (empty, or characters the store does not allow, such as `/`).
    #[error("invalid certificate id \"{}\": {reason}", shown(id))]
    InvalidId {
        /// The id.
        id: String,
        /// Why.
        reason: &'static str,
    },
    /// The entry exists but its content is unusable (no certificate, no key, malformed PEM).
    #[error("certificate store entry {}: {source}", shown(id))]
    InvalidEntry {
        /// The id.
        id: String,
        /// What is wrong with it.
        source: PemError,
    },
    /// Reading the entry failed (file system, network).
    #[error(
        "certificate store entry {}: failed to read {}: {source}",
        shown(id),
        shown(location)
    )]
    Io {
        /// The id.
        id: String,
        /// Where it was read from (a file path, `redis 127.0.0.1:6379`).
        location: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store did not answer within the deadline ([`crate::TlsOptions::store_timeout`]).
    #[error("certificate store entry {}: no answer from {store} within {after:?}", shown(id))]
    Timeout {
        /// The id.
        id: String,
        /// The store (its `Debug`, which never shows credentials).
        store: String,
        /// The deadline.
        after: std::time::Duration,
    },
    /// The entry is larger than a certificate file may be (1 MiB): it was not read whole.
    #[error(
        "certificate store entry {}: larger than {limit} bytes, the limit of a certificate entry",
        shown(id)
    )]
    TooLarge {
        /// The id.
        id: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The store's backend answered with an error (e.g. a Redis `-ERR` reply).
    #[error("certificate store entry {}: {}", shown(id), escaped(message))]
    Backend {
        /// The id.
        id: String,
        /// The backend's message.
        message: String,
    },
}

impl std::fmt::Debug for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StoreError").field(&self.to_string()).finish()
    }
}

/// Rejects ids that cannot be a single file name or key suffix.
pub(crate) fn check_id(id: &str) -> Result<(), StoreError> {
    let reason = if id.is_empty() {
        "empty"
    } else if id.contains(['/', '\\']) || id == "." || id == ".." {
        "contains a path separator"
    } else if id.chars().any(char::is_control) {
        "contains a control character"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidId {
        id: id.to_owned(),
        reason,
    })
}
