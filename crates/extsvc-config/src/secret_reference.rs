//! Secrets by reference (SPEC section 6), the part that needs no I/O: recognising Tyk's
//! KV notation in a value, and the tyk.conf `secrets` map the `secrets://` notation reads.
//!
//! Tyk resolves `env://NAME`, `secrets://NAME`, `vault://path.key`, `consul://key` and
//! `kv://<store>/<key>` (its `gateway/kv.go`) in the mTLS path fields, the certificate
//! store's encoding secret and `secret`. This crate only says *that* a value is a
//! reference ([`SecretReference::parse`]); `extsvc-tls` looks it up, under a deadline, each
//! time the material is loaded (build, refresh, reload).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A reference to a secret, as written: `env://NAME`, `secrets://NAME`,
/// `vault://path.key`, `consul://key` or `kv://<store>/<key>`.
///
/// ```
/// use extsvc::config::SecretReference;
///
/// let reference = SecretReference::parse("vault://secret/gw.cert").unwrap();
/// assert_eq!((reference.store(), reference.key(), reference.notation()), ("vault", "secret/gw.cert", "vault"));
/// let by_name = SecretReference::parse("kv://corp-vault/gw.cert").unwrap();
/// assert_eq!((by_name.store(), by_name.key(), by_name.notation()), ("corp-vault", "gw.cert", "kv"));
/// // An unknown scheme is a plain path, as in Tyk.
/// assert!(SecretReference::parse("file:///etc/tyk/gw.pem").is_none());
/// assert!(SecretReference::parse("/etc/tyk/gw.pem").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretReference {
    written: String,
    notation: &'static str,
    store: String,
    key: String,
}

/// The notations Tyk resolves, with the store each names.
const NOTATIONS: [&str; 5] = ["env", "secrets", "vault", "consul", "kv"];

impl SecretReference {
    /// The reference `value` is, if it is one (an empty key is not).
    pub fn parse(value: &str) -> Option<SecretReference> {
        let (scheme, rest) = value.split_once("://")?;
        let notation = NOTATIONS.into_iter().find(|n| *n == scheme)?;
        let (store, key) = match notation {
            "kv" => {
                let (store, key) = rest.split_once('/')?;
                (store.to_owned(), key.to_owned())
            }
            _ => (notation.to_owned(), rest.to_owned()),
        };
        (!store.is_empty() && !key.is_empty()).then(|| SecretReference {
            written: value.to_owned(),
            notation,
            store,
            key,
        })
    }

    /// The notation: `env`, `secrets`, `vault`, `consul` or `kv` (what `resolve` shows as
    /// `"reference"`).
    pub fn notation(&self) -> &'static str {
        self.notation
    }

    /// The store that holds it: the notation's own store, or for `kv://` the store named.
    pub fn store(&self) -> &str {
        &self.store
    }

    /// The key within the store.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The reference as written.
    pub fn as_str(&self) -> &str {
        &self.written
    }
}

impl fmt::Display for SecretReference {
    /// The reference as written (it names where the secret is, not the secret), escaped
    /// and capped like every echoed value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::escaped(&self.written))
    }
}

/// A secret's text: a value of the `secrets` map, or what a store returned. `Display`,
/// `Debug` show `***`; only [`SecretText::expose`] gives it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(Arc<str>);

impl SecretText {
    /// Wraps a secret.
    pub fn new(text: impl Into<Arc<str>>) -> Self {
        SecretText(text.into())
    }

    /// The secret. Never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(***)")
    }
}

impl fmt::Display for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// tyk.conf's top-level `secrets` map (`secrets://NAME` reads it), or, replacing it as
/// Tyk's `envconfig` does, `TYK_GW_SECRETS` (`name:value,name:value`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the configuration model: one field per tyk.conf key, written in code with `..Default::default()`"
)]
pub struct SecretsSettings {
    /// The values by name.
    pub values: BTreeMap<String, SecretText>,
    /// Where the map came from (`file:secrets` or `env:TYK_GW_SECRETS`).
    pub source: Option<crate::Source>,
}

/// `TYK_GW_SECRETS` as Go's `envconfig` reads a `map[string]string`: comma-separated
/// `name:value` pairs; an entry without `:` is an error (its text is never echoed).
pub(crate) fn parse_secrets_variable(value: &str) -> Result<BTreeMap<String, SecretText>, String> {
    let mut values = BTreeMap::new();
    for (i, entry) in value.split(',').enumerate().filter(|(_, e)| !e.trim().is_empty()) {
        let Some((name, secret)) = entry.split_once(':') else {
            return Err(format!("entry {} is not name:value", i + 1));
        };
        values.insert(name.trim().to_owned(), SecretText::new(secret));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notations() {
        for (value, store, key) in [
            ("env://GW_CERT", "env", "GW_CERT"),
            ("secrets://gw-cert", "secrets", "gw-cert"),
            ("consul://tyk/gw/cert", "consul", "tyk/gw/cert"),
            ("kv://vault/secret/gw.cert", "vault", "secret/gw.cert"),
        ] {
            let reference = SecretReference::parse(value).unwrap();
            assert_eq!((reference.store(), reference.key()), (store, key), "{value}");
        }
        for value in ["env://", "kv://vault", "kv:///x", "http://x", "env:/x", "", "secrets"] {
            assert!(SecretReference::parse(value).is_none(), "{value}");
        }
    }

    #[test]
    fn the_secrets_variable_is_a_go_map() {
        let values = parse_secrets_variable("a:1, b:x:y,").unwrap();
        assert_eq!(values["a"].expose(), "1");
        assert_eq!(values["b"].expose(), "x:y");
        assert_eq!(
            parse_secrets_variable("a:1,oops").unwrap_err(),
            "entry 2 is not name:value"
        );
        assert_eq!(format!("{:?}", values["a"]), "SecretText(***)");
    }
}

/// tyk.conf's `kv.vault` block: the Vault that `vault://` references read (SPEC section 6).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the configuration model: one field per tyk.conf key, written in code with `..Default::default()`"
)]
pub struct VaultSettings {
    /// `address`, e.g. `https://vault.internal:8200`.
    pub address: String,
    /// `token`, sent as `X-Vault-Token`.
    pub token: Option<SecretText>,
    /// `kv_version`: 1 or 2 (default 2; Tyk reads any other integer as 2).
    pub kv_version: u8,
    /// `timeout` (Go's `time.Duration`: an integer number of nanoseconds in tyk.conf, `5s`
    /// in `TYK_GW_KV_VAULT_TIMEOUT`): the deadline of each lookup in this store. `None`
    /// (absent, zero or negative, as Tyk ignores those): the store deadline,
    /// `TlsOptions::store_timeout`.
    pub timeout: Option<std::time::Duration>,
}

/// tyk.conf's `kv.consul` block: the Consul that `consul://` references read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the configuration model: one field per tyk.conf key, written in code with `..Default::default()`"
)]
pub struct ConsulSettings {
    /// `address`, `host:port` (or a URL).
    pub address: String,
    /// `scheme`: `http` (default) or `https`.
    pub scheme: String,
    /// `token`, sent as `X-Consul-Token`.
    pub token: Option<SecretText>,
    /// `datacenter`, sent as `?dc=`.
    pub datacenter: Option<String>,
    /// `timeout`, as [`VaultSettings::timeout`] (Tyk's Consul block has no such key and
    /// ignores it; here it is the deadline of each lookup in this store).
    pub timeout: Option<std::time::Duration>,
    /// `tls_config`: the TLS of an `https` Consul.
    pub tls: ConsulTlsSettings,
}

/// tyk.conf's `kv.consul.tls_config` (Tyk's `ConsulConfig.TLSConfig`, which the Consul
/// client's own `TLSConfig` reads): used when the Consul address or `scheme` is `https`.
/// Empty strings are Go's zero values: not set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the configuration model: one field per tyk.conf key, written in code with `..Default::default()`"
)]
pub struct ConsulTlsSettings {
    /// `address`: the server name to verify (and send as SNI), its port ignored; default
    /// the host of `kv.consul.address`.
    pub address: Option<String>,
    /// `ca_file`: PEM file of the CAs that replace the system roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// `ca_path`: a directory of PEM files of CAs, added to `ca_file`'s.
    pub ca_path: Option<std::path::PathBuf>,
    /// `cert_file`: the client certificate (PEM chain); needs `key_file`.
    pub cert_file: Option<std::path::PathBuf>,
    /// `key_file`: the client certificate's key; needs `cert_file`.
    pub key_file: Option<std::path::PathBuf>,
    /// `insecure_skip_verify`: Consul's server certificate is not verified.
    pub insecure_skip_verify: bool,
}

impl ConsulTlsSettings {
    /// Whether a CA or a client certificate is configured (what plain HTTP would drop).
    pub fn has_material(&self) -> bool {
        self.ca_file.is_some() || self.ca_path.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }
}

/// tyk.conf's `kv` block: the network stores of secret references.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the configuration model: one field per tyk.conf key, written in code with `..Default::default()`"
)]
pub struct KvSettings {
    /// `kv.vault`.
    pub vault: Option<VaultSettings>,
    /// `kv.consul`.
    pub consul: Option<ConsulSettings>,
}
