//! The serde model of tyk.conf as far as extsvc reads it.
//!
//! These types are the *shape* of the file, every field optional; they are not the
//! domain model ([`ExternalServicesConfig`](crate::ExternalServicesConfig) is). Unknown
//! keys at the top level are ignored (tyk.conf is a whole gateway configuration); inside
//! `external_services` they are rejected (`deny_unknown_fields`).
//!
//! The loader does not let serde find the problems, because serde stops at the first
//! one: it walks the parsed JSON against [`KEYS`] first, reporting every
//! unknown key (with a "did you mean") and every wrong type with its dotted key path, and
//! only hands checked values on (see the crate's `docs/configuration.md`).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::error::{ConfigError, Diagnostics};
use crate::keys::{children, find_key, KeySpec, KeyType, KEYS, ROOT};
use crate::layer::{Layer, LayerKind, RawValue};
use crate::redact_url_credentials;
use crate::suggest;
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

/// Walks the parsed file against [`KEYS`], reporting every unknown key inside
/// `external_services` and every value of the wrong type, and returns the well-formed
/// values as the file layer. `null` counts as not set.
pub(crate) fn read_file_layer(root: &Json, origin: &str, diagnostics: &mut Diagnostics) -> Layer {
    let mut layer = Layer::new(LayerKind::File, origin);
    let Json::Object(top) = root else {
        diagnostics.fatal(ConfigError::Invalid {
            path: origin.to_owned(),
            message: format!("expected a JSON object at the top level, found {}", describe(root)),
        });
        return layer;
    };
    for (name, value) in top {
        if let Some(key) = find_key(name).filter(|k| k.is_legacy()) {
            read_leaf(key, value, &mut layer, diagnostics);
        } else if let (Some(nested), Json::Object(object)) = (nested_keys(name), value) {
            // A gateway block such as `security`: read the keys we know, ignore the rest.
            for key in nested {
                if let Some(value) = object.get(key.name()) {
                    read_leaf(key, value, &mut layer, diagnostics);
                }
            }
        } else if name == ROOT {
            read_block(ROOT, value, &mut layer, diagnostics);
        } else if name.len() <= suggest::MAX_SUGGESTED_LEN
            && suggest::edit_distance(&name.to_ascii_lowercase(), ROOT) <= 2
        {
            diagnostics.warn(format!(
                "{name}: top-level key ignored; did you mean {ROOT}? (only {ROOT} configures external services)"
            ));
        }
    }
    layer
}

/// The keys of [`KEYS`] one level inside the top-level block `name` outside
/// `external_services` (`security.private_certificate_encoding_secret`); `None` when there
/// are none.
fn nested_keys(name: &str) -> Option<Vec<&'static KeySpec>> {
    let keys: Vec<&'static KeySpec> = KEYS
        .iter()
        .filter(|k| k.is_legacy() && k.path.strip_prefix(name).is_some_and(|rest| rest.starts_with('.')))
        .collect();
    (!keys.is_empty()).then_some(keys)
}

fn read_block(path: &str, value: &Json, layer: &mut Layer, diagnostics: &mut Diagnostics) {
    let object = match value {
        Json::Null => return,
        Json::Object(object) => object,
        other => {
            let error = ConfigError::WrongType {
                path: path.to_owned(),
                expected: "an object",
                found: describe(other),
            };
            // Without an `external_services` object there is no configuration at all.
            if path == ROOT {
                diagnostics.fatal(error);
            } else {
                diagnostics.error(path, error);
            }
            return;
        }
    };
    let known = children(path);
    for (name, value) in object {
        let child = format!("{path}.{name}");
        if !known.contains(&name.as_str()) {
            let error = ConfigError::UnknownKey {
                suggestion: suggest_key(&child, name, &known),
                path: child.clone(),
            };
            diagnostics.error(child, error);
        } else if let Some(key) = find_key(&child) {
            read_leaf(key, value, layer, diagnostics);
        } else {
            read_block(&child, value, layer, diagnostics);
        }
    }
}

/// A sibling that is a plausible typo of `name`, else a known key elsewhere with the same
/// name, closest to where it was written (`external_services.oauth.http_proxy` →
/// `external_services.oauth.proxy.http_proxy`).
fn suggest_key(path: &str, name: &str, siblings: &[&'static str]) -> Option<String> {
    if let Some(sibling) = suggest::closest(name, siblings.iter().copied()) {
        return Some(sibling.to_owned());
    }
    let lowered = name.to_ascii_lowercase();
    KEYS.iter()
        .filter(|k| !k.is_legacy() && k.name() == lowered)
        .max_by_key(|k| common_prefix_len(k.path, path))
        .map(|k| k.path.to_owned())
}

fn common_prefix_len(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

fn read_leaf(key: &'static KeySpec, value: &Json, layer: &mut Layer, diagnostics: &mut Diagnostics) {
    let raw = match (key.ty, value) {
        (_, Json::Null) => return,
        (KeyType::Bool, Json::Bool(b)) => Some(RawValue::Bool(*b)),
        (KeyType::StringList, Json::Array(items)) => {
            let mut list = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match item {
                    Json::String(s) => list.push(s.clone()),
                    other => {
                        ok = false;
                        diagnostics.reject(
                            key,
                            ConfigError::WrongType {
                                path: format!("{}[{i}]", key.path),
                                expected: "a string",
                                found: describe(other),
                            },
                        );
                    }
                }
            }
            if !ok {
                return;
            }
            Some(RawValue::List(list))
        }
        (
            KeyType::String
            | KeyType::ProxyUrl
            | KeyType::BypassList
            | KeyType::TlsVersion
            | KeyType::FilePath
            | KeyType::Secret,
            Json::String(s),
        ) => Some(RawValue::String(s.clone())),
        _ => None,
    };
    match raw {
        Some(raw) => layer.push(key, raw),
        None => diagnostics.reject(
            key,
            ConfigError::WrongType {
                path: key.path.to_owned(),
                expected: key.ty.expected_json(),
                found: match key.ty {
                    // The wrong type of a secret still holds the secret: name the type only.
                    KeyType::Secret => describe_type(value),
                    _ => describe(value),
                },
            },
        ),
    }
}

/// The JSON type of a value, without the value.
fn describe_type(value: &Json) -> String {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
    .to_owned()
}

/// A short description of a JSON value for messages; strings are redacted like proxy
/// URLs (they might be one) and shortened.
fn describe(value: &Json) -> String {
    match value {
        Json::Null => "null".to_owned(),
        Json::Bool(b) => format!("boolean {b}"),
        Json::Number(n) => format!("number {n}"),
        Json::String(s) => {
            let redacted = redact_url_credentials(s);
            let shown: String = redacted.chars().take(40).collect();
            let ellipsis = if shown.len() < redacted.len() { "…" } else { "" };
            format!("string \"{shown}{ellipsis}\"")
        }
        Json::Array(_) => "an array".to_owned(),
        Json::Object(_) => "an object".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn descriptions_redact_and_shorten() {
        assert_eq!(describe(&Json::from("http://u:pw@h:1")), "string \"http://u:***@h:1\"");
        assert!(describe(&Json::from("x".repeat(100))).ends_with("…\""));
        assert_eq!(describe(&serde_json::json!(1)), "number 1");
    }
}
