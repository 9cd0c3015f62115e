//! `--cert-store DIR|redis://…`: which certificate store the TLS material is read from.

use std::sync::Arc;
use std::time::Duration;

use extsvc::config::EnvSnapshot;
use extsvc::tls::{CertificateStore, DirectoryStore, RedisStore, TlsOptions};

use crate::args::ConfigArgs;

/// `--cert-store storage`: the gateway's own Redis, from tyk.conf's `storage` section.
const STORAGE: &str = "storage";

/// Options naming the certificate store.
#[derive(Debug, clap::Args)]
pub(crate) struct CertStoreArgs {
    /// Certificate store: a directory of `<id>.pem` files, `redis://[user:password@]host[:port][/db]`
    /// whose key `cert-raw-<id>` holds the PEM bundle (a Tyk gateway's own store), or
    /// `storage`: the same keys in the Redis of tyk.conf's `storage` section (one node,
    /// Cluster or Sentinel, through the storage service's proxy and TLS). Keys
    /// encrypted as Tyk encrypts them are decrypted with the encoding secret
    /// (`security.private_certificate_encoding_secret`, else `secret`).
    #[arg(long, value_name = "DIR|redis://…|storage")]
    pub(crate) cert_store: Option<String>,
    /// Prefix put before `raw-<id>` in a Redis store (`""` for none).
    #[arg(long, value_name = "PREFIX", default_value = extsvc::tls::DEFAULT_KEY_PREFIX)]
    pub(crate) cert_store_prefix: String,
    /// Deadline of each certificate store lookup (connecting included), e.g. `500ms`, `10s`.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::args::parse_duration)]
    pub(crate) cert_store_timeout: Duration,
}

impl CertStoreArgs {
    /// The TLS options of a one-off build: the store deadline given, the rest defaults.
    pub(crate) fn tls_options(&self) -> TlsOptions {
        TlsOptions::default().with_store_timeout(self.cert_store_timeout)
    }

    /// Opens the store; `storage` builds the gateway's Redis client from the `storage`
    /// section on `runtime` (its TLS material is loaded; nothing connects yet).
    pub(crate) fn open_with(
        &self,
        config: &ConfigArgs,
        env: &EnvSnapshot,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Option<Arc<dyn CertificateStore>>, String> {
        if self.cert_store.as_deref() != Some(STORAGE) {
            return self.open();
        }
        let loaded = crate::load::load_config(config, env).map_err(|errors| errors.join("\n"))?;
        // Only the storage service's TLS reaches the store (check builds the others
        // afterwards, with the store).
        let loaded = crate::load::storage_only(loaded);
        let built = runtime.block_on(
            extsvc::ExternalServices::builder()
                .config(loaded)
                .env(env.clone())
                .tls_options(self.tls_options())
                .build(),
        );
        let services = built.map_err(|e| format!("--cert-store storage: {e}"))?;
        let redis = services
            .storage_redis()
            .map_err(|e| format!("--cert-store storage: {e}"))?;
        let store = RedisStore::with_connection(redis).with_key_prefix(self.cert_store_prefix.clone());
        Ok(Some(Arc::new(store)))
    }

    /// Opens the store (no I/O yet: stores connect on first use).
    fn open(&self) -> Result<Option<Arc<dyn CertificateStore>>, String> {
        let Some(spec) = self.cert_store.as_deref() else {
            return Ok(None);
        };
        if spec.starts_with("redis://") || spec.starts_with("rediss://") {
            let store = RedisStore::from_url(spec)
                .map_err(|e| format!("--cert-store: {e}"))?
                .with_key_prefix(self.cert_store_prefix.clone());
            return Ok(Some(Arc::new(store)));
        }
        let dir = std::path::Path::new(spec);
        if !dir.is_dir() {
            return Err(format!(
                "--cert-store: {} is not a directory (nor a redis:// URL)",
                extsvc::config::shown(spec)
            ));
        }
        Ok(Some(Arc::new(DirectoryStore::new(dir))))
    }
}
