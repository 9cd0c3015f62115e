//! Target `pem_decrypt`: bytes → RFC 1423 encrypted PEM as Tyk's certificate store keeps it
//! (`extsvc_tls::encrypted_pem`) → decryption with the right and a wrong encoding secret
//! → a memory store entry → `extsvc_tls::check` with the secret configured.
//!
//! The input is PEM text (a Tyk store value: CERTIFICATE blocks and an `ENCRYPTED PRIVATE
//! KEY` / `RSA`/`EC PRIVATE KEY` block with `Proc-Type` and `DEK-Info` headers). The seeds
//! were encrypted by `openssl` with [`SECRET`].
//!
//! Invariants beyond "no panic": splitting keeps every byte outside the encrypted block; a
//! decrypted key is one the crypto provider loads; `Debug` of the encrypted key and every
//! error and check line never contain the secret or the key's base64 body.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use extsvc_resolve::Resolution;
use extsvc_tls::internal::split_encrypted_key;
use extsvc_tls::MemoryStore;

/// The encoding secret the seeds were encrypted with.
pub const SECRET: &str = "fuzz-encoding-s3cret";

const CONFIG: &str = r#"{ "secret": "fuzz-encoding-s3cret", "external_services": {
    "oauth":  { "mtls": { "enabled": true, "cert_id": "fuzz" } }
} }"#;

fn resolution() -> &'static Resolution {
    static RESOLUTION: OnceLock<Resolution> = OnceLock::new();
    RESOLUTION.get_or_init(|| crate::resolve_config(CONFIG))
}


/// Base64 lines (16 characters or more) inside blocks whose label ends in `PRIVATE KEY`.
fn key_body_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("-----BEGIN") && line.contains("PRIVATE KEY") {
            inside = true;
        } else if line.starts_with("-----END") {
            inside = false;
        } else if inside && !line.contains(':') && line.trim().len() >= 16 {
            lines.push(line.trim());
        }
    }
    lines
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let secret_lines = key_body_lines(&text);
    let split = split_encrypted_key(data);
    assert!(split.rest.len() <= data.len(), "splitting added bytes");
    if split.encrypted.is_none() {
        assert_eq!(split.rest, data, "nothing encrypted, yet the text changed");
    }
    let mut output = String::new();
    if let Some(encrypted) = &split.encrypted {
        match encrypted {
            Ok(key) => {
                output.push_str(&format!("{key:?}"));
                for password in [SECRET.as_bytes(), b"wrong".as_slice(), b"".as_slice()] {
                    match key.decrypt(password) {
                        Ok(der) => {
                            let provider = rustls::crypto::ring::default_provider();
                            assert!(
                                provider.key_provider.load_private_key(der).is_ok(),
                                "decrypt returned a key the provider does not load"
                            );
                        }
                        Err(error) => output.push_str(&format!("{error} {error:?}")),
                    }
                }
            }
            Err(error) => output.push_str(&format!("{error} {error:?}")),
        }
    }
    let store = MemoryStore::new();
    if store.insert_pem("fuzz", data).is_ok() {
        // A fixed clock, so a run is reproducible: 2026-01-01T00:00:00Z.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let report = crate::runtime().block_on(extsvc_tls::check(resolution(), Some(&store), now));
        output.push_str(&format!("{report:?} {store:?}"));
    }
    assert!(!output.contains(SECRET), "the encoding secret was printed");
    for line in secret_lines {
        assert!(!output.contains(line), "a private key's body was printed");
    }
}
