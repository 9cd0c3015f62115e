//! TLS material for external services: PEM loading, the pluggable certificate store and
//! per-service rustls client configurations.
//!
//! `extsvc-resolve` decides *which* material a service uses ([`extsvc_resolve::ResolvedMtls`]:
//! store id over files, roots, versions, `insecure_skip_verify`). This crate loads it and
//! turns it into the rustls configs that `extsvc-client`'s connectors use:
//!
//! - [`build_service_tls`] → [`ServiceTls`] `{ target, proxy }` for one service, each leg a
//!   [`RotatingConfig`] whose [`current`](RotatingConfig::current) configuration a
//!   connector takes for every new connection;
//! - [`CertificateStore`] — the seam for certificates by id, with [`MemoryStore`],
//!   [`DirectoryStore`] and (feature `redis`) `RedisStore` (`cert-raw-<id>`, as a Tyk
//!   gateway keeps its store); private keys encrypted as Tyk encrypts them
//!   (RFC 1423, as Tyk stores them) are decrypted with the service's encoding secret
//!   ([`extsvc_resolve::ResolvedMtls::encoding_secret`]), whatever the store;
//! - rotation: client certificates and CA certificates from files or the store are
//!   reloaded every [`TlsOptions::refresh_interval`] (default [`DEFAULT_REFRESH_INTERVAL`])
//!   or on demand ([`ServiceTls::reload`] → [`ReloadReport`]); a change builds new
//!   configurations for new connections, each with its own session store, so sessions
//!   resume only within one generation of the material;
//! - [`check()`] / [`check_services`] — what `extsvc check` runs: builds everything, reports
//!   every problem (each piece of material on its own line) and warning (expiry within 30
//!   days, missing clientAuth usage);
//! - [`danger`] — the verifier behind `insecure_skip_verify`.
//!
//! rustls with one crypto provider, chosen at build time by a feature ([`CRYPTO_PROVIDER`],
//! [`crypto_provider`]: aws-lc-rs with post-quantum key exchange by default; aws-lc-rs
//! without it, ring, or aws-lc-rs's FIPS module). Key material and the encoding secret never appear in
//! Debug, Display, logs or errors.

mod check;
mod config;
pub mod danger;
mod encrypted_pem;
mod error;
mod kv_store;
mod material;
mod options;
mod pem;
mod pem_file;
mod provider;
#[cfg(feature = "redis")]
#[doc(hidden)] // the RESP reply bound under redis-rs, for extsvc-client's Redis client
pub mod resp;
mod rotating_config;
mod rotation;
mod secret;
mod service;
mod store;
mod system_roots;

pub use check::{check, check_services, check_services_within, CheckReport};
pub use error::{Material, Origin, PemError, StoreError, TlsError};
pub use kv_store::{ConsulSource, VaultSource};
pub use options::TlsOptions;
pub use pem::{ClientCertificate, StoredPrivateKey};
pub use provider::{crypto_provider, CRYPTO_PROVIDER};
pub use rotating_config::RotatingConfig;
pub use rotation::ReloadReport;
pub use secret::{SecretError, SecretFuture, SecretSource, SecretSources, SECRET_LIMIT};
pub use service::{build_service_tls, ServiceTls};
pub use store::{CertificateStore, DirectoryStore, MemoryStore, StoreFuture};
#[cfg(feature = "redis")]
pub use store::{InvalidRedisUrl, RedisConnector, RedisStore, RedisUrl, TcpRedisConnector};
// Defaults and thresholds: their values are stated where they apply (`TlsOptions`'s
// fields, `RedisStore`, `CheckReport`); the constants stay reachable for the workspace.
#[doc(hidden)]
pub use check::EXPIRY_WARNING_DAYS;
#[doc(hidden)]
pub use options::{DEFAULT_LOAD_TIMEOUT, DEFAULT_REFRESH_INTERVAL};
#[cfg(feature = "redis")]
#[doc(hidden)]
pub use store::DEFAULT_KEY_PREFIX;
#[doc(hidden)]
pub use store::DEFAULT_STORE_TIMEOUT;

/// What the fuzz targets and the workspace's own tests call below the documented surface:
/// the PEM parsers and the RFC 1423 decryption on their own. Not part of the API: no
/// stability promise, hidden from the docs (rustls' `internal` pattern).
#[doc(hidden)]
pub mod internal {
    pub use crate::encrypted_pem::{split_encrypted_key, DecryptError, EncryptedPrivateKey, PemCipher, SplitPem};
    pub use crate::pem::{parse_certificates, parse_private_key, parse_stored_key};
}
