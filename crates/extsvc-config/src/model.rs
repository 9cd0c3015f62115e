//! The validated model: what a tyk.conf plus environment *set*, each value with its source.
//!
//! `None` means "not set anywhere" (neither file nor environment). A value set to `""`
//! or `false` is `Some`: precedence in `extsvc-resolve` treats "set" and "unset"
//! differently, so zero values are never used as "unset".

use std::path::PathBuf;

use crate::per_service::PerService;
use crate::{BypassEntry, EncodingSecret, ProxyUrl, ServiceKind, Sourced, TlsVersion};

/// Everything `external_services` (and the legacy top-level keys) set, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the configuration model: one field per tyk.conf key, written in code with `..Default::default()`"
)]
pub struct ExternalServicesConfig {
    /// `external_services.global`.
    pub global: ProxySettings,
    /// The five service blocks, indexed by [`ServiceKind::index`].
    pub services: PerService<ServiceSettings>,
    /// Legacy top-level keys that still apply.
    pub legacy: LegacySettings,
    /// The certificate store's secrets (outside `external_services`).
    pub certificate_store: CertificateStoreSettings,
    /// tyk.conf's top-level `storage` section: the gateway's Redis (SPEC section 7).
    pub storage: crate::StorageSettings,
    /// The top-level `secrets` map that `secrets://NAME` references read (SPEC section 6).
    pub secrets: crate::SecretsSettings,
    /// The top-level `kv` block: the Vault and Consul that `vault://` and `consul://`
    /// references read.
    pub kv: crate::KvSettings,
}

impl ExternalServicesConfig {
    /// The settings block of one service.
    pub fn service(&self, kind: ServiceKind) -> &ServiceSettings {
        &self.services[kind]
    }

    /// The `mtls` block that the `storage` section's Redis connections use, when it is not
    /// `external_services.storage.mtls` as it stands (SPEC section 7): with `use_ssl`, a
    /// block that is not enabled gives way to the section's own TLS keys (`ca_file`,
    /// `cert_file`/`key_file`, the versions, `ssl_insecure_skip_verify`), and an enabled
    /// block takes `ssl_insecure_skip_verify` when that is true. `None`: the storage
    /// service's block as it is (no `use_ssl`, or nothing of the section's to add).
    pub fn storage_mtls(&self) -> Option<MtlsSettings> {
        let storage = &self.storage;
        if !storage.use_ssl() {
            return None;
        }
        let block = &self.service(ServiceKind::Storage).mtls;
        let insecure = storage.ssl_insecure_skip_verify.clone().filter(|i| i.value);
        if block.enabled.as_ref().is_some_and(|e| e.value) {
            return Some(MtlsSettings {
                insecure_skip_verify: Some(insecure?),
                ..block.clone()
            });
        }
        if !storage.has_tls_keys() {
            return None;
        }
        let source = storage
            .use_ssl
            .as_ref()
            .map_or(crate::Source::Default, |u| u.source.clone());
        Some(MtlsSettings {
            enabled: Some(Sourced::new(true, source)),
            cert_file: storage.cert_file.clone(),
            key_file: storage.key_file.clone(),
            ca_file: storage.ca_file.clone(),
            cert_id: None,
            ca_cert_ids: None,
            insecure_skip_verify: insecure,
            tls_min_version: storage.tls_min_version.clone(),
            tls_max_version: storage.tls_max_version.clone(),
        })
    }

    /// The settings block of one service, mutably.
    pub fn service_mut(&mut self, kind: ServiceKind) -> &mut ServiceSettings {
        &mut self.services[kind]
    }
}

/// A proxy block: `external_services.global` (the settings every service inherits) and
/// each service's `external_services.<service>.proxy` have the same fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the configuration model: one field per tyk.conf key, written in code with `..Default::default()`"
)]
pub struct ProxySettings {
    /// `enabled`.
    pub enabled: Option<Sourced<bool>>,
    /// `http_proxy`; `Some(Sourced { value: None, .. })` when set to `""`.
    pub http_proxy: Option<Sourced<Option<ProxyUrl>>>,
    /// `https_proxy`; `Some(Sourced { value: None, .. })` when set to `""`.
    pub https_proxy: Option<Sourced<Option<ProxyUrl>>>,
    /// `bypass_proxy`, parsed; an empty list when set to `""`.
    pub bypass_proxy: Option<Sourced<Vec<BypassEntry>>>,
}

/// `external_services.<service>.mtls`.
///
/// `Debug` shows paths and ids through `crate::shown`: a private key pasted where a path
/// belongs appears as `<PEM text, N bytes>`.
#[derive(Clone, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the configuration model: one field per tyk.conf key, written in code with `..Default::default()`"
)]
pub struct MtlsSettings {
    /// `enabled`.
    pub enabled: Option<Sourced<bool>>,
    /// `cert_file` (an empty string counts as not set).
    pub cert_file: Option<Sourced<PathBuf>>,
    /// `key_file` (an empty string counts as not set).
    pub key_file: Option<Sourced<PathBuf>>,
    /// `ca_file` (an empty string counts as not set).
    pub ca_file: Option<Sourced<PathBuf>>,
    /// `cert_id` (an empty string counts as not set).
    pub cert_id: Option<Sourced<String>>,
    /// `ca_cert_ids` (an empty list counts as not set).
    pub ca_cert_ids: Option<Sourced<Vec<String>>>,
    /// `insecure_skip_verify`.
    pub insecure_skip_verify: Option<Sourced<bool>>,
    /// `tls_min_version`.
    pub tls_min_version: Option<Sourced<TlsVersion>>,
    /// `tls_max_version`.
    pub tls_max_version: Option<Sourced<TlsVersion>>,
}

impl std::fmt::Debug for MtlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = |value: &Option<Sourced<PathBuf>>| {
            value
                .as_ref()
                .map(|v| format!("{} ({})", crate::shown(&v.value), v.source))
        };
        let ids: Option<Vec<String>> = self
            .ca_cert_ids
            .as_ref()
            .map(|ids| ids.value.iter().map(|id| crate::shown(id).to_string()).collect());
        f.debug_struct("MtlsSettings")
            .field("enabled", &self.enabled)
            .field("cert_file", &path(&self.cert_file))
            .field("key_file", &path(&self.key_file))
            .field("ca_file", &path(&self.ca_file))
            .field("cert_id", &self.cert_id.as_ref().map(|id| crate::shown(&id.value)))
            .field("ca_cert_ids", &ids)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("tls_min_version", &self.tls_min_version)
            .field("tls_max_version", &self.tls_max_version)
            .finish()
    }
}

/// One service block: `external_services.<service>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the configuration model: one field per tyk.conf key, written in code with `..Default::default()`"
)]
pub struct ServiceSettings {
    /// `proxy`.
    pub proxy: ProxySettings,
    /// `mtls`.
    pub mtls: MtlsSettings,
}

/// Legacy top-level keys of tyk.conf (and their `TYK_GW_` variables).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the configuration model: one field per tyk.conf key, written in code with `..Default::default()`"
)]
pub struct LegacySettings {
    /// Top-level `http_proxy` / `TYK_GW_HTTPPROXY`.
    pub http_proxy: Option<Sourced<Option<ProxyUrl>>>,
    /// Top-level `https_proxy` / `TYK_GW_HTTPSPROXY`.
    pub https_proxy: Option<Sourced<Option<ProxyUrl>>>,
    /// Top-level `jwt_ssl_insecure_skip_verify` / `TYK_GW_JWTSSLINSECURESKIPVERIFY`.
    pub jwt_ssl_insecure_skip_verify: Option<Sourced<bool>>,
}

/// The keys outside `external_services` that decrypt private keys kept in a certificate
/// store (SPEC sections 1 and 3). Both are kept as set, even `""`; `extsvc-resolve`
/// applies Tyk's rule (the first non-empty one wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the configuration model: one field per tyk.conf key, written in code with `..Default::default()`"
)]
pub struct CertificateStoreSettings {
    /// `security.private_certificate_encoding_secret` /
    /// `TYK_GW_SECURITY_PRIVATECERTIFICATEENCODINGSECRET`.
    pub private_certificate_encoding_secret: Option<Sourced<EncodingSecret>>,
    /// Top-level `secret` / `TYK_GW_SECRET`.
    pub secret: Option<Sourced<EncodingSecret>>,
}
