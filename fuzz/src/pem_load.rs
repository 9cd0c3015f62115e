//! Target `pem_load`: bytes → extsvc-tls's PEM parsing → a certificate store entry →
//! `extsvc_tls::check` (rustls config assembly, key/certificate matching, X.509 validity
//! and extended key usage).
//!
//! The first byte picks the mode:
//! - even: the rest is PEM text, stored with `MemoryStore::insert_pem` (a client
//!   certificate entry when it holds a key, else a CA entry);
//! - odd: the rest is split into DER certificates (two-byte big-endian length before
//!   each), stored as CA certificates, so X.509 parsing is fuzzed without base64 in the
//!   way.
//!
//! `oauth` uses the entry as its client certificate (`cert_id`), `health` as its CA
//! (`ca_cert_ids`), so both loading paths run.
//!
//! Invariants beyond "no panic": parsed certificate lists are never empty; the check's
//! problems and warnings never quote the private key's PEM body.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use extsvc_resolve::Resolution;
use extsvc_tls::internal::{parse_certificates, parse_private_key, parse_stored_key};
use extsvc_tls::{ClientCertificate, MemoryStore};
use rustls_pki_types::CertificateDer;

const CONFIG: &str = r#"{ "external_services": {
    "oauth":  { "mtls": { "enabled": true, "cert_id": "fuzz" } },
    "health": { "mtls": { "enabled": true, "ca_cert_ids": ["fuzz"] } }
} }"#;

fn resolution() -> &'static Resolution {
    static RESOLUTION: OnceLock<Resolution> = OnceLock::new();
    RESOLUTION.get_or_init(|| crate::resolve_config(CONFIG))
}


/// Splits `data` into length-prefixed DER blobs (at most 4).
fn der_certificates(mut data: &[u8]) -> Vec<CertificateDer<'static>> {
    let mut out = Vec::new();
    while data.len() >= 2 && out.len() < 4 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 2);
        out.push(CertificateDer::from(data[2..2 + len].to_vec()));
        data = &data[2 + len..];
    }
    out
}

/// Base64 lines of every PRIVATE KEY block in `text` (at least 16 characters long).
fn key_body_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("-----BEGIN") && line.contains("PRIVATE KEY") {
            inside = true;
        } else if line.starts_with("-----END") {
            inside = false;
        } else if inside && line.trim().len() >= 16 {
            lines.push(line.trim());
        }
    }
    lines
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let store = MemoryStore::new();
    let mut secret_lines = Vec::new();
    let text = String::from_utf8_lossy(rest);
    if mode % 2 == 0 {
        if let Ok(certificates) = parse_certificates(rest) {
            assert!(!certificates.is_empty(), "parse_certificates returned Ok(empty)");
        }
        let key = parse_private_key(rest);
        if let Ok(client) = ClientCertificate::from_pem(rest) {
            assert!(!client.chain().is_empty());
            // A store entry's key may be encrypted (Tyk's store); a key file's may not.
            assert!(
                parse_stored_key(rest).is_ok(),
                "from_pem found a key that parse_stored_key did not"
            );
            let debug = format!("{client:?}");
            assert!(debug.contains("redacted"), "ClientCertificate Debug: {debug}");
        }
        if key.is_ok() {
            secret_lines = key_body_lines(&text);
        }
        if store.insert_pem("fuzz", rest).is_err() {
            return;
        }
    } else {
        let certificates = der_certificates(rest);
        if certificates.is_empty() {
            return;
        }
        store.insert_ca_certificates("fuzz", certificates);
    }
    // A fixed clock, so a run is reproducible: 2026-01-01T00:00:00Z.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let report = crate::runtime().block_on(extsvc_tls::check(resolution(), Some(&store), now));
    let output = format!("{report:?}");
    for line in secret_lines {
        assert!(!output.contains(line), "the check report quotes the private key");
    }
}
