//! TLS material for external services: PEM loading, the pluggable certificate store and
//! per-service rustls client configurations.
//!
//! `extsvc-resolve` decides *which* material a service uses ([`extsvc_resolve::ResolvedMtls`]:
//! store id over files, roots, versions, `insecure_skip_verify`). This crate loads it and
//! turns it into rustls configs that `extsvc-client` clones for its connectors:
//!
//! - [`build_service_tls`] → [`ServiceTls`] `{ target, proxy }` for one service;
//! - [`CertificateStore`] — the seam for certificates by id, with [`MemoryStore`],
//!   [`DirectoryStore`] and (feature `redis`) `RedisStore`;
//! - rotation: with [`TlsOptions::refresh_interval`] the client certificate is reloaded
//!   and swapped for new handshakes without rebuilding anything;
//! - [`check()`] / [`check_services`] — what `extsvc check` runs: builds everything, reports
//!   every problem (each piece of material on its own line) and warning (expiry within 30
//!   days, missing clientAuth usage);
//! - [`danger`] — the verifier behind `insecure_skip_verify`.
//!
//! rustls with the ring provider only. Key material never appears in Debug, Display,
//! logs or errors.

pub mod check;
pub mod danger;
mod error;
mod material;
pub mod pem;
mod rotation;
mod service;
pub mod store;

pub use check::{check, check_services, CheckReport};
pub use error::{Material, Origin, TlsError};
pub use pem::{ClientCertificate, PemError};
pub use service::{build_service_tls, ServiceTls, TlsOptions};
pub use store::{CertificateStore, DirectoryStore, MemoryStore, StoreError, StoreFuture};
#[cfg(feature = "redis")]
pub use store::{InvalidRedisUrl, RedisConnector, RedisStore, RedisUrl, TcpConnector};
