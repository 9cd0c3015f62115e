//! [`DeadlineStore`]: every certificate store lookup under a deadline.
//!
//! The deadline is applied here, around any [`CertificateStore`], not inside one store:
//! a user's store, the directory store (a file on a hung NFS mount) and the Redis store
//! (a server that accepts and never answers) are all bounded the same way. The call sites
//! — building a service's TLS, `check`, the rotation refresh — wrap the store they were
//! given ([`crate::TlsOptions::store_timeout`], default [`DEFAULT_STORE_TIMEOUT`]).

use std::fmt;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use super::certificate_store::{CertificateStore, StoreFuture};
use crate::error::StoreError;
use crate::pem::ClientCertificate;

/// The default deadline of one store lookup (connecting included): 10 seconds. A store on
/// the same network answers in milliseconds; ten seconds leaves room for a slow TLS
/// handshake to a remote Redis and still fails a hung one well before an operator gives up.
#[doc(hidden)]
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// A store whose every lookup fails with [`StoreError::Timeout`] after `timeout`.
pub(crate) struct DeadlineStore<'s> {
    inner: &'s dyn CertificateStore,
    timeout: Duration,
}

impl<'s> DeadlineStore<'s> {
    pub(crate) fn new(inner: &'s dyn CertificateStore, timeout: Duration) -> Self {
        DeadlineStore { inner, timeout }
    }

    async fn bounded<T>(&self, id: &str, lookup: StoreFuture<'_, T>) -> Result<T, StoreError> {
        // A timeout too large to add to the clock means no deadline.
        match tokio::time::Instant::now().checked_add(self.timeout) {
            Some(deadline) => match tokio::time::timeout_at(deadline, lookup).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::Timeout {
                    id: id.to_owned(),
                    store: format!("{:?}", self.inner),
                    after: self.timeout,
                }),
            },
            None => lookup.await,
        }
    }
}

impl fmt::Debug for DeadlineStore<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl CertificateStore for DeadlineStore<'_> {
    fn client_certificate<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ClientCertificate> {
        Box::pin(self.bounded(id, self.inner.client_certificate(id)))
    }

    fn ca_certificates<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<CertificateDer<'static>>> {
        Box::pin(self.bounded(id, self.inner.ca_certificates(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that never answers.
    #[derive(Debug)]
    struct Silent;

    impl CertificateStore for Silent {
        fn client_certificate<'a>(&'a self, _: &'a str) -> StoreFuture<'a, ClientCertificate> {
            Box::pin(std::future::pending())
        }
        fn ca_certificates<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Vec<CertificateDer<'static>>> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn a_silent_store_times_out_naming_the_store_and_the_id() {
        let store = DeadlineStore::new(&Silent, Duration::from_millis(20));
        let error = store.ca_certificates("root-ca").await.unwrap_err();
        assert!(matches!(error, StoreError::Timeout { .. }));
        let message = error.to_string();
        assert!(message.contains("root-ca") && message.contains("Silent"), "{message}");
        assert!(store.client_certificate("c").await.is_err());
    }
}
