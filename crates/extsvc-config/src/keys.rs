//! The table of every configuration key extsvc reads.
//!
//! [`KEYS`] is the single list the loader walks: it decides which keys of the file are
//! known, which environment variables exist (both spellings), what "did you mean"
//! suggests, and what `docs/configuration.md` lists.
//!
//! It is also where the key set is described, once. The fields of the two blocks that
//! repeat (the proxy block and the mtls block: 69 of the 74 keys) are listed here with
//! their type and doc line, and the same lists generate the serde structs of the file
//! (`file::GlobalFile`, `file::MtlsFile`); the validated model is built from those
//! structs destructured field by field, so a key added to a list does not compile until
//! `validate` reads it into the model. The five keys outside `external_services` and the
//! block structure (`file::TykConfFile`, `ServiceFile`, `ExternalServicesFile`,
//! `SecurityFile`) are written by hand and checked against [`KEYS`] by a test in `file`.

/// The type of a key's value: its shape in JSON and in the environment, and what the
/// loader checks about the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the key table's value types, matched by the workspace's own crates (internal)"
)]
pub enum KeyType {
    /// JSON `true`/`false`; in the environment `true`, `false`, `1` or `0` (any case).
    Bool,
    /// A string taken as it is (a certificate id).
    String,
    /// A JSON array of strings; in the environment comma separated.
    StringList,
    /// A string holding a proxy URL (`http://…`, `https://…`, `socks5://…`, `socks5h://…` or
    /// `host:port`); `""` means none.
    ProxyUrl,
    /// A string holding a comma-separated bypass list.
    BypassList,
    /// A string holding a TLS version: `"1.2"` or `"1.3"`.
    TlsVersion,
    /// A string holding a file path.
    FilePath,
    /// A secret string (the certificate store's encoding secret): never shown in a
    /// message, not even when it has the wrong type.
    Secret,
}

impl KeyType {
    /// How the type is named in the configuration reference.
    pub const fn doc_name(self) -> &'static str {
        match self {
            KeyType::Bool => "boolean",
            KeyType::String => "string",
            KeyType::StringList => "list of strings",
            KeyType::ProxyUrl => "proxy URL",
            KeyType::BypassList => "bypass list",
            KeyType::TlsVersion => "TLS version",
            KeyType::FilePath => "file path",
            KeyType::Secret => "secret string",
        }
    }

    /// What the JSON value must be, as said in error messages (`true or false`, …).
    pub const fn expected_json(self) -> &'static str {
        match self {
            KeyType::Bool => "true or false",
            KeyType::StringList => "an array of strings",
            KeyType::BypassList => "a string (a comma-separated list)",
            KeyType::String | KeyType::ProxyUrl | KeyType::TlsVersion | KeyType::FilePath | KeyType::Secret => {
                "a string"
            }
        }
    }
}

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a row of the key table, written as literals in the table itself (internal)"
)]
pub struct KeySpec {
    /// Dotted path from the top of tyk.conf, e.g. `external_services.oauth.mtls.cert_file`.
    pub path: &'static str,
    /// Its type.
    pub ty: KeyType,
    /// One line of documentation.
    pub doc: &'static str,
}

/// The first segment of every key of the new structure.
pub(crate) const ROOT: &str = "external_services";

impl KeySpec {
    /// True for the keys outside `external_services`: the legacy top-level keys
    /// (`http_proxy`, `https_proxy`, `jwt_ssl_insecure_skip_verify`) and the certificate
    /// store's secrets (`security.private_certificate_encoding_secret`, `secret`). They have
    /// Tyk's variable spelling only, and their file source shows as `legacy:<path>`.
    pub fn is_legacy(&self) -> bool {
        !self.path.starts_with("external_services.")
    }

    /// The segments of the dotted path.
    pub fn segments(&self) -> impl Iterator<Item = &'static str> {
        self.path.split('.')
    }

    /// The last segment: the field name (`cert_file`).
    pub fn name(&self) -> &'static str {
        self.path.rsplit('.').next().unwrap_or(self.path)
    }

    /// The documented variable: `prefix` + the path upper-cased with `_` between segments
    /// (`TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE`).
    ///
    /// Legacy keys have only Tyk's spelling (`TYK_GW_HTTPPROXY`), so for them this equals
    /// [`KeySpec::tyk_env_var`].
    pub fn env_var(&self, prefix: &str) -> String {
        if self.is_legacy() {
            return self.tyk_env_var(prefix);
        }
        let mut name = String::from(prefix);
        for (i, segment) in self.segments().enumerate() {
            if i > 0 {
                name.push('_');
            }
            name.push_str(&segment.to_ascii_uppercase());
        }
        name
    }

    /// Tyk Gateway's own spelling: segments without their inner underscores
    /// (`TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_CERTFILE`).
    pub fn tyk_env_var(&self, prefix: &str) -> String {
        let mut name = String::from(prefix);
        for (i, segment) in self.segments().enumerate() {
            if i > 0 {
                name.push('_');
            }
            name.extend(segment.chars().filter(|c| *c != '_').map(|c| c.to_ascii_uppercase()));
        }
        name
    }
}

/// The key with this exact dotted path.
pub fn find_key(path: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.path == path)
}

/// The distinct next segments below `prefix` (a dotted path without trailing dot), in
/// table order: `children("external_services.oauth")` is `["proxy", "mtls"]`.
pub(crate) fn children(prefix: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for key in KEYS {
        let Some(rest) = key.path.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let next = rest.split('.').next().unwrap_or(rest);
        if !out.contains(&next) {
            out.push(next);
        }
    }
    out
}

// The two blocks that repeat (the proxy block, six times; the mtls block, five) have their
// fields written once, below: name, type and documentation. Each list hands its fields to
// a macro it is given, so the same list makes the serde struct (`file::GlobalFile`,
// `file::MtlsFile`) and the rows of KEYS: a field cannot be in one and not the other.

/// The fields of a proxy block: `external_services.global` and every
/// `external_services.<service>.proxy` (the same struct, `file::GlobalFile`). Each field
/// has the global block's doc line and a service's; `$what` names the service.
macro_rules! proxy_block_fields {
    ($emit:ident! { $($head:tt)* } $($what:literal)?) => {
        $emit! { $($head)*
            enabled: Bool => {
                global: "Proxy every service through the global settings (unless a service's own proxy block is enabled).",
                service: concat!("Use the proxy settings of this block for ", $($what,)? "; when not true, the global settings apply."),
            }
            http_proxy: ProxyUrl => {
                global: "Proxy for `http://` targets; unset falls back to legacy `http_proxy`, then `HTTP_PROXY`.",
                service: concat!("Proxy for `http://` targets of ", $($what,)? "."),
            }
            https_proxy: ProxyUrl => {
                global: "Proxy for `https://` targets; unset falls back to legacy `https_proxy`, then `HTTPS_PROXY`, then the configured `http_proxy` (Tyk's fallback).",
                service: concat!("Proxy for `https://` targets of ", $($what,)? "."),
            }
            bypass_proxy: BypassList => {
                global: "Hosts reached directly (domains, IPs, CIDRs, `host:port`, `*`); unset falls back to `NO_PROXY`.",
                service: concat!("Hosts that ", $($what,)? " reach directly; replaces the global list (`*` bypasses everything)."),
            }
        }
    };
}

/// The fields of `external_services.<service>.mtls` (`file::MtlsFile`); `$what` names
/// the service.
macro_rules! mtls_block_fields {
    ($emit:ident! { $($head:tt)* } $($what:literal)?) => {
        $emit! { $($head)*
            enabled: Bool => {
                concat!("Use the TLS settings of this block for ", $($what,)? "; when not true, the other mtls keys are ignored.")
            }
            cert_file: FilePath => { "PEM client certificate (with `key_file`); `cert_id` takes precedence." }
            key_file: FilePath => { "PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1)." }
            ca_file: FilePath => { "PEM CA certificates that replace the default roots for server verification." }
            cert_id: String => { "Client certificate id in the certificate store; wins over `cert_file`/`key_file`." }
            ca_cert_ids: StringList => { "CA certificate ids in the certificate store; win over `ca_file`." }
            insecure_skip_verify: Bool => { "Do not verify the target's certificate (never the proxy's). Not for production." }
            tls_min_version: TlsVersion => { "Lowest TLS version offered: `1.2` (default) or `1.3`." }
            tls_max_version: TlsVersion => { "Highest TLS version offered: `1.2` or `1.3` (default)." }
        }
    };
}

/// The rows of [`KEYS`] for one block, from its field list: `key_rows! { mtls "prefix."; … }`,
/// or `key_rows! { proxy global "prefix."; … }` / `proxy service` to pick the proxy docs.
macro_rules! key_rows {
    (@doc global, $global:expr, $service:expr) => { $global };
    (@doc service, $global:expr, $service:expr) => { $service };
    (proxy $which:ident $prefix:expr; $($field:ident: $ty:ident => { global: $global:expr, service: $service:expr $(,)? })*) => {
        [$(KeySpec {
            path: concat!($prefix, stringify!($field)),
            ty: KeyType::$ty,
            doc: key_rows!(@doc $which, $global, $service),
        }),*]
    };
    (mtls $prefix:expr; $($field:ident: $ty:ident => { $doc:expr })*) => {
        [$(KeySpec { path: concat!($prefix, stringify!($field)), ty: KeyType::$ty, doc: $doc }),*]
    };
}
pub(crate) use {mtls_block_fields, proxy_block_fields};

/// `external_services.<service>.proxy` and `.mtls`, in that order.
macro_rules! service_keys {
    ($svc:literal, $what:literal) => {
        concat_tables::<13, 2>([
            &proxy_block_fields!(key_rows! { proxy service concat!("external_services.", $svc, ".proxy.") ; } $what),
            &mtls_block_fields!(key_rows! { mtls concat!("external_services.", $svc, ".mtls.") ; } $what),
        ])
    };
}

const GLOBAL_KEYS: [KeySpec; 4] = proxy_block_fields!(key_rows! { proxy global "external_services.global."; });

const LEGACY_KEYS: [KeySpec; 3] = [
    KeySpec {
        path: "http_proxy",
        ty: KeyType::ProxyUrl,
        doc: "Legacy: fills `external_services.global.http_proxy` when that is unset, and activates the global proxy; with no https_proxy anywhere it serves `https://` targets too (Tyk's fallback).",
    },
    KeySpec {
        path: "https_proxy",
        ty: KeyType::ProxyUrl,
        doc: "Legacy: fills `external_services.global.https_proxy` when that is unset, and activates the global proxy.",
    },
    KeySpec {
        path: "jwt_ssl_insecure_skip_verify",
        ty: KeyType::Bool,
        doc: "Legacy: `insecure_skip_verify` for `oauth` when `external_services.oauth.mtls.insecure_skip_verify` is unset or its block is not enabled.",
    },
];

/// The certificate store's encoding secret (SPEC sections 1 and 3): Tyk's gateway
/// encrypts the private keys it keeps in its store with it.
const STORE_SECRET_KEYS: [KeySpec; 2] = [
    KeySpec {
        path: "security.private_certificate_encoding_secret",
        ty: KeyType::Secret,
        doc: "Secret that decrypts private keys kept encrypted in the certificate store (as Tyk writes them); when unset or empty, `secret` is used.",
    },
    KeySpec {
        path: "secret",
        ty: KeyType::Secret,
        doc: "Tyk's node secret; decrypts the store's private keys when `security.private_certificate_encoding_secret` is unset or empty (Tyk's rule). Nothing else reads it.",
    },
];

/// The rows of `parts`, in order, as one table of `N` rows.
const fn concat_tables<const N: usize, const P: usize>(parts: [&[KeySpec]; P]) -> [KeySpec; N] {
    let mut out = [GLOBAL_KEYS[0]; N];
    let mut n = 0;
    let mut p = 0;
    while p < parts.len() {
        let mut i = 0;
        while i < parts[p].len() {
            out[n] = parts[p][i];
            n += 1;
            i += 1;
        }
        p += 1;
    }
    assert!(n == N, "KEYS: wrong table length");
    out
}

const ALL_KEYS: [KeySpec; 74] = concat_tables::<74, 8>([
    &GLOBAL_KEYS,
    &service_keys!("oauth", "OAuth/JWT requests (JWKS, introspection)"),
    &service_keys!("storage", "storage connections (Redis, databases)"),
    &service_keys!("webhooks", "webhook deliveries"),
    &service_keys!("health", "health checks"),
    &service_keys!("discovery", "service discovery requests"),
    &LEGACY_KEYS,
    &STORE_SECRET_KEYS,
]);

/// Every key extsvc reads: `external_services.global.*`, the five service blocks
/// (`proxy.*` and `mtls.*`) in the order of [`ServiceKind::ALL`](crate::ServiceKind::ALL),
/// then the legacy top-level keys and the certificate store's secrets.
pub static KEYS: &[KeySpec] = &ALL_KEYS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_in_both_spellings() {
        let key = find_key("external_services.oauth.mtls.cert_file").unwrap();
        assert_eq!(key.env_var("TYK_GW_"), "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE");
        assert_eq!(
            key.tyk_env_var("TYK_GW_"),
            "TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_CERTFILE"
        );
        let key = find_key("external_services.discovery.mtls.ca_cert_ids").unwrap();
        assert_eq!(key.tyk_env_var("X_"), "X_EXTERNALSERVICES_DISCOVERY_MTLS_CACERTIDS");
        let legacy = find_key("jwt_ssl_insecure_skip_verify").unwrap();
        assert!(legacy.is_legacy());
        assert_eq!(legacy.env_var("TYK_GW_"), "TYK_GW_JWTSSLINSECURESKIPVERIFY");
        assert_eq!(find_key("http_proxy").unwrap().env_var("TYK_GW_"), "TYK_GW_HTTPPROXY");
        let secret = find_key("security.private_certificate_encoding_secret").unwrap();
        assert!(secret.is_legacy());
        assert_eq!(
            secret.env_var("TYK_GW_"),
            "TYK_GW_SECURITY_PRIVATECERTIFICATEENCODINGSECRET"
        );
        assert_eq!(find_key("secret").unwrap().env_var("TYK_GW_"), "TYK_GW_SECRET");
    }

    #[test]
    fn table_has_every_block_and_unique_paths() {
        assert_eq!(KEYS.len(), 4 + 5 * 13 + 3 + 2);
        for (i, a) in KEYS.iter().enumerate() {
            for b in &KEYS[i + 1..] {
                assert_ne!(a.path, b.path);
                assert_ne!(a.env_var("P_"), b.env_var("P_"));
                assert_ne!(a.tyk_env_var("P_"), b.tyk_env_var("P_"));
            }
        }
        assert_eq!(
            children(ROOT),
            ["global", "oauth", "storage", "webhooks", "health", "discovery"]
        );
        assert_eq!(children("external_services.health"), ["proxy", "mtls"]);
        assert_eq!(children("external_services.health.proxy").len(), 4);
        assert_eq!(children("external_services.health.mtls").len(), 9);
    }
}
