//! RFC 1423 legacy PEM encryption: the private keys of Tyk's certificate store.
//!
//! Tyk's gateway encrypts every private key it keeps in its store with Go's
//! `x509.EncryptPEMBlock`, and OpenSSL's "traditional" format (`openssl pkey -aes256
//! -traditional`) is the same thing:
//!
//! ```text
//! -----BEGIN ENCRYPTED PRIVATE KEY-----      (Tyk; OpenSSL writes RSA/EC PRIVATE KEY)
//! Proc-Type: 4,ENCRYPTED
//! DEK-Info: AES-256-CBC,<IV in hex>
//!
//! <base64 of the CBC ciphertext>
//! -----END ENCRYPTED PRIVATE KEY-----
//! ```
//!
//! The cipher key is OpenSSL's `EVP_BytesToKey` with MD5, one round, the encoding
//! secret as password and the IV's first 8 bytes as salt; the plaintext is PKCS#7 padded
//! DER, a PKCS#1, PKCS#8 or SEC1 key (tried in that order, as Tyk does). Accepted ciphers
//! are those Go writes: AES-128/192/256-CBC and DES-EDE3-CBC.
//!
//! [`split_encrypted_key`] takes such a block out of a PEM bundle (the rest is parsed as
//! usual); [`EncryptedPrivateKey::decrypt`] decrypts it. Neither ever puts input text,
//! key bytes or the secret into an error or a `Debug` line.

use std::fmt;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use base64::Engine as _;
use md5::{Digest, Md5};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

use crate::error::PemError;

/// A cipher of RFC 1423 PEM encryption that extsvc decrypts (those Go can write, less
/// single DES).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PemCipher {
    /// `AES-128-CBC`.
    Aes128Cbc,
    /// `AES-192-CBC`.
    Aes192Cbc,
    /// `AES-256-CBC` (what Tyk writes).
    Aes256Cbc,
    /// `DES-EDE3-CBC` (triple DES).
    DesEde3Cbc,
}

impl PemCipher {
    /// The cipher named in a `DEK-Info` header (case-insensitive).
    fn from_name(name: &str) -> Option<PemCipher> {
        [
            PemCipher::Aes128Cbc,
            PemCipher::Aes192Cbc,
            PemCipher::Aes256Cbc,
            PemCipher::DesEde3Cbc,
        ]
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// Its `DEK-Info` name, e.g. `AES-256-CBC`.
    pub fn name(self) -> &'static str {
        match self {
            PemCipher::Aes128Cbc => "AES-128-CBC",
            PemCipher::Aes192Cbc => "AES-192-CBC",
            PemCipher::Aes256Cbc => "AES-256-CBC",
            PemCipher::DesEde3Cbc => "DES-EDE3-CBC",
        }
    }

    fn key_len(self) -> usize {
        match self {
            PemCipher::Aes128Cbc => 16,
            PemCipher::Aes192Cbc | PemCipher::DesEde3Cbc => 24,
            PemCipher::Aes256Cbc => 32,
        }
    }

    /// The block size, which is also the IV's length.
    fn block_len(self) -> usize {
        match self {
            PemCipher::DesEde3Cbc => 8,
            _ => 16,
        }
    }
}

impl fmt::Display for PemCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An encrypted key did not decrypt to a private key: the encoding secret is wrong or the
/// entry is corrupt.
///
/// One error for every way decryption fails (bad padding, or data that is no PKCS#1,
/// PKCS#8 or SEC1 key), on purpose: telling them apart would not tell a wrong secret from a
/// corrupt entry (a wrong secret gives bad padding 255 times in 256, and a corrupt last
/// block does too), and an answer that differs by padding is a padding oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the encoding secret is wrong or the entry is corrupt")]
#[non_exhaustive]
pub struct DecryptError;

/// An RFC 1423 encrypted private key block, not yet decrypted. `Debug` shows the cipher
/// only.
#[derive(Clone)]
pub struct EncryptedPrivateKey {
    cipher: PemCipher,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl fmt::Debug for EncryptedPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedPrivateKey")
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one round: `D_i = MD5(D_{i-1} || password ||
/// salt)`, concatenated until `len` bytes.
fn evp_bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(len + 16);
    let mut previous: Option<[u8; 16]> = None;
    while key.len() < len {
        let mut md5 = Md5::new();
        if let Some(previous) = &previous {
            md5.update(previous);
        }
        md5.update(password);
        md5.update(salt);
        let digest: [u8; 16] = md5.finalize().into();
        key.extend_from_slice(&digest);
        previous = Some(digest);
    }
    key.truncate(len);
    key
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<usize, DecryptError>
where
    cbc::Decryptor<C>: KeyIvInit + BlockDecryptMut,
    C: BlockDecryptMut + aes::cipher::BlockCipher,
{
    // Key and IV lengths are the cipher's by construction; a mismatch is reported as a
    // failed decryption rather than a panic.
    let decryptor = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| DecryptError)?;
    decryptor
        .decrypt_padded_mut::<Pkcs7>(buf)
        .map(<[u8]>::len)
        .map_err(|_| DecryptError)
}

impl EncryptedPrivateKey {
    /// The cipher named by the block's `DEK-Info`.
    pub fn cipher(&self) -> PemCipher {
        self.cipher
    }

    /// Decrypts with `password` (the encoding secret) and recognises the key: PKCS#1,
    /// then PKCS#8, then SEC1, whichever the crypto provider (ring) loads first.
    pub fn decrypt(&self, password: &[u8]) -> Result<PrivateKeyDer<'static>, DecryptError> {
        let salt = self.iv.get(..8).unwrap_or(&self.iv);
        let key = evp_bytes_to_key(password, salt, self.cipher.key_len());
        let mut plain = self.ciphertext.clone();
        let len = match self.cipher {
            PemCipher::Aes128Cbc => cbc_decrypt::<aes::Aes128>(&key, &self.iv, &mut plain),
            PemCipher::Aes192Cbc => cbc_decrypt::<aes::Aes192>(&key, &self.iv, &mut plain),
            PemCipher::Aes256Cbc => cbc_decrypt::<aes::Aes256>(&key, &self.iv, &mut plain),
            PemCipher::DesEde3Cbc => cbc_decrypt::<des::TdesEde3>(&key, &self.iv, &mut plain),
        };
        match len {
            Ok(len) => {
                plain.truncate(len);
                recognise_key(plain)
            }
            Err(error) => {
                // The same work as for good padding, so that the time taken does not tell
                // bad padding apart either.
                let _ = recognise_key(plain);
                Err(error)
            }
        }
    }
}

/// The key form of a decrypted DER, tried as Tyk tries it: PKCS#1, PKCS#8, SEC1.
fn recognise_key(der: Vec<u8>) -> Result<PrivateKeyDer<'static>, DecryptError> {
    let provider = crate::provider::provider();
    let forms: [fn(Vec<u8>) -> PrivateKeyDer<'static>; 3] = [
        |d| PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(d)),
        |d| PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(d)),
        |d| PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(d)),
    ];
    forms
        .into_iter()
        .map(|form| form(der.clone()))
        .find(|key| provider.key_provider.load_private_key(key.clone_key()).is_ok())
        .ok_or(DecryptError)
}

/// What [`split_encrypted_key`] found. Its `Debug` shows sizes only: `rest` may hold a
/// plain private key.
#[allow(
    clippy::exhaustive_structs,
    reason = "internal: the fuzz targets' view of a split PEM text"
)]
pub struct SplitPem {
    /// The text without the encrypted block(s): parse it for certificates and plain keys.
    pub rest: Vec<u8>,
    /// The first encrypted private key block, parsed; `None` when there is none.
    pub encrypted: Option<Result<EncryptedPrivateKey, PemError>>,
}

impl fmt::Debug for SplitPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitPem")
            .field("rest", &format_args!("<{} bytes>", self.rest.len()))
            .field("encrypted", &self.encrypted)
            .finish()
    }
}

/// Takes encrypted private key blocks out of `pem`: blocks whose label ends in `PRIVATE
/// KEY` and that carry `Proc-Type: 4,ENCRYPTED` (RFC 1423), and `ENCRYPTED PRIVATE KEY`
/// blocks without headers (PKCS#8 encryption, which is reported as unsupported). The
/// first one is parsed; a second one is an error. Everything else stays in
/// [`SplitPem::rest`], byte for byte.
pub fn split_encrypted_key(pem: &[u8]) -> SplitPem {
    let mut rest = Vec::with_capacity(pem.len());
    let mut encrypted: Option<Result<EncryptedPrivateKey, PemError>> = None;
    let mut block: Option<(&[u8], Vec<&[u8]>)> = None;
    for line in pem.split_inclusive(|&b| b == b'\n') {
        let trimmed = line.trim_ascii();
        match &mut block {
            None => match begin_label(trimmed).filter(|label| label.ends_with(b"PRIVATE KEY")) {
                Some(label) => block = Some((label, vec![line])),
                None => rest.extend_from_slice(line),
            },
            Some((label, lines)) => {
                lines.push(line);
                if !is_end(trimmed, label) {
                    continue;
                }
                let (label, lines) = block.take().unwrap_or_default();
                match parse_block(label, &lines[1..lines.len() - 1]) {
                    None => lines.iter().for_each(|l| rest.extend_from_slice(l)),
                    Some(parsed) => {
                        encrypted = Some(match encrypted {
                            None => parsed,
                            Some(_) => Err(PemError::Malformed {
                                reason: "more than one encrypted private key",
                            }),
                        });
                    }
                }
            }
        }
    }
    // An unterminated block stays in the text; the PEM parser reports it.
    if let Some((_, lines)) = block {
        lines.iter().for_each(|l| rest.extend_from_slice(l));
    }
    SplitPem { rest, encrypted }
}

fn begin_label(line: &[u8]) -> Option<&[u8]> {
    line.strip_prefix(b"-----BEGIN ")?.strip_suffix(b"-----")
}

fn is_end(line: &[u8], label: &[u8]) -> bool {
    line.strip_prefix(b"-----END ")
        .and_then(|l| l.strip_suffix(b"-----"))
        .is_some_and(|l| l == label)
}

/// Parses the inside of a `… PRIVATE KEY` block. `None` when it is not encrypted (no
/// `Proc-Type: 4,ENCRYPTED`, and not an `ENCRYPTED PRIVATE KEY` block).
fn parse_block(label: &[u8], inner: &[&[u8]]) -> Option<Result<EncryptedPrivateKey, PemError>> {
    let malformed = |reason: &'static str| Some(Err(PemError::Malformed { reason }));
    let mut lines = inner.iter().map(|l| l.trim_ascii());
    let has_headers = inner.first().is_some_and(|l| l.contains(&b':'));
    if !has_headers {
        return (label == b"ENCRYPTED PRIVATE KEY").then_some(Err(PemError::UnsupportedEncryption {
            what: "PKCS#8-encrypted (PBES2) private keys are not supported; Tyk's store uses RFC 1423 (Proc-Type/DEK-Info) encryption",
        }));
    }
    let mut proc_type_encrypted = false;
    let mut dek_info: Option<&[u8]> = None;
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return malformed("a PEM header line has no ':'");
        };
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"Proc-Type") {
            proc_type_encrypted = value == b"4,ENCRYPTED";
        } else if name.eq_ignore_ascii_case(b"DEK-Info") {
            dek_info = Some(value);
        }
    }
    if !proc_type_encrypted {
        return None;
    }
    let Some(dek_info) = dek_info else {
        return malformed("an encrypted PEM block has no DEK-Info header");
    };
    let Some((name, iv_hex)) = std::str::from_utf8(dek_info).ok().and_then(|d| d.split_once(',')) else {
        return malformed("the DEK-Info header is not <cipher>,<hex IV>");
    };
    let Some(cipher) = PemCipher::from_name(name.trim()) else {
        return Some(Err(PemError::UnsupportedEncryption {
            what: "the DEK-Info cipher is not supported (AES-128-CBC, AES-192-CBC, AES-256-CBC or DES-EDE3-CBC)",
        }));
    };
    let Some(iv) = decode_hex(iv_hex.trim()) else {
        return malformed("the DEK-Info IV is not hexadecimal");
    };
    if iv.len() != cipher.block_len() {
        return malformed("the DEK-Info IV does not have the cipher's block size");
    }
    let body: Vec<u8> = lines.flat_map(|l| l.iter().copied()).collect();
    let Ok(ciphertext) = base64::engine::general_purpose::STANDARD.decode(body) else {
        return malformed("a section is not valid base64");
    };
    if ciphertext.is_empty() || ciphertext.len() % cipher.block_len() != 0 {
        return malformed("the encrypted key's length is not a multiple of the cipher's block size");
    }
    Some(Ok(EncryptedPrivateKey { cipher, iv, ciphertext }))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_pem_debug_shows_no_key_text() {
        let plain = b"-----BEGIN PRIVATE KEY-----\nTUlJQ2VnSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NBbVF3Z2dKZ0FnRUFBb0dC\n-----END PRIVATE KEY-----\n";
        let split = split_encrypted_key(plain);
        let debug = format!("{split:?}");
        assert!(!debug.contains("TUlJ") && !debug.contains("PRIVATE KEY"), "{debug}");
        assert!(debug.contains(&format!("<{} bytes>", split.rest.len())), "{debug}");
    }

    /// RFC 1321's test vector, as one `EVP_BytesToKey` round with an empty salt.
    #[test]
    fn evp_bytes_to_key_chains_md5_digests() {
        let first = evp_bytes_to_key(b"abc", b"", 16);
        assert_eq!(first, decode_hex("900150983cd24fb0d6963f7d28e17f72").unwrap());
        let longer = evp_bytes_to_key(b"abc", b"", 32);
        assert_eq!(longer[..16], first[..]);
        let mut second = Md5::new();
        second.update(&first);
        second.update(b"abc");
        assert_eq!(longer[16..], second.finalize()[..]);
        assert_eq!(evp_bytes_to_key(b"abc", b"", 24).len(), 24);
    }

    #[test]
    fn headers_are_checked_without_quoting_the_input() {
        let block = |headers: &str, body: &str| {
            format!("-----BEGIN RSA PRIVATE KEY-----\n{headers}\n\n{body}\n-----END RSA PRIVATE KEY-----\n")
        };
        let cases = [
            ("Proc-Type: 4,ENCRYPTED", "AAAA", "no DEK-Info"),
            (
                "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC",
                "AAAA",
                "<cipher>,<hex IV>",
            ),
            (
                "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,zz",
                "AAAA",
                "not hexadecimal",
            ),
            (
                "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233",
                "AAAA",
                "block size",
            ),
            (
                "Proc-Type: 4,ENCRYPTED\nDEK-Info: DES-CBC,0011223344556677",
                "AAAA",
                "not supported",
            ),
            (
                "Proc-Type: 4,ENCRYPTED\nDEK-Info: DES-EDE3-CBC,0011223344556677",
                "!!secret!!",
                "base64",
            ),
            (
                "Proc-Type: 4,ENCRYPTED\nDEK-Info: DES-EDE3-CBC,0011223344556677",
                "AAAA",
                "multiple",
            ),
        ];
        for (headers, body, want) in cases {
            let split = split_encrypted_key(block(headers, body).as_bytes());
            let error = split.encrypted.unwrap().unwrap_err().to_string();
            assert!(error.contains(want), "{headers}: {error}");
            assert!(!error.contains("secret!!"), "{error}");
            assert!(split.rest.is_empty());
        }
    }

    #[test]
    fn other_blocks_stay_in_the_text() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\
                    -----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n\
                    -----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,CLEAR\n\nAAAA\n-----END EC PRIVATE KEY-----\n\
                    -----BEGIN RSA PRIVATE KEY-----\nAAAA\n";
        let split = split_encrypted_key(text.as_bytes());
        assert!(split.encrypted.is_none());
        assert_eq!(split.rest, text.as_bytes());
        let pkcs8_encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let error = split_encrypted_key(pkcs8_encrypted.as_bytes())
            .encrypted
            .unwrap()
            .unwrap_err();
        assert!(error.to_string().contains("PBES2"), "{error}");
    }

    #[test]
    fn debug_shows_the_cipher_only() {
        let key = EncryptedPrivateKey {
            cipher: PemCipher::Aes256Cbc,
            iv: vec![7; 16],
            ciphertext: vec![42; 32],
        };
        assert_eq!(format!("{key:?}"), "EncryptedPrivateKey { cipher: Aes256Cbc, .. }");
        assert_eq!(key.decrypt(b"whatever").unwrap_err(), DecryptError);
    }
}
