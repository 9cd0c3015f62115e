//! PEM parsing: certificate chains, private keys (PKCS#8, PKCS#1, SEC1, and RFC 1423
//! encrypted as Tyk's store keeps them — see `encrypted_pem`) and CA bundles.
//!
//! Parsing works on bytes; reading files is the caller's job, so that an I/O error and a
//! parse error stay distinguishable and name the right file. Error messages never echo the
//! input: a malformed key must not end up in a log line.

use std::fmt;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::encrypted_pem::{split_encrypted_key, EncryptedPrivateKey};
use crate::error::PemError;

/// The `expected` text for certificates.
const CERTIFICATE: &str = "CERTIFICATE";
/// The `expected` text for private keys.
const PRIVATE_KEY: &str = "PRIVATE KEY (PKCS#8, RSA PKCS#1 or EC SEC1)";

fn malformed(error: pem::Error, expected: &'static str) -> PemError {
    let reason = match error {
        pem::Error::NoItemsFound => return PemError::NoBlock { expected },
        pem::Error::MissingSectionEnd { .. } => "a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is not well formed",
        pem::Error::Base64Decode(_) => "a section is not valid base64",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "unreadable PEM text",
    };
    PemError::Malformed { reason }
}

/// Every CERTIFICATE block of `pem`, in order. Other blocks are skipped (an encrypted
/// private key too); none at all is [`PemError::NoBlock`].
pub fn parse_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let pem = split_encrypted_key(pem).rest;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| malformed(e, CERTIFICATE))?;
    if certs.is_empty() {
        return Err(PemError::NoBlock { expected: CERTIFICATE });
    }
    Ok(certs)
}

/// The first private key block of `pem`: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY`
/// (PKCS#1) or `EC PRIVATE KEY` (SEC1). An encrypted key is
/// [`PemError::EncryptedKeyFile`]: this is the reader of key *files*.
pub fn parse_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, PemError> {
    match parse_stored_key(pem)? {
        StoredPrivateKey::Plain(key) => Ok(key),
        StoredPrivateKey::Encrypted(_) => Err(PemError::EncryptedKeyFile),
    }
}

/// The private key of `pem` as a store keeps it: an RFC 1423 encrypted block (Tyk's
/// `ENCRYPTED PRIVATE KEY`, or OpenSSL's `RSA`/`EC PRIVATE KEY` with `Proc-Type` and
/// `DEK-Info` headers), else the first plain key block. A plain and an encrypted key
/// together are an error, since which one is meant cannot be told.
pub fn parse_stored_key(pem: &[u8]) -> Result<StoredPrivateKey, PemError> {
    let split = split_encrypted_key(pem);
    let plain = PrivateKeyDer::from_pem_slice(&split.rest).map_err(|e| malformed(e, PRIVATE_KEY));
    match (split.encrypted, plain) {
        (None, plain) => plain.map(StoredPrivateKey::Plain),
        (Some(Err(e)), _) => Err(e),
        (Some(Ok(_)), Ok(_)) => Err(PemError::Malformed {
            reason: "both an encrypted and a plain private key",
        }),
        (Some(Ok(encrypted)), Err(_)) => Ok(StoredPrivateKey::Encrypted(encrypted)),
    }
}

/// A private key as a certificate store returns it: plain, or still encrypted (Tyk's
/// store), to be decrypted with the encoding secret when the service's TLS is built.
/// `Debug` never shows key bytes.
#[allow(
    clippy::exhaustive_enums,
    reason = "closed set: a stored key is plain or RFC 1423 encrypted"
)]
#[doc(hidden)]
pub enum StoredPrivateKey {
    /// A plain key.
    Plain(PrivateKeyDer<'static>),
    /// An RFC 1423 encrypted key.
    Encrypted(EncryptedPrivateKey),
}

impl Clone for StoredPrivateKey {
    fn clone(&self) -> Self {
        match self {
            StoredPrivateKey::Plain(key) => StoredPrivateKey::Plain(key.clone_key()),
            StoredPrivateKey::Encrypted(key) => StoredPrivateKey::Encrypted(key.clone()),
        }
    }
}

impl fmt::Debug for StoredPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredPrivateKey::Plain(_) => f.write_str("Plain([redacted])"),
            StoredPrivateKey::Encrypted(key) => f.debug_tuple("Encrypted").field(key).finish(),
        }
    }
}

impl From<PrivateKeyDer<'static>> for StoredPrivateKey {
    fn from(key: PrivateKeyDer<'static>) -> Self {
        StoredPrivateKey::Plain(key)
    }
}

/// A client certificate chain and its private key, as a certificate store returns it.
///
/// The chain starts with the end-entity certificate. Debug output shows the chain length
/// only: the key never appears in Debug, Display or errors.
pub struct ClientCertificate {
    chain: Vec<CertificateDer<'static>>,
    key: StoredPrivateKey,
}

impl ClientCertificate {
    /// Pairs a chain (end-entity first) with its key, plain or encrypted. Whether they
    /// match is checked when a TLS configuration is built from them (after decryption).
    pub fn new(chain: Vec<CertificateDer<'static>>, key: impl Into<StoredPrivateKey>) -> Self {
        ClientCertificate { chain, key: key.into() }
    }

    /// Parses a PEM bundle holding one or more CERTIFICATE blocks (end-entity first) and a
    /// private key block, in any order. The key may be encrypted as Tyk's store keeps it
    /// ([`parse_stored_key`]); it is decrypted later, with the encoding secret.
    pub fn from_pem(pem: &[u8]) -> Result<Self, PemError> {
        Ok(ClientCertificate {
            chain: parse_certificates(pem)?,
            key: parse_stored_key(pem)?,
        })
    }

    /// The chain, end-entity certificate first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The private key, as stored (possibly still encrypted).
    pub fn key(&self) -> &StoredPrivateKey {
        &self.key
    }

    /// Splits into chain and key.
    pub fn into_parts(self) -> (Vec<CertificateDer<'static>>, StoredPrivateKey) {
        (self.chain, self.key)
    }
}

impl Clone for ClientCertificate {
    fn clone(&self) -> Self {
        ClientCertificate {
            chain: self.chain.clone(),
            key: self.key.clone(),
        }
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("chain_len", &self.chain.len())
            .field("key", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn certificates_and_keys_are_found_among_other_blocks() {
        let (cert, key) = generated();
        let bundle = format!("{key}{cert}{cert}");
        assert_eq!(parse_certificates(bundle.as_bytes()).unwrap().len(), 2);
        assert!(matches!(
            parse_private_key(bundle.as_bytes()).unwrap(),
            PrivateKeyDer::Pkcs8(_)
        ));
        let client = ClientCertificate::from_pem(bundle.as_bytes()).unwrap();
        assert_eq!(client.chain().len(), 2);
    }

    #[test]
    fn empty_and_wrong_type_text_is_an_error_not_an_empty_list() {
        let (cert, key) = generated();
        assert_eq!(
            parse_certificates(b""),
            Err(PemError::NoBlock { expected: CERTIFICATE })
        );
        assert_eq!(
            parse_certificates(key.as_bytes()),
            Err(PemError::NoBlock { expected: CERTIFICATE })
        );
        assert_eq!(
            parse_private_key(cert.as_bytes()).unwrap_err(),
            PemError::NoBlock { expected: PRIVATE_KEY }
        );
        assert_eq!(
            parse_private_key(b"").unwrap_err().to_string(),
            "no PRIVATE KEY (PKCS#8, RSA PKCS#1 or EC SEC1) PEM block found"
        );
    }

    #[test]
    fn malformed_pem_errors_never_quote_the_input() {
        let (_, key) = generated();
        let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
        let truncated = key.replace("-----END PRIVATE KEY-----", "");
        let error = parse_private_key(truncated.as_bytes()).unwrap_err();
        assert!(matches!(error, PemError::Malformed { .. }), "{error:?}");
        assert!(!format!("{error} {error:?}").contains(&body[..20]));
        let corrupt = key.replacen(&body[..8], "!!!!!!!!", 1);
        let error = parse_private_key(corrupt.as_bytes()).unwrap_err();
        assert!(matches!(error, PemError::Malformed { .. }), "{error:?}");
    }

    #[test]
    fn client_certificate_debug_hides_the_key() {
        let (cert, key) = generated();
        let client = ClientCertificate::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
        let debug = format!("{client:?} {:?}", client.clone());
        let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!debug.contains(&body[..16]));
        assert!(debug.contains("redacted"));
    }
}
