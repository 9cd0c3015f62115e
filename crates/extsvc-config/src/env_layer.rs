//! Reading `TYK_GW_…` variables from an [`EnvSnapshot`] into two layers, one per
//! spelling.
//!
//! Names are looked up in a table built from [`KEYS`] (documented spelling
//! `TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE`, Tyk's spelling
//! `TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_CERTFILE`) rather than split on `_`, because
//! field names contain underscores and a splitter cannot tell `HTTP_PROXY` (one field)
//! from `HTTP` + `PROXY` (two segments).

use std::collections::HashMap;

use crate::error::{ConfigError, Diagnostics};
use crate::keys::{KeySpec, KeyType, KEYS};
use crate::layer::{Layer, LayerKind, RawValue};
use crate::suggest;
use crate::EnvSnapshot;

/// The environment's layers: Tyk's spelling (lower precedence) and the documented
/// spelling with the legacy variables (higher).
pub(crate) struct EnvLayers {
    pub(crate) tyk: Layer,
    pub(crate) documented: Layer,
}

/// Reads every recognised variable; reports bad values as errors naming the variable,
/// unknown `…EXTERNAL_SERVICES_…` variables and spelling conflicts as warnings.
pub(crate) fn read_env_layers(env: &EnvSnapshot, prefix: &str, diagnostics: &mut Diagnostics) -> EnvLayers {
    let mut names: HashMap<String, (&'static KeySpec, LayerKind)> = HashMap::with_capacity(KEYS.len() * 2);
    for key in KEYS {
        names.insert(key.tyk_env_var(prefix), (key, LayerKind::EnvTyk));
        // Inserted second: for legacy keys both names are the same, and they belong to
        // the documented layer.
        names.insert(key.env_var(prefix), (key, LayerKind::EnvDocumented));
    }
    let documented_block = format!("{prefix}EXTERNAL_SERVICES");
    let tyk_block = format!("{prefix}EXTERNALSERVICES");

    let mut layers = EnvLayers {
        tyk: Layer::new(LayerKind::EnvTyk, prefix),
        documented: Layer::new(LayerKind::EnvDocumented, prefix),
    };
    for (name, value) in env.with_prefix(prefix) {
        if let Some(&(key, kind)) = names.get(name) {
            match parse_env_value(key.ty, value) {
                Ok(raw) => match kind {
                    LayerKind::EnvTyk => layers.tyk.push(key, raw),
                    _ => layers.documented.push(key, raw),
                },
                Err(message) => diagnostics.reject(
                    key,
                    ConfigError::InvalidEnvValue {
                        variable: name.to_owned(),
                        message,
                    },
                ),
            }
        } else if name.starts_with(&documented_block) || name.starts_with(&tyk_block) {
            diagnostics.warn(unknown_variable_warning(name, prefix));
        }
    }

    for key in layers.documented.keys() {
        let (Some(documented), Some(tyk)) = (layers.documented.get(key), layers.tyk.get(key)) else {
            continue;
        };
        if documented != tyk {
            diagnostics.warn(format!(
                "{} and {} are both set, with different values; using {} (the documented spelling)",
                key.env_var(prefix),
                key.tyk_env_var(prefix),
                key.env_var(prefix),
            ));
        }
    }
    layers
}

/// Parses a variable's text as a value of type `ty`.
fn parse_env_value(ty: KeyType, value: &str) -> Result<RawValue, String> {
    match ty {
        KeyType::Bool => parse_env_bool(value).map(RawValue::Bool),
        KeyType::StringList => Ok(RawValue::List(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
        KeyType::String
        | KeyType::ProxyUrl
        | KeyType::BypassList
        | KeyType::TlsVersion
        | KeyType::FilePath
        | KeyType::Secret => Ok(RawValue::String(value.to_owned())),
    }
}

/// `true`/`false`/`1`/`0`, any case, surrounding whitespace ignored.
fn parse_env_bool(value: &str) -> Result<bool, String> {
    let trimmed = value.trim();
    if trimmed.eq_ignore_ascii_case("true") || trimmed == "1" {
        Ok(true)
    } else if trimmed.eq_ignore_ascii_case("false") || trimmed == "0" {
        Ok(false)
    } else {
        let shown: String = crate::proxy_url::redact_url_credentials(trimmed)
            .chars()
            .take(40)
            .collect();
        Err(format!("invalid boolean \"{shown}\": expected true, false, 1 or 0"))
    }
}

/// `NAME: unknown variable, ignored; did you mean …?` — the suggestion is the variable
/// that differs only in underscores (a mix of the two spellings), else the nearest name
/// in either spelling (the documented one on a tie).
fn unknown_variable_warning(name: &str, prefix: &str) -> String {
    let squashed: String = name.chars().filter(|c| *c != '_').collect();
    let mixed = KEYS
        .iter()
        .filter(|k| !k.is_legacy())
        .find(|k| k.tyk_env_var(prefix).chars().filter(|c| *c != '_').collect::<String>() == squashed)
        .map(|k| k.env_var(prefix));
    let suggestion = mixed.or_else(|| {
        let candidates: Vec<String> = KEYS
            .iter()
            .filter(|k| !k.is_legacy())
            .flat_map(|k| [k.env_var(prefix), k.tyk_env_var(prefix)])
            .collect();
        suggest::nearest(name, candidates.iter().map(String::as_str)).map(|(c, _)| c.to_owned())
    });
    // A name is echoed capped (a 120 kB name would be a 120 kB warning).
    let shown = crate::escaped(name);
    match suggestion {
        Some(s) => format!("{shown}: unknown variable, ignored; did you mean {s}?"),
        None => format!("{shown}: unknown variable, ignored"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for (text, want) in [
            ("true", true),
            ("TRUE", true),
            (" 1 ", true),
            ("False", false),
            ("0", false),
        ] {
            assert_eq!(parse_env_bool(text), Ok(want), "{text}");
        }
        for text in ["yes", "", "2", "on"] {
            assert!(
                parse_env_bool(text)
                    .unwrap_err()
                    .contains("expected true, false, 1 or 0"),
                "{text}"
            );
        }
    }

    #[test]
    fn lists_are_trimmed_and_empty_entries_dropped() {
        assert_eq!(
            parse_env_value(KeyType::StringList, " a, b ,,c ,"),
            Ok(RawValue::List(vec!["a".into(), "b".into(), "c".into()]))
        );
        assert_eq!(parse_env_value(KeyType::StringList, ""), Ok(RawValue::List(vec![])));
    }

    #[test]
    fn mixed_spelling_suggests_the_documented_name() {
        let w = unknown_variable_warning("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERTFILE", "TYK_GW_");
        assert!(
            w.ends_with("did you mean TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE?"),
            "{w}"
        );
    }
}
