//! The operating system's trusted roots, found as Go finds them (SPEC section 3): what a
//! Tyk gateway trusts when no `ca_file` / `ca_cert_ids` is configured, so a corporate CA
//! installed in the OS store works here without any setting.
//!
//! Go's `crypto/x509` on Linux (`root_linux.go`, `root_unix.go`) reads:
//! 1. the first of its bundle files that can be read — or only `SSL_CERT_FILE` when set;
//! 2. then every file of its certificate directories — or of the `:`-separated
//!    `SSL_CERT_DIR` when set — skipping symbolic links that point into the same directory
//!    (the `<hash>.0` links `c_rehash` makes beside the files they name).
//!
//! This module does the same, with the two variables read from the resolution's
//! environment snapshot ([`extsvc_resolve::SystemRoots`]), never from the process. Not
//! rustls-native-certs: on Linux it runs the same search (through openssl-probe) but reads
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` from the process environment itself, which would break
//! the rule that everything below the command takes an explicit snapshot (`docs/tls.md`).
//! When the system yields no certificate at all (a distroless image), the webpki-roots
//! bundle is used, with a warning.
//!
//! Loading happens once per process for each pair of variable values (a few hundred small
//! files at most), at build time; each file is read bounded.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use extsvc_resolve::SystemRoots;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// Go's bundle files on Linux, in its order (`crypto/x509/root_linux.go`).
const CERT_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",                // Debian/Ubuntu/Gentoo etc.
    "/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora/RHEL 6
    "/etc/ssl/ca-bundle.pem",                            // OpenSUSE
    "/etc/pki/tls/cacert.pem",                           // OpenELEC
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS/RHEL 7
    "/etc/ssl/cert.pem",                                 // Alpine Linux
];

/// Go's certificate directories on Linux, in its order.
const CERT_DIRECTORIES: &[&str] = &["/etc/ssl/certs", "/etc/pki/tls/certs"];

/// The largest bundle file read (Debian's is about 220 KB).
const BUNDLE_LIMIT: u64 = 16 * 1024 * 1024;

/// The most entries read from one directory.
const DIRECTORY_ENTRY_LIMIT: usize = 20_000;

/// The roots a service trusts by default, and where they came from.
#[derive(Debug)]
pub(crate) struct LoadedRoots {
    /// Every root, deduplicated.
    pub(crate) roots: RootCertStore,
    /// How many roots each file or directory contributed (after deduplication), in the
    /// order read; only the places that contributed.
    pub(crate) origins: Vec<(PathBuf, usize)>,
    /// True when the system had none and the webpki-roots bundle stands in.
    pub(crate) webpki_fallback: bool,
}

impl LoadedRoots {
    /// One line for `extsvc check`: how many roots came from where.
    pub(crate) fn summary(&self) -> String {
        if self.webpki_fallback {
            return format!(
                "system roots: none found (SSL_CERT_FILE, SSL_CERT_DIR, the platform bundle); using the {} \
                 webpki-roots certificates instead",
                self.roots.len()
            );
        }
        let places: Vec<String> = self
            .origins
            .iter()
            .map(|(path, count)| format!("{count} from {}", extsvc_config::shown(path)))
            .collect();
        format!("system roots: {} ({})", self.roots.len(), places.join(", "))
    }
}

/// The key of the process-wide cache: the values of the two variables.
type CacheKey = (Option<PathBuf>, Option<Vec<PathBuf>>);

/// The default roots for `spec`, loaded on first use and kept for the process.
pub(crate) fn system_roots(spec: &SystemRoots) -> Arc<LoadedRoots> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, Arc<LoadedRoots>>>> = OnceLock::new();
    let key: CacheKey = (
        spec.cert_file.as_ref().map(|f| f.value.clone()),
        spec.cert_dirs.as_ref().map(|d| d.value.clone()),
    );
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(loaded) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return loaded.clone();
    }
    let files: Vec<PathBuf> = match &key.0 {
        Some(file) => vec![file.clone()],
        None => CERT_FILES.iter().map(PathBuf::from).collect(),
    };
    let dirs: Vec<PathBuf> = match &key.1 {
        Some(dirs) => dirs.clone(),
        None => CERT_DIRECTORIES.iter().map(PathBuf::from).collect(),
    };
    let loaded = Arc::new(load(&files, &dirs));
    if loaded.webpki_fallback {
        tracing::warn!(
            "no trusted roots found in the operating system (SSL_CERT_FILE, SSL_CERT_DIR, the platform bundle): \
             using the webpki-roots bundle; a CA installed in the system store is not trusted"
        );
    } else {
        tracing::info!("{}", loaded.summary());
    }
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_insert(loaded)
        .clone()
}

/// Go's search over `files` (the first readable one) and `dirs` (all of them).
fn load(files: &[PathBuf], dirs: &[PathBuf]) -> LoadedRoots {
    let mut found = Found::default();
    for file in files {
        if let Ok(pem) = extsvc_config::internal::read_bounded(file, BUNDLE_LIMIT) {
            found.add(file, &pem);
            break;
        }
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let before = found.roots.len();
        for entry in entries.flatten().take(DIRECTORY_ENTRY_LIMIT) {
            let path = entry.path();
            if is_same_dir_symlink(dir, &path) {
                continue;
            }
            if let Ok(pem) = extsvc_config::internal::read_bounded(&path, BUNDLE_LIMIT) {
                found.add_quietly(&pem);
            }
        }
        let added = found.roots.len() - before;
        if added > 0 {
            found.origins.push((dir.clone(), added));
        }
    }
    if found.roots.is_empty() {
        return LoadedRoots {
            roots: RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            origins: Vec::new(),
            webpki_fallback: true,
        };
    }
    LoadedRoots {
        roots: found.roots,
        origins: found.origins,
        webpki_fallback: false,
    }
}

/// A symbolic link whose target is in the directory itself (Go skips them: the file it
/// names is read anyway).
fn is_same_dir_symlink(dir: &Path, path: &Path) -> bool {
    let Ok(target) = std::fs::read_link(path) else {
        return false;
    };
    let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
    parent.as_os_str().is_empty() || parent == dir
}

struct Found {
    roots: RootCertStore,
    seen: HashSet<Vec<u8>>,
    origins: Vec<(PathBuf, usize)>,
}

impl Default for Found {
    fn default() -> Self {
        Found {
            roots: RootCertStore::empty(),
            seen: HashSet::new(),
            origins: Vec::new(),
        }
    }
}

impl Found {
    /// Adds the certificates of `pem` (others and unparsable ones skipped, as Go's
    /// `AppendCertsFromPEM`), counting them against `origin`.
    fn add(&mut self, origin: &Path, pem: &[u8]) {
        let added = self.add_quietly(pem);
        if added > 0 {
            self.origins.push((origin.to_path_buf(), added));
        }
    }

    fn add_quietly(&mut self, pem: &[u8]) -> usize {
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(pem).flatten() {
            if self.seen.contains(certificate.as_ref()) {
                continue;
            }
            let (ok, _) = self.roots.add_parsable_certificates([certificate.clone()]);
            if ok > 0 {
                self.seen.insert(certificate.to_vec());
                added += ok;
            }
        }
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn the_first_readable_file_then_every_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (ca_pem(), ca_pem(), ca_pem());
        let bundle = dir.path().join("bundle.pem");
        std::fs::write(&bundle, format!("{a}{b}{a}")).unwrap();
        let other = dir.path().join("other.pem");
        std::fs::write(&other, &c).unwrap();
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).unwrap();
        std::fs::write(certs.join("c.pem"), &c).unwrap();
        std::fs::write(certs.join("not-pem.txt"), "hello").unwrap();
        std::os::unix::fs::symlink("c.pem", certs.join("abcd1234.0")).unwrap();

        let missing = dir.path().join("missing.pem");
        let loaded = load(&[missing, bundle.clone(), other], std::slice::from_ref(&certs));
        assert!(!loaded.webpki_fallback);
        assert_eq!(
            loaded.roots.len(),
            3,
            "a and b from the bundle (a once), c from the directory"
        );
        assert_eq!(loaded.origins, [(bundle, 2), (certs, 1)]);
        assert!(
            loaded.summary().starts_with("system roots: 3 ("),
            "{}",
            loaded.summary()
        );
    }

    #[test]
    fn nothing_found_falls_back_to_webpki_roots_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(&[dir.path().join("none.pem")], &[dir.path().join("none")]);
        assert!(loaded.webpki_fallback);
        assert!(loaded.roots.len() > 100);
        assert!(loaded.summary().contains("webpki-roots"), "{}", loaded.summary());
    }
}
