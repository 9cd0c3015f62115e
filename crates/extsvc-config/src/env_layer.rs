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
    for name in env.not_utf8_with_prefix(prefix) {
        if let Some(&(key, _)) = names.get(name) {
            diagnostics.reject(
                key,
                ConfigError::NotUtf8 {
                    variable: name.to_owned(),
                },
            );
        } else if name.starts_with(&documented_block) || name.starts_with(&tyk_block) {
            diagnostics.warn(unknown_variable_warning(name, prefix));
        }
    }
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

/// The variable of one key outside the key table, in either spelling: `documented` (wins)
/// or Tyk's `tyk`, with its text. Both set and different: a warning naming both. A value
/// that is not UTF-8: an error about `path` naming the variable, never skipped.
pub(crate) fn either_spelling<'e>(
    env: &'e EnvSnapshot,
    documented: &str,
    tyk: &str,
    path: &str,
    diagnostics: &mut Diagnostics,
) -> Option<(String, &'e str)> {
    let mut checked = |name: &str| match env.get_checked(name) {
        Ok(value) => value,
        Err(error) => {
            diagnostics.error(path, error);
            None
        }
    };
    let documented_value = checked(documented);
    let tyk_value = if tyk == documented { None } else { checked(tyk) };
    match (documented_value, tyk_value) {
        (Some(a), Some(b)) => {
            if a != b {
                diagnostics.warn(format!(
                    "{documented} and {tyk} are both set, with different values; using {documented} (the documented \
                     spelling)"
                ));
            }
            Some((documented.to_owned(), a))
        }
        (Some(a), None) => Some((documented.to_owned(), a)),
        (None, Some(b)) => Some((tyk.to_owned(), b)),
        (None, None) => None,
    }
}

/// Parses a variable's text as a value of type `ty`.
fn parse_env_value(ty: KeyType, value: &str) -> Result<RawValue, String> {
    match ty {
        KeyType::Bool => parse_go_bool(value).map(RawValue::Bool),
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

/// A boolean as Go's `strconv.ParseBool` reads it (`1 t T TRUE true True 0 f F FALSE
/// false False`, which Tyk's `envconfig` uses), and any case of `true`/`false`;
/// surrounding whitespace ignored.
pub(crate) fn parse_go_bool(value: &str) -> Result<bool, String> {
    let trimmed = value.trim();
    if trimmed.eq_ignore_ascii_case("true") || trimmed.eq_ignore_ascii_case("t") || trimmed == "1" {
        Ok(true)
    } else if trimmed.eq_ignore_ascii_case("false") || trimmed.eq_ignore_ascii_case("f") || trimmed == "0" {
        Ok(false)
    } else {
        Err(format!(
            "invalid boolean \"{}\": expected true, false, 1 or 0",
            crate::shown(trimmed)
        ))
    }
}

/// `NAME: unknown variable, ignored; did you mean …?` — the suggestion is
/// [`suggest::variable`]'s (bounded: thousands of unknown variables cost milliseconds).
fn unknown_variable_warning(name: &str, prefix: &str) -> String {
    let suggestion = suggest::variable(name, prefix);
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
        // Go's strconv.ParseBool, plus any case of true/false.
        for (text, want) in [
            ("true", true),
            ("TRUE", true),
            ("True", true),
            ("tRuE", true),
            ("t", true),
            ("T", true),
            (" 1 ", true),
            ("False", false),
            ("f", false),
            ("F", false),
            ("0", false),
        ] {
            assert_eq!(parse_go_bool(text), Ok(want), "{text}");
        }
        for text in ["yes", "", "2", "on", "tr", "y"] {
            assert!(
                parse_go_bool(text)
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
