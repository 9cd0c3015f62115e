//! The certificate store: the one seam a user implements to bring certificates by id.
//!
//! `cert_id` and `ca_cert_ids` in the configuration name entries of a [`CertificateStore`].
//! Provided implementations:
//! - [`MemoryStore`]: in memory, entries inserted and replaced at run time;
//! - [`DirectoryStore`]: `DIR/<id>.pem` files;
//! - `RedisStore` (cargo feature `redis`): key `cert-raw-<id>` in Redis, as Tyk keeps its store.
//!
//! Stores return entries as they hold them: a private key encrypted the way Tyk encrypts
//! it (RFC 1423) comes back still encrypted
//! ([`crate::StoredPrivateKey::Encrypted`]) and is decrypted with the encoding secret when
//! the service's TLS is built, the same way for every store.
//!
//! The trait is object safe; its methods return boxed futures, so a store can do network
//! I/O. Every lookup runs under a deadline applied by the caller, whatever the store
//! ([`crate::TlsOptions::store_timeout`]). Stores are read again at every reload (every
//! refresh interval, on by default: [`crate::TlsOptions::refresh_interval`]; or
//! [`crate::ServiceTls::reload`]).

mod certificate_store;
mod deadline;
mod directory;
mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use self::certificate_store::{CertificateStore, StoreFuture};
pub(crate) use deadline::DeadlineStore;
pub use deadline::DEFAULT_STORE_TIMEOUT;
pub use directory::DirectoryStore;
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{InvalidRedisUrl, RedisConnector, RedisStore, RedisUrl, TcpRedisConnector, DEFAULT_KEY_PREFIX};
