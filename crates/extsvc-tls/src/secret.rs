//! Secrets by reference (SPEC section 6): [`SecretSource`], the seam for stores of secrets
//! by key (the same shape as [`CertificateStore`](crate::CertificateStore)), and
//! [`SecretSources`], the stores by name that resolve a [`SecretReference`].
//!
//! Provided: `env://NAME` reads `TYK_SECRET_<NAME>` from the environment snapshot (Tyk's
//! built-in env store) and `secrets://NAME` the tyk.conf `secrets` map
//! ([`SecretSources::standard`]). A gateway registers other stores by name
//! (`vault`, `consul`, or a `kv://<store>/…` name of its own).
//!
//! References are resolved where the material is loaded — at build, on every refresh and
//! on `reload()` — so a secret rotated in its store rotates the certificate. Each lookup
//! runs under [`TlsOptions::store_timeout`](crate::TlsOptions::store_timeout) and its answer
//! is capped at [`SECRET_LIMIT`]; a value is never shown in an error, a log line or `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use extsvc_config::{EnvSnapshot, ExternalServicesConfig, SecretReference, SecretText};

pub use crate::error::SecretError;

/// The largest secret accepted (a PEM bundle is a few kilobytes), in bytes.
#[doc(hidden)]
pub const SECRET_LIMIT: usize = 1024 * 1024;

/// The future a [`SecretSource`] returns: the secret, or `None` when the store does not
/// hold the key.
pub type SecretFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<SecretText>, SecretError>> + Send + 'a>>;

/// A store of secrets by key: implement it to resolve `vault://`, `consul://` or
/// `kv://<name>/` references from your own store, and register it with
/// [`SecretSources::with`] (or the builder's `secret_source`).
///
/// ```
/// use extsvc::config::SecretText;
/// use extsvc::tls::{SecretFuture, SecretSource};
///
/// /// A store that knows one secret.
/// #[derive(Debug)]
/// struct OneSecret;
///
/// impl SecretSource for OneSecret {
///     fn secret<'a>(&'a self, key: &'a str) -> SecretFuture<'a> {
///         Box::pin(async move { Ok((key == "gw.cert").then(|| SecretText::new("/etc/tyk/gw.pem"))) })
///     }
/// }
/// ```
pub trait SecretSource: fmt::Debug + Send + Sync {
    /// The secret stored under `key`; `Ok(None)` when there is none.
    fn secret<'a>(&'a self, key: &'a str) -> SecretFuture<'a>;

    /// The deadline of each lookup in this store, when the store has its own (tyk.conf's
    /// `kv.vault.timeout`); `None` (the default): [`SecretSources`]' deadline,
    /// [`TlsOptions::store_timeout`](crate::TlsOptions::store_timeout).
    fn deadline(&self) -> Option<Duration> {
        None
    }
}

/// The stores that resolve references, by name (`env`, `secrets`, `vault`, `consul`, or a
/// `kv://` store name), with the deadline of each lookup. Cheap to clone.
///
/// Two registries are equal when they hold the same stores (the same `Arc`s) and deadline:
/// it is part of [`TlsOptions`](crate::TlsOptions), which compares.
#[derive(Clone)]
pub struct SecretSources {
    stores: BTreeMap<String, Arc<dyn SecretSource>>,
    timeout: Duration,
}

impl Default for SecretSources {
    fn default() -> Self {
        SecretSources {
            stores: BTreeMap::new(),
            timeout: crate::DEFAULT_STORE_TIMEOUT,
        }
    }
}

impl fmt::Debug for SecretSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSources")
            .field("stores", &self.stores.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl PartialEq for SecretSources {
    fn eq(&self, other: &Self) -> bool {
        self.timeout == other.timeout
            && self.stores.len() == other.stores.len()
            && self
                .stores
                .iter()
                .zip(&other.stores)
                .all(|((a, x), (b, y))| a == b && Arc::ptr_eq(x, y))
    }
}

impl Eq for SecretSources {}

impl SecretSources {
    /// Tyk's built-in stores: `env` (`TYK_SECRET_<NAME>` of `env`) and `secrets` (the
    /// configuration's `secrets` map).
    pub fn standard(env: &EnvSnapshot, config: &ExternalServicesConfig) -> Self {
        SecretSources::default()
            .with("env", Arc::new(EnvSecrets { env: env.clone() }))
            .with(
                "secrets",
                Arc::new(ConfSecrets {
                    values: config.secrets.values.clone(),
                }),
            )
    }

    /// These stores and `source` under `name` (replacing one of that name).
    pub fn with(mut self, name: impl Into<String>, source: Arc<dyn SecretSource>) -> Self {
        self.stores.insert(name.into(), source);
        self
    }

    /// These stores with each lookup under `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Looks `reference` up in its store, under the deadline, capped at [`SECRET_LIMIT`].
    pub async fn resolve(&self, reference: &SecretReference) -> Result<SecretText, SecretError> {
        let written = reference.to_string();
        let store = reference.store().to_owned();
        let Some(source) = self.stores.get(&store) else {
            return Err(SecretError::NoStore {
                reference: written,
                store,
            });
        };
        // The deadline: the store's own, else ours (a timeout too large to add to the
        // clock means none).
        let timeout = source.deadline().unwrap_or(self.timeout);
        let lookup = source.secret(reference.key());
        let answer = match tokio::time::Instant::now().checked_add(timeout) {
            Some(deadline) => tokio::time::timeout_at(deadline, lookup).await.ok(),
            None => Some(lookup.await),
        }
        .ok_or_else(|| SecretError::Timeout {
            reference: written.clone(),
            store: store.clone(),
            after: timeout,
        })?;
        match answer {
            Ok(Some(value)) if value.expose().len() > SECRET_LIMIT => Err(SecretError::TooLarge {
                reference: written,
                store,
                limit: SECRET_LIMIT,
            }),
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(SecretError::NotFound {
                reference: written,
                store,
            }),
            // A store's own error is reported under this reference.
            Err(error) => Err(error),
        }
    }

    /// The text of `value`: itself, or what it references when it is a reference (the
    /// hook for any secret-valued setting, e.g. the storage passwords).
    pub async fn resolve_value(&self, value: &str) -> Result<SecretText, SecretError> {
        match SecretReference::parse(value) {
            Some(reference) => self.resolve(&reference).await,
            None => Ok(SecretText::new(value)),
        }
    }
}

/// `env://NAME`: the variable `TYK_SECRET_<NAME upper-cased>` of the snapshot, as Tyk's
/// built-in env store reads it.
#[derive(Debug)]
struct EnvSecrets {
    env: EnvSnapshot,
}

impl SecretSource for EnvSecrets {
    fn secret<'a>(&'a self, key: &'a str) -> SecretFuture<'a> {
        Box::pin(async move { env_secret(&self.env, key) })
    }
}

/// `env://key`: `TYK_SECRET_<KEY upper-cased>` of `env`, read at once (the `env` store's
/// lookup, and how a KV store's token given as `env://…` is read when the store is built).
pub(crate) fn env_secret(env: &EnvSnapshot, key: &str) -> Result<Option<SecretText>, SecretError> {
    let variable = format!("TYK_SECRET_{}", key.to_uppercase());
    match env.get_checked(&variable) {
        Ok(value) => Ok(value.map(SecretText::new)),
        Err(_) => Err(SecretError::Store {
            reference: format!("env://{}", extsvc_config::escaped(key)),
            store: "env".to_owned(),
            message: format!("{variable}: the value is not valid UTF-8"),
        }),
    }
}

/// `secrets://NAME`: the tyk.conf `secrets` map.
#[derive(Debug)]
struct ConfSecrets {
    values: BTreeMap<String, SecretText>,
}

impl SecretSource for ConfSecrets {
    fn secret<'a>(&'a self, key: &'a str) -> SecretFuture<'a> {
        Box::pin(async move { Ok(self.values.get(key).cloned()) })
    }
}
