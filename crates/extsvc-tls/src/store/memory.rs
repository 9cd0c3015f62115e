//! [`MemoryStore`]: certificates held in memory, replaceable at run time.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use rustls_pki_types::CertificateDer;

use super::certificate_store::{CertificateStore, StoreFuture};
use crate::error::PemError;
use crate::error::StoreError;
use crate::pem::{parse_certificates, ClientCertificate};

#[derive(Clone)]
enum Entry {
    Client(ClientCertificate),
    Ca(Vec<CertificateDer<'static>>),
}

/// An in-memory certificate store. Inserting under an existing id replaces the entry, so
/// a rotation is one [`MemoryStore::insert_client_certificate`] call.
///
/// A client certificate entry also serves [`CertificateStore::ca_certificates`] (its chain),
/// as a PEM bundle in a directory store would.
#[derive(Default)]
pub struct MemoryStore {
    entries: RwLock<HashMap<String, Entry>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// Stores (or replaces) a client certificate and key under `id`.
    pub fn insert_client_certificate(&self, id: impl Into<String>, certificate: ClientCertificate) {
        self.write().insert(id.into(), Entry::Client(certificate));
    }

    /// Stores (or replaces) CA certificates under `id`.
    pub fn insert_ca_certificates(&self, id: impl Into<String>, certificates: Vec<CertificateDer<'static>>) {
        self.write().insert(id.into(), Entry::Ca(certificates));
    }

    /// Stores (or replaces) a PEM bundle under `id`: with a private key it is a client
    /// certificate entry, without one a CA entry.
    pub fn insert_pem(&self, id: impl Into<String>, pem: &[u8]) -> Result<(), PemError> {
        let entry = match ClientCertificate::from_pem(pem) {
            Ok(client) => Entry::Client(client),
            Err(PemError::NoBlock { .. }) => Entry::Ca(parse_certificates(pem)?),
            Err(e) => return Err(e),
        };
        self.write().insert(id.into(), entry);
        Ok(())
    }

    /// Removes the entry under `id`; true when there was one.
    pub fn remove(&self, id: &str) -> bool {
        self.write().remove(id).is_some()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, id: &str) -> Result<Entry, StoreError> {
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(id)
            .cloned()
            .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ids: Vec<&String> = entries.keys().collect();
        ids.sort();
        f.debug_struct("MemoryStore").field("ids", &ids).finish()
    }
}

impl CertificateStore for MemoryStore {
    fn client_certificate<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ClientCertificate> {
        let result = self.get(id).and_then(|entry| match entry {
            Entry::Client(client) => Ok(client),
            Entry::Ca(_) => Err(StoreError::InvalidEntry {
                id: id.to_owned(),
                cause: PemError::NoBlock {
                    expected: "PRIVATE KEY (PKCS#8, RSA PKCS#1 or EC SEC1)",
                },
            }),
        });
        Box::pin(std::future::ready(result))
    }

    fn ca_certificates<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<CertificateDer<'static>>> {
        let result = self.get(id).map(|entry| match entry {
            Entry::Client(client) => client.into_parts().0,
            Entry::Ca(certs) => certs,
        });
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["c".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[tokio::test]
    async fn pem_with_a_key_is_a_client_entry_without_one_a_ca_entry() {
        let (cert, key) = bundle();
        let store = MemoryStore::new();
        store.insert_pem("client", format!("{cert}{key}").as_bytes()).unwrap();
        store.insert_pem("ca", cert.as_bytes()).unwrap();
        assert_eq!(store.client_certificate("client").await.unwrap().chain().len(), 1);
        assert_eq!(store.ca_certificates("client").await.unwrap().len(), 1);
        assert_eq!(store.ca_certificates("ca").await.unwrap().len(), 1);
        let error = store.client_certificate("ca").await.unwrap_err();
        assert!(matches!(error, StoreError::InvalidEntry { .. }), "{error}");
        assert!(store.insert_pem("bad", key.as_bytes()).is_err());
        assert!(store.insert_pem("empty", b"").is_err());
        assert!(store.remove("client"));
        assert_eq!(
            store.client_certificate("client").await.unwrap_err().to_string(),
            "certificate not found in store: client"
        );
        let debug = format!("{store:?}");
        assert_eq!(debug, "MemoryStore { ids: [\"ca\"] }");
    }
}
