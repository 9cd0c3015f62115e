//! The serde model of tyk.conf as far as extsvc reads it.
//!
//! These types are the *shape* of the file, every field optional; they are not the
//! domain model ([`ExternalServicesConfig`](crate::ExternalServicesConfig) is). Unknown
//! keys at the top level are ignored (tyk.conf is a whole gateway configuration); inside
//! `external_services` they are rejected (`deny_unknown_fields`).
//!
//! The file is not read through them alone: the file layer (`file_layer`) walks the JSON
//! against [`KEYS`](crate::KEYS) first, so that every problem is reported, not only the
//! first one serde meets.

use serde::{Deserialize, Serialize};

use crate::EncodingSecret;

/// The parts of a whole tyk.conf that extsvc reads; other top-level keys are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TykConfFile {
    /// `external_services`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_services: Option<ExternalServicesFile>,
    /// Legacy top-level `http_proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,
    /// Legacy top-level `https_proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_proxy: Option<String>,
    /// Legacy top-level `jwt_ssl_insecure_skip_verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_ssl_insecure_skip_verify: Option<bool>,
    /// `security` (only `private_certificate_encoding_secret` is read; other keys are ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecurityFile>,
    /// Top-level `secret`: the encoding secret when `security.private_certificate_encoding_secret`
    /// is unset or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<EncodingSecret>,
}

/// `security`: a gateway block of which extsvc reads one key; unknown keys are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityFile {
    /// `private_certificate_encoding_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_certificate_encoding_secret: Option<EncodingSecret>,
}

/// `external_services`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalServicesFile {
    /// `global`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<GlobalFile>,
    /// `oauth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<ServiceFile>,
    /// `storage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<ServiceFile>,
    /// `webhooks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<ServiceFile>,
    /// `health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<ServiceFile>,
    /// `discovery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<ServiceFile>,
}

impl ExternalServicesFile {
    /// The block of one service.
    pub fn service(&self, kind: crate::ServiceKind) -> Option<&ServiceFile> {
        use crate::ServiceKind;
        match kind {
            ServiceKind::Oauth => self.oauth.as_ref(),
            ServiceKind::Storage => self.storage.as_ref(),
            ServiceKind::Webhooks => self.webhooks.as_ref(),
            ServiceKind::Health => self.health.as_ref(),
            ServiceKind::Discovery => self.discovery.as_ref(),
        }
    }
}

/// `external_services.global` and `external_services.<service>.proxy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalFile {
    /// `enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `http_proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,
    /// `https_proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_proxy: Option<String>,
    /// `bypass_proxy`, comma separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass_proxy: Option<String>,
}

/// `external_services.<service>.proxy`: the same keys as the global block.
pub type ProxyFile = GlobalFile;

/// `external_services.<service>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    /// `proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyFile>,
    /// `mtls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<MtlsFile>,
}

/// `external_services.<service>.mtls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsFile {
    /// `enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `cert_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// `key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// `ca_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// `cert_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_id: Option<String>,
    /// `ca_cert_ids`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_ids: Option<Vec<String>>,
    /// `insecure_skip_verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
    /// `tls_min_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_min_version: Option<String>,
    /// `tls_max_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_max_version: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::Value as Json;

    use super::*;
    use crate::KEYS;

    fn leaf_paths(prefix: &str, value: &Json, out: &mut Vec<String>) {
        match value {
            Json::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaf_paths(&path, v, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }

    /// The serde model and the key table describe the same keys.
    #[test]
    fn serde_model_and_key_table_agree() {
        let proxy = GlobalFile {
            enabled: Some(true),
            http_proxy: Some(String::new()),
            https_proxy: Some(String::new()),
            bypass_proxy: Some(String::new()),
        };
        let mtls = MtlsFile {
            enabled: Some(true),
            cert_file: Some(String::new()),
            key_file: Some(String::new()),
            ca_file: Some(String::new()),
            cert_id: Some(String::new()),
            ca_cert_ids: Some(Vec::new()),
            insecure_skip_verify: Some(false),
            tls_min_version: Some(String::new()),
            tls_max_version: Some(String::new()),
        };
        let service = ServiceFile {
            proxy: Some(proxy.clone()),
            mtls: Some(mtls),
        };
        let full = TykConfFile {
            external_services: Some(ExternalServicesFile {
                global: Some(proxy),
                oauth: Some(service.clone()),
                storage: Some(service.clone()),
                webhooks: Some(service.clone()),
                health: Some(service.clone()),
                discovery: Some(service),
            }),
            http_proxy: Some(String::new()),
            https_proxy: Some(String::new()),
            jwt_ssl_insecure_skip_verify: Some(false),
            security: Some(SecurityFile {
                private_certificate_encoding_secret: Some(EncodingSecret::new("")),
            }),
            secret: Some(EncodingSecret::new("")),
        };
        let mut from_serde = Vec::new();
        leaf_paths("", &serde_json::to_value(&full).unwrap(), &mut from_serde);
        from_serde.sort();
        let mut from_table: Vec<String> = KEYS.iter().map(|k| k.path.to_owned()).collect();
        from_table.sort();
        assert_eq!(from_serde, from_table);
    }
}
