//! Certificate store entries as Tyk's gateway writes them, made by the `openssl` binary:
//! an implementation independent of extsvc's decryptor.
//!
//! Tyk stores `cert-raw-<id>` = the CERTIFICATE blocks, a newline, then the private key
//! RFC 1423-encrypted (Go's `x509.EncryptPEMBlock`) in a block labelled `ENCRYPTED PRIVATE
//! KEY` with `Proc-Type: 4,ENCRYPTED` and `DEK-Info: <cipher>,<hex IV>` headers. OpenSSL
//! writes the same encryption for its "traditional" keys (`openssl rsa -traditional -aes256`,
//! `openssl ec -aes128`), labelled `RSA`/`EC PRIVATE KEY`; [`encrypt_key`] relabels them as
//! Tyk does when asked. A PKCS#8 plaintext under RFC 1423 (which Tyk writes when the
//! uploaded key was PKCS#8) is made with `openssl enc`: `-P -md md5 -S <IV[0..8]>` derives
//! the key (EVP_BytesToKey), `-K -iv` encrypts.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;

use crate::peer_process::find_binary;

/// An RFC 1423 cipher, as openssl names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyCipher {
    /// AES-128-CBC.
    Aes128Cbc,
    /// AES-192-CBC.
    Aes192Cbc,
    /// AES-256-CBC (Tyk's).
    Aes256Cbc,
    /// DES-EDE3-CBC.
    DesEde3Cbc,
}

impl LegacyCipher {
    /// Every cipher.
    pub const ALL: [LegacyCipher; 4] = [
        LegacyCipher::Aes128Cbc,
        LegacyCipher::Aes192Cbc,
        LegacyCipher::Aes256Cbc,
        LegacyCipher::DesEde3Cbc,
    ];

    /// The `openssl rsa`/`ec` option (`-aes256`).
    fn option(self) -> &'static str {
        match self {
            LegacyCipher::Aes128Cbc => "-aes128",
            LegacyCipher::Aes192Cbc => "-aes192",
            LegacyCipher::Aes256Cbc => "-aes256",
            LegacyCipher::DesEde3Cbc => "-des3",
        }
    }

    /// The `openssl enc` cipher (`-aes-256-cbc`).
    fn enc_option(self) -> &'static str {
        match self {
            LegacyCipher::Aes128Cbc => "-aes-128-cbc",
            LegacyCipher::Aes192Cbc => "-aes-192-cbc",
            LegacyCipher::Aes256Cbc => "-aes-256-cbc",
            LegacyCipher::DesEde3Cbc => "-des-ede3-cbc",
        }
    }

    /// The `DEK-Info` name.
    pub fn dek_name(self) -> &'static str {
        match self {
            LegacyCipher::Aes128Cbc => "AES-128-CBC",
            LegacyCipher::Aes192Cbc => "AES-192-CBC",
            LegacyCipher::Aes256Cbc => "AES-256-CBC",
            LegacyCipher::DesEde3Cbc => "DES-EDE3-CBC",
        }
    }

    fn iv_len(self) -> usize {
        match self {
            LegacyCipher::DesEde3Cbc => 8,
            _ => 16,
        }
    }
}

/// The plaintext form of the encrypted key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// PKCS#1 (an RSA key): `openssl rsa -traditional`.
    Pkcs1,
    /// SEC1 (an EC key): `openssl ec`.
    Sec1,
    /// PKCS#8 (any key), encrypted with `openssl enc`.
    Pkcs8,
}

fn openssl(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(find_binary("openssl", "openssl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or_default()).expect("write to openssl");
    drop(input);
    let out = child.wait_with_output().expect("openssl finishes");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The plain key in `key_path` (any PEM form openssl reads), encrypted with `secret` as
/// RFC 1423 PEM with plaintext `form`. With `tyk_label`, the block is labelled
/// `ENCRYPTED PRIVATE KEY` as Tyk writes it; else as openssl does (`RSA`/`EC PRIVATE KEY`;
/// PKCS#8 always gets Tyk's label, having no traditional one).
pub fn encrypt_key(key_path: &Path, form: KeyForm, cipher: LegacyCipher, secret: &str, tyk_label: bool) -> String {
    let key = key_path.to_str().expect("UTF-8 path");
    let pass = format!("pass:{secret}");
    let pem = match form {
        KeyForm::Pkcs1 => openssl(
            &["rsa", "-in", key, "-traditional", cipher.option(), "-passout", &pass],
            None,
        ),
        KeyForm::Sec1 => openssl(&["ec", "-in", key, cipher.option(), "-passout", &pass], None),
        KeyForm::Pkcs8 => {
            let der = openssl(&["pkey", "-in", key, "-outform", "DER"], None);
            let iv_hex = String::from_utf8(openssl(&["rand", "-hex", &cipher.iv_len().to_string()], None))
                .expect("hex")
                .trim()
                .to_ascii_uppercase();
            let salt = &iv_hex[..16];
            // EVP_BytesToKey(MD5, 1 round, secret, IV[0..8]), computed by openssl.
            let derived = String::from_utf8(openssl(
                &[
                    "enc",
                    cipher.enc_option(),
                    "-md",
                    "md5",
                    "-S",
                    salt,
                    "-pass",
                    &pass,
                    "-P",
                ],
                None,
            ))
            .expect("text");
            let derived_key = derived
                .lines()
                .find_map(|l| l.strip_prefix("key="))
                .expect("openssl enc -P prints key=")
                .trim()
                .to_owned();
            let ciphertext = openssl(
                &["enc", cipher.enc_option(), "-K", &derived_key, "-iv", &iv_hex],
                Some(&der),
            );
            let body = base64::engine::general_purpose::STANDARD.encode(ciphertext);
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
                .collect();
            let text = format!(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: {},{iv_hex}\n\n{}\n-----END ENCRYPTED PRIVATE KEY-----\n",
                cipher.dek_name(),
                lines.join("\n")
            );
            return text;
        }
    };
    let pem = String::from_utf8(pem).expect("PEM is text");
    assert!(
        pem.contains("Proc-Type: 4,ENCRYPTED") && pem.contains(cipher.dek_name()),
        "openssl did not write RFC 1423 PEM:\n{}",
        pem.lines().take(3).collect::<Vec<_>>().join("\n")
    );
    if tyk_label {
        relabel_as_tyk(&pem)
    } else {
        pem
    }
}

/// Relabels a `… PRIVATE KEY` block `ENCRYPTED PRIVATE KEY`, as Tyk labels its keys.
pub fn relabel_as_tyk(pem: &str) -> String {
    pem.lines()
        .map(|line| {
            if line.starts_with("-----BEGIN ") && line.ends_with("PRIVATE KEY-----") {
                "-----BEGIN ENCRYPTED PRIVATE KEY-----".to_owned()
            } else if line.starts_with("-----END ") && line.ends_with("PRIVATE KEY-----") {
                "-----END ENCRYPTED PRIVATE KEY-----".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// A Tyk store value: the certificate chain, a newline, the encrypted key.
pub fn tyk_entry(chain_pem: &str, encrypted_key_pem: &str) -> String {
    format!("{}\n{encrypted_key_pem}", chain_pem.trim_end())
}
