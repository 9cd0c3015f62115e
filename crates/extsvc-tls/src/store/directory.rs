//! [`DirectoryStore`]: one PEM file per id.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;

use super::certificate_store::{check_id, CertificateStore, StoreFuture};
use crate::error::StoreError;
use crate::pem::{parse_certificates, ClientCertificate};

/// A directory of PEM bundles: `DIR/<id>.pem` holds one or more CERTIFICATE blocks
/// (end-entity first) and, for a client certificate, its PRIVATE KEY.
///
/// Files are read on every lookup (through the same bounded read as `cert_file`: regular
/// files of at most 1 MiB, a FIFO or device refused; see `extsvc_config::internal::read_bounded`), so
/// replacing a file rotates the certificate at the next reload
/// ([`crate::TlsOptions::refresh_interval`]). Write the new file under another name and
/// rename it over the old one, so that a reader never sees half a file.
#[derive(Debug, Clone)]
pub struct DirectoryStore {
    dir: PathBuf,
}

impl DirectoryStore {
    /// A store over `dir`. The directory is not read until a lookup.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirectoryStore { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `id`.
    pub fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.pem"))
    }

    async fn read(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        check_id(id)?;
        let path = self.path_of(id);
        match crate::pem_file::read_pem_file(&path).await {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound { id: id.to_owned() }),
            Err(source) => Err(StoreError::Io {
                id: id.to_owned(),
                location: path.display().to_string(),
                cause: source,
            }),
        }
    }
}

impl CertificateStore for DirectoryStore {
    fn client_certificate<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ClientCertificate> {
        Box::pin(async move {
            let pem = self.read(id).await?;
            ClientCertificate::from_pem(&pem).map_err(|source| StoreError::InvalidEntry {
                id: id.to_owned(),
                cause: source,
            })
        })
    }

    fn ca_certificates<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<CertificateDer<'static>>> {
        Box::pin(async move {
            let pem = self.read(id).await?;
            parse_certificates(&pem).map_err(|source| StoreError::InvalidEntry {
                id: id.to_owned(),
                cause: source,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ids_map_to_pem_files_and_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["c".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(
            dir.path().join("client.pem"),
            format!("{}{}", cert.pem(), key.serialize_pem()),
        )
        .unwrap();
        std::fs::write(dir.path().join("empty.pem"), "").unwrap();
        let store = DirectoryStore::new(dir.path());
        assert_eq!(
            store.client_certificate("client").await.unwrap().chain()[0],
            *cert.der()
        );
        assert_eq!(store.ca_certificates("client").await.unwrap(), vec![cert.der().clone()]);
        assert!(matches!(
            store.ca_certificates("empty").await,
            Err(StoreError::InvalidEntry { .. })
        ));
        assert!(matches!(
            store.ca_certificates("absent").await,
            Err(StoreError::NotFound { .. })
        ));
        for id in ["", "..", "../client", "a/b", "a\\b"] {
            assert!(
                matches!(store.ca_certificates(id).await, Err(StoreError::InvalidId { .. })),
                "{id:?}"
            );
        }
        // A directory where a file should be is an I/O error naming the path.
        std::fs::create_dir(dir.path().join("dir.pem")).unwrap();
        let error = store.ca_certificates("dir").await.unwrap_err();
        assert!(error.to_string().contains("dir.pem"), "{error}");
    }
}
