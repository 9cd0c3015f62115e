//! Loading a service's TLS material from files or the store, with errors that name the
//! key path and the file or id. Only what the resolution chose is read: files that lost
//! to a store id are never opened.
//!
//! Each piece — the client certificate, its key, the CA file or each CA id — is loaded on
//! its own, and every failure is kept ([`load_material`]): `extsvc check` reports them all,
//! while building a client ([`MaterialPieces::into_material`], [`load_client`]) stops at
//! the first. The key/certificate match is checked when both loaded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use extsvc_config::{EncodingSecret, SecretReference, ServiceKind, Source, Sourced};
use extsvc_resolve::{CaSource, ClientCertificateSource, ResolvedMtls};
use rustls::crypto::CryptoProvider;
use rustls::sign::{CertifiedKey, SigningKey};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::x509::X509Version;

use crate::encrypted_pem::DecryptError;
use crate::error::StoreError;
use crate::error::{key_path, Material, Origin, TlsError};
use crate::pem::{parse_certificates, parse_private_key, ClientCertificate, StoredPrivateKey};
use crate::pem_file::read_pem_file;
use crate::store::{CertificateStore, StoreFuture};
use crate::SecretSources;

/// CA certificates and where each group came from.
#[derive(Debug, Clone)]
pub(crate) struct LoadedCa {
    pub(crate) origin: Origin,
    pub(crate) key_path: String,
    pub(crate) certificates: Vec<CertificateDer<'static>>,
}

/// A client certificate chain (end-entity first) and where it came from, before it is
/// paired with its key.
#[derive(Debug, Clone)]
pub(crate) struct LoadedChain {
    pub(crate) origin: Origin,
    pub(crate) key_path: String,
    pub(crate) chain: Vec<CertificateDer<'static>>,
}

/// A private key the crypto provider accepted, and where it came from.
struct LoadedKey {
    origin: Origin,
    key_path: String,
    key: Arc<dyn SigningKey>,
    /// The source of the encoding secret that decrypted it; `None` for a plain key.
    decrypted_with: Option<Source>,
}

/// A loaded client certificate, paired with its key, and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct LoadedClient {
    pub(crate) origin: Origin,
    pub(crate) certified: Arc<CertifiedKey>,
}

/// The material of a service, complete: what [`crate::config::assemble`] turns into configs.
pub(crate) struct LoadedMaterial {
    /// The client certificate with its key; `None` when the service presents none.
    pub(crate) client: Option<LoadedClient>,
    /// The CA certificates; `None` for the default roots.
    pub(crate) ca: Option<Vec<LoadedCa>>,
}

/// Every piece of a service's TLS material, each loaded on its own.
pub(crate) struct MaterialPieces {
    /// The client certificate chain, when one is configured and it loaded (even when its
    /// key did not).
    pub(crate) chain: Option<LoadedChain>,
    /// What loaded. Complete only when `errors` is empty: a failed piece is missing.
    pub(crate) material: LoadedMaterial,
    /// Every failure, in order: client certificate, key, their match, CA file or each CA id.
    pub(crate) errors: Vec<TlsError>,
}

impl MaterialPieces {
    /// The material when every piece loaded, else the first failure.
    pub(crate) fn into_material(self) -> Result<LoadedMaterial, TlsError> {
        match self.errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(self.material),
        }
    }
}

/// Loads every piece of a service's TLS material: the client certificate and key that
/// `mtls` chose, and its CA certificates.
pub(crate) async fn load_material(
    service: ServiceKind,
    mtls: &ResolvedMtls,
    store: Option<&dyn CertificateStore>,
    secrets: &SecretSources,
    provider: &CryptoProvider,
) -> MaterialPieces {
    let secret = mtls.encoding_secret.as_ref();
    let client = load_client_pieces(service, &mtls.client_certificate, store, secret, secrets, provider).await;
    let (ca, ca_errors) = load_ca_pieces(service, &mtls.ca, store, secrets).await;
    let mut errors = client.errors;
    errors.extend(ca_errors);
    MaterialPieces {
        chain: client.chain,
        material: LoadedMaterial {
            client: client.client,
            ca,
        },
        errors,
    }
}

async fn read_file(service: ServiceKind, key_path: &str, material: Material, path: &Path) -> Result<Vec<u8>, TlsError> {
    read_pem_file(path).await.map_err(|source| TlsError::ReadFile {
        service,
        key_path: key_path.to_owned(),
        material,
        path: path.to_owned(),
        cause: source,
    })
}

/// The PEM text of a path field (`cert_file`, `key_file`, `ca_file`): the file it names,
/// or, when it is a secret reference (SPEC section 6), what the reference resolves to —
/// inline PEM when it contains `-----BEGIN `, else a path to read. Resolved at every load,
/// so a secret rotated in its store rotates the material.
async fn read_field(
    service: ServiceKind,
    key_path: &str,
    material: Material,
    path: &Path,
    secrets: &SecretSources,
) -> Result<Vec<u8>, TlsError> {
    let Some(reference) = path.to_str().and_then(SecretReference::parse) else {
        return read_file(service, key_path, material, path).await;
    };
    let value = secrets.resolve(&reference).await.map_err(|cause| TlsError::Secret {
        service,
        key_path: key_path.to_owned(),
        cause,
    })?;
    if value.expose().contains("-----BEGIN ") {
        return Ok(repaired_inline_pem(value.expose()).into_owned().into_bytes());
    }
    read_file(service, key_path, material, Path::new(value.expose().trim())).await
}

/// Reads `path` (a path field when `secrets` is given: see [`read_field`]) and parses its
/// `CERTIFICATE` blocks (an empty file is an error).
async fn read_certificates(
    service: ServiceKind,
    key_path: &str,
    material: Material,
    path: &Path,
    secrets: Option<&SecretSources>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = match secrets {
        Some(secrets) => read_field(service, key_path, material, path, secrets).await?,
        None => read_file(service, key_path, material, path).await?,
    };
    parse_certificates(&pem).map_err(|source| TlsError::ParseFile {
        service,
        key_path: key_path.to_owned(),
        material,
        path: path.to_owned(),
        cause: source,
    })
}

fn no_store(service: ServiceKind, key_path: String, ids: String) -> TlsError {
    TlsError::NoStore { service, key_path, ids }
}

/// The pieces of a client certificate: the chain, the key, and the two paired.
struct ClientPieces {
    chain: Option<LoadedChain>,
    client: Option<LoadedClient>,
    errors: Vec<TlsError>,
}

impl ClientPieces {
    fn none() -> Self {
        ClientPieces {
            chain: None,
            client: None,
            errors: Vec::new(),
        }
    }

    /// Keeps the chain and key that loaded and every error, and pairs the two when both
    /// loaded.
    fn from_results(
        service: ServiceKind,
        chain: Result<LoadedChain, TlsError>,
        key: Result<LoadedKey, TlsError>,
    ) -> Self {
        let mut pieces = ClientPieces::none();
        let chain = chain.map_err(|e| pieces.errors.push(e)).ok();
        let key = key.map_err(|e| pieces.errors.push(e)).ok();
        if let (Some(chain), Some(key)) = (&chain, key) {
            match pair(service, chain, key) {
                Ok(certified) => {
                    pieces.client = Some(LoadedClient {
                        origin: chain.origin.clone(),
                        certified,
                    });
                }
                Err(e) => pieces.errors.push(e),
            }
        }
        pieces.chain = chain;
        pieces
    }
}

/// The pieces of the client certificate of `source`.
async fn load_client_pieces(
    service: ServiceKind,
    source: &ClientCertificateSource,
    store: Option<&dyn CertificateStore>,
    encoding_secret: Option<&Sourced<EncodingSecret>>,
    secrets: &SecretSources,
    provider: &CryptoProvider,
) -> ClientPieces {
    match source {
        ClientCertificateSource::None => ClientPieces::none(),
        ClientCertificateSource::File {
            cert_file,
            key_file,
            source,
        } => {
            let cert_path = key_path(service, "cert_file", Some(source));
            let key_key_path = key_path(service, "key_file", None);
            let chain = load_chain_file(service, &cert_path, cert_file, secrets).await;
            let key = load_key_file(service, &key_key_path, key_file, secrets, provider).await;
            ClientPieces::from_results(service, chain, key)
        }
        ClientCertificateSource::Store { cert_id, source } => {
            let path = key_path(service, "cert_id", Some(source));
            let entry = match client_entry(service, &path, cert_id, store).await {
                Ok(entry) => entry,
                Err(error) => {
                    let mut pieces = ClientPieces::none();
                    pieces.errors.push(error);
                    return pieces;
                }
            };
            let (origin, client) = entry;
            let (chain, key) = client.into_parts();
            let chain = LoadedChain {
                origin: origin.clone(),
                key_path: path.clone(),
                chain,
            };
            let chain = check_leaf(service, &chain).map(|()| chain);
            let encoding_secret = match resolve_encoding_secret(service, encoding_secret, secrets).await {
                Ok(secret) => secret,
                Err(error) => {
                    let mut pieces = ClientPieces::none();
                    pieces.errors.push(error);
                    return pieces;
                }
            };
            let key = decrypt_key(service, &path, &origin, key, encoding_secret.as_ref()).and_then(
                |(key, decrypted_with)| {
                    let mut key = load_key(service, &path, origin, key, provider)?;
                    key.decrypted_with = decrypted_with;
                    Ok(key)
                },
            );
            ClientPieces::from_results(service, chain, key)
        }
    }
}

/// Tyk's reading of a `cert_id` / `ca_cert_ids` value (SPEC section 3): inline PEM when it
/// contains `-----BEGIN `; else the store's entry; else, when the store does not hold it
/// (or cannot, as with a path), the file it names, if that file can be read.
enum Located<T> {
    /// The value is the PEM text.
    Inline,
    /// The store's entry, fetched.
    Store(T),
    /// The file the value names.
    File(PathBuf),
}

/// Where `id` is, with the store's entry when it is there.
async fn locate<T>(
    service: ServiceKind,
    key_path: &str,
    field: &str,
    id: &str,
    store: Option<&dyn CertificateStore>,
    fetch: impl for<'a> FnOnce(&'a dyn CertificateStore, &'a str) -> StoreFuture<'a, T>,
) -> Result<Located<T>, TlsError> {
    if id.contains("-----BEGIN ") {
        return Ok(Located::Inline);
    }
    let store_error = match store {
        Some(store) => match fetch(store, id).await {
            Ok(entry) => return Ok(Located::Store(entry)),
            // Not there, or an id the store cannot hold (a path): maybe a file. When it is
            // not one either, the answer is Tyk's: not found.
            Err(StoreError::NotFound { .. } | StoreError::InvalidId { .. }) => {
                Some(StoreError::NotFound { id: id.to_owned() })
            }
            Err(source) => {
                return Err(TlsError::Store {
                    service,
                    key_path: key_path.to_owned(),
                    cause: source,
                })
            }
        },
        None => None,
    };
    let path = Path::new(id);
    if tokio::fs::metadata(path).await.is_ok_and(|m| m.is_file()) {
        tracing::info!(service = %service, key = key_path, file = %extsvc_config::shown(path), "certificate id is not in the store but names a file: reading the file");
        return Ok(Located::File(path.to_owned()));
    }
    Err(match store_error {
        Some(source) => TlsError::Store {
            service,
            key_path: key_path.to_owned(),
            cause: source,
        },
        None => no_store(service, key_path.to_owned(), format!("{field} {id}")),
    })
}

/// Inline PEM as environment variables and some UIs deliver it, repaired as Tyk repairs it
/// (SPEC section 3): line breaks collapsed into spaces (`-----BEGIN CERTIFICATE----- MIIB…
/// …== -----END CERTIFICATE-----`), or written as the two characters `\n`. Each block's
/// base64 body loses its whitespace and is laid out again in 64-character lines. Text that
/// already has line breaks, and a block with PEM headers (`Proc-Type:`), are left as they
/// are.
fn repaired_inline_pem(text: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let unescaped: Cow<'_, str> = if !text.contains('\n') && text.contains("\\n") {
        Cow::Owned(text.replace("\\r\\n", "\n").replace("\\n", "\n"))
    } else {
        Cow::Borrowed(text)
    };
    if unescaped.contains('\n') {
        return unescaped;
    }
    let mut out = String::with_capacity(text.len() + text.len() / 64 + 8);
    let mut rest = unescaped.as_ref();
    while let Some(begin) = rest.find("-----BEGIN ") {
        let after_begin = &rest[begin + "-----BEGIN ".len()..];
        let Some(label_end) = after_begin.find("-----") else {
            return unescaped;
        };
        let label = &after_begin[..label_end];
        let body_and_rest = &after_begin[label_end + "-----".len()..];
        let footer = format!("-----END {label}-----");
        let Some(body_end) = body_and_rest.find(&footer) else {
            return unescaped;
        };
        let body = &body_and_rest[..body_end];
        if body.contains(':') {
            return unescaped;
        }
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        out.push_str("-----BEGIN ");
        out.push_str(label);
        out.push_str("-----\n");
        for line in compact.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str(&footer);
        out.push('\n');
        rest = &body_and_rest[body_end + footer.len()..];
    }
    if out.is_empty() {
        unescaped
    } else {
        Cow::Owned(out)
    }
}

/// The client certificate entry `id` names, and its origin.
async fn client_entry(
    service: ServiceKind,
    key_path: &str,
    id: &str,
    store: Option<&dyn CertificateStore>,
) -> Result<(Origin, ClientCertificate), TlsError> {
    let located = locate(service, key_path, "cert_id", id, store, |s, id| {
        s.client_certificate(id)
    })
    .await?;
    match located {
        Located::Store(entry) => Ok((Origin::Store(id.to_owned()), entry)),
        Located::File(path) => {
            let pem = read_file(service, key_path, Material::ClientCertificate, &path).await?;
            ClientCertificate::from_pem(&pem)
                .map(|entry| (Origin::File(path.clone()), entry))
                .map_err(|source| TlsError::ParseFile {
                    service,
                    key_path: key_path.to_owned(),
                    material: Material::ClientCertificate,
                    path,
                    cause: source,
                })
        }
        Located::Inline => ClientCertificate::from_pem(repaired_inline_pem(id).as_bytes())
            .map(|entry| (Origin::Inline, entry))
            .map_err(|source| TlsError::InlinePem {
                service,
                key_path: key_path.to_owned(),
                cause: source,
            }),
    }
}

/// The encoding secret, resolved when it is a reference (`vault://…` in
/// `security.private_certificate_encoding_secret`, SPEC section 6); the error names the
/// setting that holds the reference.
async fn resolve_encoding_secret(
    service: ServiceKind,
    secret: Option<&Sourced<EncodingSecret>>,
    secrets: &SecretSources,
) -> Result<Option<Sourced<EncodingSecret>>, TlsError> {
    let Some(secret) = secret else {
        return Ok(None);
    };
    let Some(reference) = std::str::from_utf8(secret.value.expose())
        .ok()
        .and_then(SecretReference::parse)
    else {
        return Ok(Some(secret.clone()));
    };
    let value = secrets.resolve(&reference).await.map_err(|cause| TlsError::Secret {
        service,
        key_path: secret.source.to_string(),
        cause,
    })?;
    Ok(Some(Sourced::new(
        EncodingSecret::new(value.expose()),
        secret.source.clone(),
    )))
}

/// Decrypts a key kept encrypted (Tyk's store) with the encoding secret; a plain key
/// passes through. Returns the key and, when decrypted, the secret's source.
fn decrypt_key(
    service: ServiceKind,
    key_path: &str,
    origin: &Origin,
    key: StoredPrivateKey,
    secret: Option<&Sourced<EncodingSecret>>,
) -> Result<(PrivateKeyDer<'static>, Option<Source>), TlsError> {
    let encrypted = match key {
        StoredPrivateKey::Plain(key) => return Ok((key, None)),
        StoredPrivateKey::Encrypted(encrypted) => encrypted,
    };
    let error = |reason: String| TlsError::DecryptKey {
        service,
        key_path: key_path.to_owned(),
        origin: origin.clone(),
        reason,
    };
    let Some(secret) = secret else {
        return Err(error(format!(
            "it is encrypted ({}) and no encoding secret is set: set security.private_certificate_encoding_secret \
             or secret (TYK_GW_SECURITY_PRIVATECERTIFICATEENCODINGSECRET / TYK_GW_SECRET)",
            encrypted.cipher()
        )));
    };
    match encrypted.decrypt(secret.value.expose()) {
        Ok(key) => Ok((key, Some(secret.source.clone()))),
        Err(e) => Err(error(wrong_secret_or_corrupt(e, &secret.source))),
    }
}

/// The one reason given for a stored key that does not decrypt to the certificate's key,
/// whatever went wrong (bad padding, not a key, not this certificate's key): no answer
/// tells a wrong secret from a corrupt entry, as none can (see [`DecryptError`]).
fn wrong_secret_or_corrupt(error: DecryptError, secret: &Source) -> String {
    format!(
        "{error} (the encoding secret came from {secret}; it is security.private_certificate_encoding_secret, else secret)"
    )
}

/// The client certificate of `source`, its key checked against it; `None` when the
/// service presents no client certificate. The first failure when a piece failed.
pub(crate) async fn load_client(
    service: ServiceKind,
    source: &ClientCertificateSource,
    store: Option<&dyn CertificateStore>,
    encoding_secret: Option<&Sourced<EncodingSecret>>,
    secrets: &SecretSources,
    provider: &CryptoProvider,
) -> Result<Option<LoadedClient>, TlsError> {
    let pieces = load_client_pieces(service, source, store, encoding_secret, secrets, provider).await;
    match pieces.errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(pieces.client),
    }
}

/// Reads and parses `cert_file`, and checks its end-entity certificate.
async fn load_chain_file(
    service: ServiceKind,
    cert_path: &str,
    cert_file: &Path,
    secrets: &SecretSources,
) -> Result<LoadedChain, TlsError> {
    let chain = read_certificates(
        service,
        cert_path,
        Material::ClientCertificate,
        cert_file,
        Some(secrets),
    )
    .await?;
    let chain = LoadedChain {
        origin: Origin::File(cert_file.to_owned()),
        key_path: cert_path.to_owned(),
        chain,
    };
    check_leaf(service, &chain)?;
    Ok(chain)
}

/// Reads and parses `key_file`, and loads the key with the provider.
async fn load_key_file(
    service: ServiceKind,
    key_key_path: &str,
    key_file: &Path,
    secrets: &SecretSources,
    provider: &CryptoProvider,
) -> Result<LoadedKey, TlsError> {
    let pem = read_field(service, key_key_path, Material::PrivateKey, key_file, secrets).await?;
    let key = parse_private_key(&pem).map_err(|source| TlsError::ParseFile {
        service,
        key_path: key_key_path.to_owned(),
        material: Material::PrivateKey,
        path: key_file.to_owned(),
        cause: source,
    })?;
    load_key(service, key_key_path, Origin::File(key_file.to_owned()), key, provider)
}

/// Checks that the chain's end-entity certificate is X.509 that rustls can use: it
/// parses, and it is version 3 (webpki rejects v1 and v2 end-entity certificates with a
/// bare `UnsupportedCertVersion`).
fn check_leaf(service: ServiceKind, chain: &LoadedChain) -> Result<(), TlsError> {
    let Some(leaf) = chain.chain.first() else {
        return Ok(());
    };
    let invalid = |reason: String| TlsError::InvalidCertificate {
        service,
        key_path: chain.key_path.clone(),
        material: Material::ClientCertificate,
        origin: chain.origin.clone(),
        reason,
    };
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf).map_err(|e| invalid(e.to_string()))?;
    let version = parsed.version();
    if version != X509Version::V3 {
        return Err(invalid(format!(
            "X.509 v{} certificates are not supported by rustls/webpki; reissue as v3",
            version.0 + 1
        )));
    }
    Ok(())
}

/// Loads a private key with the provider; the error never shows the key.
fn load_key(
    service: ServiceKind,
    key_key_path: &str,
    origin: Origin,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<LoadedKey, TlsError> {
    match provider.key_provider.load_private_key(key) {
        Ok(key) => Ok(LoadedKey {
            origin,
            key_path: key_key_path.to_owned(),
            key,
            decrypted_with: None,
        }),
        Err(e) => Err(TlsError::UnusableKey {
            service,
            key_path: key_key_path.to_owned(),
            origin,
            reason: e.to_string(),
        }),
    }
}

/// Pairs a chain with its key, checking that the two belong together.
fn pair(service: ServiceKind, chain: &LoadedChain, key: LoadedKey) -> Result<Arc<CertifiedKey>, TlsError> {
    let certified = CertifiedKey::new(chain.chain.clone(), key.key);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) if key.decrypted_with.is_some() => {
            Err(TlsError::DecryptKey {
                service,
                key_path: key.key_path,
                origin: key.origin,
                reason: key
                    .decrypted_with
                    .as_ref()
                    .map(|source| wrong_secret_or_corrupt(DecryptError, source))
                    .unwrap_or_default(),
            })
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Err(TlsError::KeyMismatch {
            service,
            key_path: key.key_path,
            certificate: chain.origin.clone(),
            key: key.origin,
        }),
        // The ring provider always exposes the public key; an unknown answer would come from
        // a provider that cannot, and then the handshake is the check.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(Arc::new(certified)),
        Err(e) => Err(TlsError::InvalidCertificate {
            service,
            key_path: chain.key_path.clone(),
            material: Material::ClientCertificate,
            origin: chain.origin.clone(),
            reason: e.to_string(),
        }),
    }
}

/// The CA certificates of `source` (`None` for the default roots) that loaded, and every
/// failure: the file's, or one per CA id.
pub(crate) async fn load_ca_pieces(
    service: ServiceKind,
    source: &CaSource,
    store: Option<&dyn CertificateStore>,
    secrets: &SecretSources,
) -> (Option<Vec<LoadedCa>>, Vec<TlsError>) {
    match source {
        CaSource::DefaultRoots => (None, Vec::new()),
        CaSource::File { ca_file, source } => {
            let path = key_path(service, "ca_file", Some(source));
            match load_ca_file(service, &path, ca_file, secrets).await {
                Ok(loaded) => (Some(vec![loaded]), Vec::new()),
                Err(e) => (Some(Vec::new()), vec![e]),
            }
        }
        CaSource::Store { ca_cert_ids, source } => {
            let path = key_path(service, "ca_cert_ids", Some(source));
            let mut loaded = Vec::with_capacity(ca_cert_ids.len());
            let mut errors = Vec::new();
            for id in ca_cert_ids {
                match ca_entry(service, &path, id, store).await {
                    Ok(ca) => loaded.push(ca),
                    Err(e) => errors.push(e),
                }
            }
            (Some(loaded), errors)
        }
    }
}

/// The CA certificates a `ca_cert_ids` entry contributes (inline PEM, store or file, as
/// [`locate`] finds it): one certificate is trusted as it is; of a chain, its CA
/// certificates (basicConstraints CA), as Tyk's certificate pool takes them.
async fn ca_entry(
    service: ServiceKind,
    key_path: &str,
    id: &str,
    store: Option<&dyn CertificateStore>,
) -> Result<LoadedCa, TlsError> {
    let located = locate(service, key_path, "ca_cert_ids", id, store, |s, id| {
        s.ca_certificates(id)
    })
    .await?;
    let (origin, certificates) = match located {
        Located::Store(certificates) => (Origin::Store(id.to_owned()), certificates),
        Located::File(path) => {
            let certificates = read_certificates(service, key_path, Material::CaCertificates, &path, None).await?;
            (Origin::File(path), certificates)
        }
        Located::Inline => {
            let certificates =
                parse_certificates(repaired_inline_pem(id).as_bytes()).map_err(|source| TlsError::InlinePem {
                    service,
                    key_path: key_path.to_owned(),
                    cause: source,
                })?;
            (Origin::Inline, certificates)
        }
    };
    let certificates = if certificates.len() > 1 {
        let cas: Vec<_> = certificates.into_iter().filter(is_ca).collect();
        if cas.is_empty() {
            return Err(TlsError::InvalidCertificate {
                service,
                key_path: key_path.to_owned(),
                material: Material::CaCertificates,
                origin,
                reason: "the entry holds a chain without a CA certificate (basicConstraints CA:TRUE)".to_owned(),
            });
        }
        cas
    } else {
        certificates
    };
    Ok(LoadedCa {
        origin,
        key_path: key_path.to_owned(),
        certificates,
    })
}

/// True for a certificate whose basicConstraints say CA (false when it does not parse:
/// rustls then reports it where it is used).
fn is_ca(certificate: &CertificateDer<'static>) -> bool {
    x509_parser::parse_x509_certificate(certificate)
        .ok()
        .and_then(|(_, parsed)| parsed.basic_constraints().ok().flatten().map(|bc| bc.value.ca))
        .unwrap_or(false)
}

async fn load_ca_file(
    service: ServiceKind,
    path: &str,
    ca_file: &Path,
    secrets: &SecretSources,
) -> Result<LoadedCa, TlsError> {
    let certificates = read_certificates(service, path, Material::CaCertificates, ca_file, Some(secrets)).await?;
    Ok(LoadedCa {
        origin: Origin::File(ca_file.to_owned()),
        key_path: path.to_owned(),
        certificates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate_and_key() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["client.example".to_owned()]).unwrap();
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    /// What an environment variable or a UI makes of a PEM: line breaks as spaces (Tyk
    /// repairs it), or as the two characters `\n`.
    #[test]
    fn collapsed_inline_pem_is_repaired() {
        let (cert, key) = certificate_and_key();
        let bundle = format!("{cert}{key}");
        for collapsed in [
            bundle.replace('\n', " "),
            bundle.trim_end().replace('\n', "\\n"),
            bundle.replace("\n", "\r\n").replace("\r\n", " "),
        ] {
            assert!(parse_certificates(collapsed.as_bytes()).is_err() || !collapsed.contains(' '));
            let repaired = repaired_inline_pem(&collapsed);
            assert_eq!(parse_certificates(repaired.as_bytes()).unwrap().len(), 1, "{collapsed}");
            assert!(ClientCertificate::from_pem(repaired.as_bytes()).is_ok(), "{collapsed}");
        }
        // Well-formed text is left alone.
        assert!(matches!(repaired_inline_pem(&bundle), std::borrow::Cow::Borrowed(_)));
    }
}
