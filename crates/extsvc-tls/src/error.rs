//! The errors of this crate, below every other module: [`TlsError`] (why a service's TLS
//! configuration could not be built), [`PemError`] (why PEM text could not be used) and
//! [`StoreError`] (why a certificate store lookup failed).

use std::fmt;
use std::path::PathBuf;

use extsvc_config::{escaped, shown, ServiceKind, Source};

/// What a piece of TLS material is, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Material {
    /// The client certificate chain (`cert_file`, `cert_id`).
    ClientCertificate,
    /// The client's private key (`key_file`, or the key in a `cert_id` entry).
    PrivateKey,
    /// CA certificates for server verification (`ca_file`, `ca_cert_ids`).
    CaCertificates,
}

impl fmt::Display for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Material::ClientCertificate => "client certificate",
            Material::PrivateKey => "private key",
            Material::CaCertificates => "CA certificates",
        })
    }
}

/// Where a piece of TLS material came from: a file or a store id. `Display` and `Debug`
/// show it through [`extsvc_config::shown`]: never PEM text pasted as a path or id.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// A PEM file.
    File(PathBuf),
    /// A certificate store entry.
    Store(String),
    /// PEM written into the configuration value itself (`cert_id` / `ca_cert_ids`).
    Inline,
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => f.debug_tuple("File").field(&shown(path)).finish(),
            Origin::Store(id) => f.debug_tuple("Store").field(&shown(id)).finish(),
            Origin::Inline => f.write_str("Inline"),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", shown(path)),
            Origin::Store(id) => write!(f, "store entry {}", shown(id)),
            Origin::Inline => f.write_str("inline PEM"),
        }
    }
}

/// Why a service's TLS configuration could not be built.
///
/// Every message starts with the configuration key path (which names the service) and
/// names the file or store id. No message contains key material.
///
/// `Debug` is the message (`TlsError("…")`): fields may hold a path or id that is really
/// pasted PEM text, and the message shows those through [`extsvc_config::shown`].
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read (missing, unreadable).
    #[error("{key_path}: failed to load {material} {}: {cause}", shown(path))]
    ReadFile {
        /// The service.
        service: ServiceKind,
        /// The configuration key, e.g. `external_services.oauth.mtls.cert_file`.
        key_path: String,
        /// What the file should hold.
        material: Material,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A PEM file holds no block of the needed type (empty, or e.g. a key given as `ca_file`),
    /// or a block is malformed.
    #[error("{key_path}: failed to load {material} {}: {cause}", shown(path))]
    ParseFile {
        /// The service.
        service: ServiceKind,
        /// The configuration key.
        key_path: String,
        /// What the file should hold.
        material: Material,
        /// The file.
        path: PathBuf,
        /// What is wrong with its text.
        cause: PemError,
    },
    /// A certificate is not valid X.509, or cannot serve as a trust anchor.
    #[error("{key_path}: invalid {material} in {origin}: {reason}")]
    InvalidCertificate {
        /// The service.
        service: ServiceKind,
        /// The configuration key.
        key_path: String,
        /// What the certificate is for.
        material: Material,
        /// The file or store entry.
        origin: Origin,
        /// The parser's reason.
        reason: String,
    },
    /// The private key cannot be used (an algorithm the ring provider does not support,
    /// or invalid DER inside a well-formed PEM block).
    #[error("{key_path}: unusable private key in {origin}: {reason}")]
    UnusableKey {
        /// The service.
        service: ServiceKind,
        /// The configuration key.
        key_path: String,
        /// The file or store entry.
        origin: Origin,
        /// rustls' reason (never the key).
        reason: String,
    },
    /// The private key does not belong to the client certificate.
    #[error("{key_path}: private key {key} does not match client certificate {certificate}")]
    KeyMismatch {
        /// The service.
        service: ServiceKind,
        /// The configuration key.
        key_path: String,
        /// Where the certificate came from.
        certificate: Origin,
        /// Where the key came from.
        key: Origin,
    },
    /// A certificate store lookup failed (not found, unreadable, invalid entry).
    #[error("{key_path}: {cause}")]
    Store {
        /// The service.
        service: ServiceKind,
        /// The configuration key (`…mtls.cert_id` or `…mtls.ca_cert_ids`).
        key_path: String,
        /// The store's error.
        cause: StoreError,
    },
    /// Loading the service's material did not finish within [`crate::TlsOptions::load_timeout`].
    #[error("{key_path}: loading the TLS material did not finish within {after:?}")]
    Timeout {
        /// The service.
        service: ServiceKind,
        /// The configuration key (`external_services.<service>.mtls`).
        key_path: String,
        /// The deadline.
        after: std::time::Duration,
    },
    /// The service's `mtls` block breaks a configuration rule
    /// ([`extsvc_resolve::ResolvedMtls::errors`]), e.g. `cert_file` without `key_file` in a
    /// configuration built in code. The message is the loader's.
    #[error("{cause}")]
    Config {
        /// The service.
        service: ServiceKind,
        /// The configuration key path of the error.
        key_path: String,
        /// The error.
        cause: extsvc_config::ConfigError,
    },
    /// A private key kept encrypted in the certificate store could not be decrypted: no
    /// encoding secret, a wrong one, or a decrypted key that does not match the
    /// certificate. The reason names the setting and where its value came from, never the
    /// secret.
    #[error("{key_path}: cannot decrypt the private key of {origin}: {reason}")]
    DecryptKey {
        /// The service.
        service: ServiceKind,
        /// The configuration key (`…mtls.cert_id`).
        key_path: String,
        /// The store entry (or file, or inline PEM) holding the key.
        origin: Origin,
        /// Why, naming the setting.
        reason: String,
    },
    /// A `cert_id` / `ca_cert_ids` value holding PEM text (Tyk's inline form) is unusable.
    /// The message never repeats the value.
    #[error("{key_path}: inline PEM: {cause}")]
    InlinePem {
        /// The service.
        service: ServiceKind,
        /// The configuration key.
        key_path: String,
        /// What is wrong with the text.
        cause: PemError,
    },
    /// Certificate ids are configured but no certificate store was given.
    #[error("{key_path}: {} configured but no certificate store given", shown(ids))]
    NoStore {
        /// The service.
        service: ServiceKind,
        /// The configuration key.
        key_path: String,
        /// The configured ids, comma separated.
        ids: String,
    },
    /// rustls refused the configuration.
    #[error("{key_path}: cannot build the TLS configuration: {reason}")]
    Build {
        /// The service.
        service: ServiceKind,
        /// The configuration key (`…mtls`).
        key_path: String,
        /// rustls' reason.
        reason: String,
    },
    /// Certificate rotation ([`crate::TlsOptions::refresh_interval`]) needs a tokio runtime
    /// to reload files and store entries, and none is running (or set it to `None`).
    #[error("{key_path}: certificate rotation needs a tokio runtime")]
    NoRuntime {
        /// The service.
        service: ServiceKind,
        /// The configuration key (`…mtls`).
        key_path: String,
    },
    /// A secret reference in a path field or the encoding secret could not be resolved
    /// (SPEC section 6): the message names the key path, the reference and the store,
    /// never a value.
    #[error("{key_path}: {cause}")]
    Secret {
        /// The service.
        service: ServiceKind,
        /// The configuration key holding the reference.
        key_path: String,
        /// Why it failed.
        cause: SecretError,
    },
}

impl TlsError {
    /// The service whose configuration failed.
    pub fn service(&self) -> ServiceKind {
        match self {
            TlsError::ReadFile { service, .. }
            | TlsError::ParseFile { service, .. }
            | TlsError::InvalidCertificate { service, .. }
            | TlsError::UnusableKey { service, .. }
            | TlsError::KeyMismatch { service, .. }
            | TlsError::Store { service, .. }
            | TlsError::NoStore { service, .. }
            | TlsError::Timeout { service, .. }
            | TlsError::Config { service, .. }
            | TlsError::DecryptKey { service, .. }
            | TlsError::InlinePem { service, .. }
            | TlsError::Build { service, .. }
            | TlsError::NoRuntime { service, .. }
            | TlsError::Secret { service, .. } => *service,
        }
    }

    /// The configuration key the error is about.
    pub fn key_path(&self) -> &str {
        match self {
            TlsError::ReadFile { key_path, .. }
            | TlsError::ParseFile { key_path, .. }
            | TlsError::InvalidCertificate { key_path, .. }
            | TlsError::UnusableKey { key_path, .. }
            | TlsError::KeyMismatch { key_path, .. }
            | TlsError::Store { key_path, .. }
            | TlsError::NoStore { key_path, .. }
            | TlsError::Timeout { key_path, .. }
            | TlsError::Config { key_path, .. }
            | TlsError::DecryptKey { key_path, .. }
            | TlsError::InlinePem { key_path, .. }
            | TlsError::Build { key_path, .. }
            | TlsError::NoRuntime { key_path, .. }
            | TlsError::Secret { key_path, .. } => key_path,
        }
    }
}

/// `external_services.<service>.mtls.<field>`, followed by the variable's name when the
/// value came from the environment.
pub(crate) fn key_path(service: ServiceKind, field: &str, source: Option<&Source>) -> String {
    let path = if field.is_empty() {
        format!("external_services.{service}.mtls")
    } else {
        format!("external_services.{service}.mtls.{field}")
    };
    match source {
        Some(Source::Env(var)) => format!("{path} (env {var})"),
        Some(Source::Legacy(key)) => format!("{path} (legacy {key})"),
        _ => path,
    }
}

impl fmt::Debug for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TlsError").field(&self.to_string()).finish()
    }
}

/// Why PEM text could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// No block of the expected type: the text is empty, or holds only other blocks
    /// (e.g. a private key given where certificates are expected).
    #[error("no {expected} PEM block found")]
    NoBlock {
        /// What was looked for, e.g. `CERTIFICATE`.
        expected: &'static str,
    },
    /// A block is malformed (missing END line, bad base64, …). The reason never quotes the input.
    #[error("malformed PEM: {reason}")]
    Malformed {
        /// What is wrong, in fixed words.
        reason: &'static str,
    },
    /// An encrypted private key in a form extsvc does not decrypt (PKCS#8 encryption, an
    /// unknown RFC 1423 cipher).
    #[error("{what}")]
    UnsupportedEncryption {
        /// What is not supported, in fixed words.
        what: &'static str,
    },
    /// A `key_file` holds an encrypted private key. Keys kept in a certificate store are
    /// decrypted with the encoding secret; key files are not (Tyk cannot read them either).
    #[error("encrypted key files are not supported: decrypt it (openssl pkey -in KEY -out PLAIN_KEY) or keep the key in the certificate store")]
    EncryptedKeyFile,
}

/// Why a store lookup failed. Messages name the id; they never contain key material or
/// store credentials: ids are shown through [`extsvc_config::shown`] (PEM text pasted as
/// an id appears as `<PEM text, N bytes>`), and a backend's own text is capped and its
/// control characters escaped ([`extsvc_config::escaped`]).
///
/// `Debug` is the message (`StoreError("…")`), for the same reason.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Nothing is stored under the id.
    #[error("certificate not found in store: {}", shown(id))]
    NotFound {
        /// The id looked up.
        id: String,
    },
    /// The id cannot name an entry (empty, or characters the store does not allow, such as `/`).
    #[error("invalid certificate id \"{}\": {reason}", shown(id))]
    InvalidId {
        /// The id.
        id: String,
        /// Why.
        reason: &'static str,
    },
    /// The entry exists but its content is unusable (no certificate, no key, malformed PEM).
    #[error("certificate store entry {}: {cause}", shown(id))]
    InvalidEntry {
        /// The id.
        id: String,
        /// What is wrong with it.
        cause: PemError,
    },
    /// Reading the entry failed (file system, network).
    #[error("certificate store entry {}: failed to read {}: {cause}", shown(id), shown(location))]
    Io {
        /// The id.
        id: String,
        /// Where it was read from (a file path, `redis 127.0.0.1:6379`).
        location: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The store did not answer within the deadline ([`crate::TlsOptions::store_timeout`]).
    #[error("certificate store entry {}: no answer from {store} within {after:?}", shown(id))]
    Timeout {
        /// The id.
        id: String,
        /// The store (its `Debug`, which never shows credentials).
        store: String,
        /// The deadline.
        after: std::time::Duration,
    },
    /// The store's backend answered with an error (e.g. a Redis `-ERR` reply).
    #[error("certificate store entry {}: {}", shown(id), escaped(message))]
    Backend {
        /// The id.
        id: String,
        /// The backend's message.
        message: String,
    },
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreError").field(&self.to_string()).finish()
    }
}

/// Why a reference could not be resolved. Messages name the reference and the store,
/// never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The store does not hold the key.
    #[error("{reference}: not found in the {store} store")]
    NotFound {
        /// The reference as written.
        reference: String,
        /// The store's name.
        store: String,
    },
    /// No store of that name is configured.
    #[error("{reference}: no secret store named {store} is configured")]
    NoStore {
        /// The reference as written.
        reference: String,
        /// The store's name.
        store: String,
    },
    /// The lookup missed its deadline.
    #[error("{reference}: the {store} store did not answer within {after:?}")]
    Timeout {
        /// The reference as written.
        reference: String,
        /// The store's name.
        store: String,
        /// The deadline.
        after: std::time::Duration,
    },
    /// The value is larger than [`SECRET_LIMIT`](crate::SECRET_LIMIT).
    #[error("{reference}: the value from the {store} store is larger than {limit} bytes")]
    TooLarge {
        /// The reference as written.
        reference: String,
        /// The store's name.
        store: String,
        /// The limit.
        limit: usize,
    },
    /// The store failed (or, for `env://`, the variable is not valid UTF-8).
    #[error("{reference}: the {store} store failed: {message}")]
    Store {
        /// The reference as written.
        reference: String,
        /// The store's name.
        store: String,
        /// What failed (never the value).
        message: String,
    },
}
