//! The keys of tyk.conf's `kv` block (Tyk's `VaultConfig` and `ConsulConfig`), their Go
//! types and variable names, and the values read: below the layers, the loader and the
//! suggestions, which all name them. `kv` reads them.

use std::collections::BTreeMap;

/// The Go type of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `string`.
    Text,
    /// `string` holding a token: never echoed.
    Secret,
    /// `int`.
    Integer,
    /// `time.Duration`.
    Duration,
    /// `bool`.
    Bool,
}

/// One key of the block: its path below `kv`, its Go type, whether Tyk's struct has it
/// (`kv.consul.timeout` is SPEC's, not Tyk's: Tyk ignores it, so a wrong type there is a
/// warning, not an error), and for a key of Tyk's that extsvc does not use, why (said in a
/// warning when it is set; `Some("")`: nothing to say).
pub(crate) struct KvKey {
    pub(crate) path: &'static str,
    pub(crate) shape: Shape,
    pub(crate) tyk: bool,
    pub(crate) unused: Option<&'static str>,
}

const fn key(path: &'static str, shape: Shape, tyk: bool) -> KvKey {
    KvKey {
        path,
        shape,
        tyk,
        unused: None,
    }
}

/// A key of Tyk's, type-checked as Go does, but not used here: `why` (empty: silently).
const fn unused(path: &'static str, shape: Shape, why: &'static str) -> KvKey {
    KvKey {
        path,
        shape,
        tyk: true,
        unused: Some(why),
    }
}

/// The keys read, in Tyk's order.
pub(crate) const KV_KEYS: [KvKey; 20] = [
    key("vault.address", Shape::Text, true),
    unused(
        "vault.agent_address",
        Shape::Text,
        "not used: extsvc asks the Vault at kv.vault.address",
    ),
    unused(
        "vault.max_retries",
        Shape::Integer,
        "not used: extsvc does not retry a lookup (a failed one fails the build, or is reported and retried at the \
         next refresh)",
    ),
    key("vault.timeout", Shape::Duration, true),
    key("vault.token", Shape::Secret, true),
    key("vault.kv_version", Shape::Integer, true),
    key("consul.address", Shape::Text, true),
    key("consul.scheme", Shape::Text, true),
    key("consul.datacenter", Shape::Text, true),
    unused(
        "consul.http_auth.username",
        Shape::Text,
        "not used: extsvc authenticates to Consul with kv.consul.token only (no HTTP basic authentication)",
    ),
    unused(
        "consul.http_auth.password",
        Shape::Secret,
        "not used: extsvc authenticates to Consul with kv.consul.token only (no HTTP basic authentication)",
    ),
    // Only blocking queries wait; a lookup is one plain GET.
    unused("consul.wait_time", Shape::Duration, ""),
    key("consul.token", Shape::Secret, true),
    key("consul.timeout", Shape::Duration, false),
    key("consul.tls_config.address", Shape::Text, true),
    key("consul.tls_config.ca_file", Shape::Text, true),
    key("consul.tls_config.ca_path", Shape::Text, true),
    key("consul.tls_config.cert_file", Shape::Text, true),
    key("consul.tls_config.key_file", Shape::Text, true),
    key("consul.tls_config.insecure_skip_verify", Shape::Bool, true),
];

impl KvKey {
    /// `kv.vault.kv_version`.
    pub(crate) fn full_path(&self) -> String {
        format!("kv.{}", self.path)
    }

    /// `<prefix>KV_VAULT_KV_VERSION`: the key path upper-cased, `_` between segments.
    pub(crate) fn env_var(&self, prefix: &str) -> String {
        format!("{prefix}KV_{}", self.path.replace('.', "_").to_ascii_uppercase())
    }

    /// `<prefix>KV_VAULT_KVVERSION`: envconfig's name of Tyk's Go field (`KVVersion`,
    /// `TLSConfig`, `CAFile`: segments without inner underscores).
    pub(crate) fn tyk_env_var(&self, prefix: &str) -> String {
        let segments: Vec<String> = self
            .path
            .split('.')
            .map(|s| s.replace('_', "").to_ascii_uppercase())
            .collect();
        format!("{prefix}KV_{}", segments.join("_"))
    }
}

/// One value, read and type-checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    Integer(i64),
    /// Nanoseconds, as Go's `time.Duration`.
    Duration(i64),
    Bool(bool),
}

/// The block's values by key path below `kv` (`vault.timeout`), as read from one source.
#[derive(Debug, Clone, Default)]
pub(crate) struct KvValues(pub(crate) BTreeMap<&'static str, Value>);

/// Every variable name of the block without the prefix, both spellings (`KV_VAULT_KV_VERSION`,
/// `KV_VAULT_KVVERSION`), built once per process: the candidates of "did you mean".
pub(crate) fn variable_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        KV_KEYS
            .iter()
            .flat_map(|k| [k.env_var(""), k.tyk_env_var("")])
            .collect()
    })
}
