//! Reading a tyk.conf into the file layer: the bounded read, the JSON parse (errors at
//! `file:line:column`), duplicate keys, and the walk against [`KEYS`].
//!
//! The loader does not let serde find the problems, because serde stops at the first
//! one: this walk reports every unknown key (with a "did you mean") and every wrong type
//! with its dotted key path, and hands on only checked values (see the crate's
//! `docs/configuration.md`). `env_layer` does the same for the environment.

use std::path::Path;

use serde_json::Value as Json;

use crate::error::{ConfigError, Diagnostics};
use crate::keys::{children, find_key, KeySpec, KeyType, KEYS, ROOT};
use crate::layer::{Layer, LayerKind, RawValue};
use crate::proxy_url::redact_url_credentials;
use crate::suggest;

/// The text of the configuration file at `path`: a regular file of at most
/// [`CONFIG_FILE_LIMIT`](crate::bounded_file::CONFIG_FILE_LIMIT) bytes, in UTF-8.
pub(crate) fn read_file_text(path: &Path) -> Result<String, ConfigError> {
    crate::bounded_file::read_bounded(path, crate::bounded_file::CONFIG_FILE_LIMIT)
        .and_then(|bytes| {
            String::from_utf8(bytes).map_err(|_| {
                crate::bounded_file::BoundedReadError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "stream did not contain valid UTF-8",
                ))
            })
        })
        .map_err(|e| ConfigError::Read {
            file: path.display().to_string(),
            message: e.to_string(),
        })
}

/// The file layer of JSON text; `origin` names it in errors. Text that is not JSON is a
/// fatal error and an empty layer.
pub(crate) fn read_file_layer(json: &str, origin: &str, diagnostics: &mut Diagnostics) -> Layer {
    match serde_json::from_str::<Json>(json) {
        Ok(root) => {
            report_duplicate_keys(json, diagnostics);
            walk_file(&root, origin, diagnostics)
        }
        Err(e) => {
            diagnostics.fatal(parse_error(origin, json, &e));
            Layer::new(LayerKind::File, origin)
        }
    }
}

/// Walks the parsed file against [`KEYS`], reporting every unknown key inside
/// `external_services` and every value of the wrong type, and returns the well-formed
/// values as the file layer. `null` counts as not set.
fn walk_file(root: &Json, origin: &str, diagnostics: &mut Diagnostics) -> Layer {
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

/// A key twice in one object: inside `external_services` an error (the last value would
/// silently win, e.g. turn `insecure_skip_verify` off again), elsewhere a warning.
fn report_duplicate_keys(json: &str, diagnostics: &mut Diagnostics) {
    for path in crate::duplicate_keys::duplicate_keys(json) {
        let shown = crate::escaped(&path);
        if path == "external_services" || path.starts_with("external_services.") {
            diagnostics.error(
                path.clone(),
                ConfigError::Invalid {
                    path: shown.to_string(),
                    message: "duplicate key: it appears more than once in its object; keep one".to_owned(),
                },
            );
        } else {
            diagnostics.warn(format!("{shown}: duplicate key; the last value is used"));
        }
    }
}

/// `origin:line:column: message`, the message without serde_json's own position suffix.
///
/// serde_json reports an error *at* a line break as column 0 of the next line; that is
/// shown as the position of the line break itself (one past the end of its line), so
/// columns are always 1-based.
fn parse_error(origin: &str, json: &str, e: &serde_json::Error) -> ConfigError {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
    let (mut line, mut column) = (e.line(), e.column());
    if column == 0 {
        if line > 1 {
            line -= 1;
            column = json.split('\n').nth(line - 1).map_or(0, |l| l.chars().count()) + 1;
        } else {
            column = 1;
        }
    }
    ConfigError::Parse {
        file: origin.to_owned(),
        line,
        column,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_redact_and_shorten() {
        assert_eq!(describe(&Json::from("http://u:pw@h:1")), "string \"http://u:***@h:1\"");
        assert!(describe(&Json::from("x".repeat(100))).ends_with("…\""));
        assert_eq!(describe(&serde_json::json!(1)), "number 1");
    }
}
