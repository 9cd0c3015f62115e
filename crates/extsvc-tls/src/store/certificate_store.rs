//! [`CertificateStore`]: the trait every store implements, and what its lookups return.

use std::future::Future;
use std::pin::Pin;

use rustls_pki_types::CertificateDer;

use crate::error::StoreError;
use crate::pem::ClientCertificate;

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
