//! The serde model of tyk.conf as far as extsvc reads it.
//!
//! These types are the *shape* of the file, every field optional; they are not the
//! domain model ([`ExternalServicesConfig`](crate::ExternalServicesConfig) is). Unknown
//! keys at the top level are ignored (tyk.conf is a whole gateway configuration); inside
//! `external_services` they are rejected (`deny_unknown_fields`).
//!
//! The file is not read through them alone: the file layer (`file_layer`) walks the JSON
//! against [`KEYS`](crate::keys::KEYS) first, so that every problem is reported, not only the
//! first one serde meets.

use serde::{Deserialize, Serialize};

use crate::keys::{mtls_block_fields, proxy_block_fields};
use crate::EncodingSecret;

/// The parts of a whole tyk.conf that extsvc reads; other top-level keys are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TykConfFile {
    /// `external_services`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) external_services: Option<ExternalServicesFile>,
    /// Legacy top-level `http_proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) http_proxy: Option<String>,
    /// Legacy top-level `https_proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) https_proxy: Option<String>,
    /// Legacy top-level `jwt_ssl_insecure_skip_verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) jwt_ssl_insecure_skip_verify: Option<bool>,
    /// `security` (only `private_certificate_encoding_secret` is read; other keys are ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) security: Option<SecurityFile>,
    /// Top-level `secret`: the encoding secret when `security.private_certificate_encoding_secret`
    /// is unset or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) secret: Option<EncodingSecret>,
}

/// `security`: a gateway block of which extsvc reads one key; unknown keys are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SecurityFile {
    /// `private_certificate_encoding_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) private_certificate_encoding_secret: Option<EncodingSecret>,
}

/// `external_services`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExternalServicesFile {
    /// `global`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) global: Option<GlobalFile>,
    /// `oauth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) oauth: Option<ServiceFile>,
    /// `storage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) storage: Option<ServiceFile>,
    /// `webhooks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) webhooks: Option<ServiceFile>,
    /// `health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) health: Option<ServiceFile>,
    /// `discovery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) discovery: Option<ServiceFile>,
}

impl ExternalServicesFile {
    /// The block of one service.
    pub(crate) fn service(&self, kind: crate::ServiceKind) -> Option<&ServiceFile> {
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

proxy_block_fields!(file_struct! {
    /// `external_services.global` and `external_services.<service>.proxy`.
    #[serde(deny_unknown_fields)]
    pub struct GlobalFile;
});

/// `external_services.<service>.proxy`: the same keys as the global block.
pub(crate) type ProxyFile = GlobalFile;

/// `external_services.<service>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceFile {
    /// `proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) proxy: Option<ProxyFile>,
    /// `mtls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mtls: Option<MtlsFile>,
}

mtls_block_fields!(file_struct! {
    /// `external_services.<service>.mtls`.
    #[serde(deny_unknown_fields)]
    pub struct MtlsFile;
});

/// A serde struct of the file from a block's field list in [`keys`](crate::keys): each
/// field optional, its type that of its [`KeyType`](crate::keys::KeyType).
macro_rules! file_struct {
    ($(#[$meta:meta])* pub struct $name:ident; $($field:ident: $ty:ident => $docs:tt)*) => {
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        $(#[$meta])*
        pub(crate) struct $name {
            $(
                #[doc = concat!("`", stringify!($field), "`.")]
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub(crate) $field: Option<file_value!($ty)>,
            )*
        }
    };
}
use file_struct;

/// The Rust type of a key's value in the file, by its [`KeyType`](crate::keys::KeyType).
macro_rules! file_value {
    (Bool) => { bool };
    (StringList) => { Vec<String> };
    (Secret) => { EncodingSecret };
    (String) => { String };
    (ProxyUrl) => { String };
    (BypassList) => { String };
    (TlsVersion) => { String };
    (FilePath) => { String };
}
use file_value;

#[cfg(test)]
mod tests {
    use serde_json::Value as Json;

    use super::*;
    use crate::keys::KEYS;

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

    /// The structs written by hand (the top level, `security`, a service block) and the
    /// key table name the same keys; the proxy and mtls blocks are generated from the
    /// table's field lists. A file setting every key of [`KEYS`] deserializes with every
    /// field set (no struct field the table lacks) and serializes back to the same keys
    /// (no key the structs lack).
    #[test]
    fn serde_model_and_key_table_agree() {
        let mut every_key = serde_json::Map::new();
        for key in KEYS {
            let value = match key.ty {
                crate::keys::KeyType::Bool => Json::Bool(true),
                crate::keys::KeyType::StringList => serde_json::json!(["x"]),
                _ => Json::from("x"),
            };
            let mut object = &mut every_key;
            let segments: Vec<&str> = key.segments().collect();
            let (last, blocks) = segments.split_last().unwrap();
            for block in blocks {
                object = object
                    .entry(*block)
                    .or_insert_with(|| Json::Object(serde_json::Map::new()))
                    .as_object_mut()
                    .unwrap();
            }
            object.insert((*last).to_owned(), value);
        }
        let full: TykConfFile = serde_json::from_value(Json::Object(every_key)).unwrap();
        let shown = format!("{full:?}");
        assert!(!shown.contains("None"), "a field no key sets: {shown}");
        let mut from_serde = Vec::new();
        leaf_paths("", &serde_json::to_value(&full).unwrap(), &mut from_serde);
        from_serde.sort();
        let mut from_table: Vec<String> = KEYS.iter().map(|k| k.path.to_owned()).collect();
        from_table.sort();
        assert_eq!(from_serde, from_table);
    }
}
