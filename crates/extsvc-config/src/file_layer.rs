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
use crate::json_tree::{self, describe_type, Member, Node};
use crate::keys::{children, find_key, KeySpec, KeyType, KEYS, ROOT};
use crate::layer::{Layer, LayerKind, RawValue};
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
            file: crate::shown(path).to_string(),
            message: e.to_string(),
        })
}

/// The file layer of JSON text; `origin` names it in errors. Text that is not JSON is a
/// fatal error and an empty layer.
pub(crate) fn read_file_layer(json: &str, origin: &str, diagnostics: &mut Diagnostics) -> Layer {
    match serde_json::from_str::<Json>(json) {
        Ok(_) => match json_tree::parse(json) {
            Some(tree) => {
                report_duplicate_keys(&tree, origin, diagnostics);
                walk_file(&tree, origin, diagnostics)
            }
            // The scan agrees with serde_json on every JSON text (a test replays the
            // fuzz seeds); should it not, say so rather than read the file differently.
            None => {
                diagnostics.fatal(ConfigError::Invalid {
                    path: origin.to_owned(),
                    message: "valid JSON that extsvc could not read in document order (please report this file)"
                        .to_owned(),
                });
                Layer::new(LayerKind::File, origin)
            }
        },
        Err(e) => {
            diagnostics.fatal(parse_error(origin, json, &e));
            Layer::new(LayerKind::File, origin)
        }
    }
}

/// The members of an object that Go's `encoding/json` would apply to a struct with the
/// fields `known`: for each member, the known field it matches case-insensitively (as
/// Go matches), or `None`; a member followed by another for the same field is skipped
/// (the last one wins, as in Go; the duplicate is reported by [`report_duplicate_keys`]).
fn matched<'m, 'a>(
    members: &'m [Member<'a>],
    known: &[&'static str],
) -> impl Iterator<Item = (&'m Member<'a>, Option<&'static str>)> + 'm {
    let fields: Vec<Option<&'static str>> = members
        .iter()
        .map(|m| known.iter().find(|k| k.eq_ignore_ascii_case(&m.key)).copied())
        .collect();
    members.iter().enumerate().filter_map(move |(i, member)| {
        let field = fields[i];
        let overridden = field.is_some() && fields[i + 1..].contains(&field);
        (!overridden).then_some((member, field))
    })
}

/// A key written in another case than ours: accepted, as Go does, with a warning naming
/// the path as written and the canonical one.
fn warn_case(written: &str, canonical: &str, diagnostics: &mut Diagnostics) {
    let last = |path: &str| path.rsplit('.').next().unwrap_or(path).to_owned();
    if last(written) != last(canonical) {
        diagnostics.warn(format!(
            "{}: key matched case-insensitively, as Tyk (Go's encoding/json) matches keys; write it as {canonical}",
            crate::escaped(written)
        ));
    }
}

fn joined(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// The top-level blocks outside `external_services` with keys we read (`security`).
fn nested_block_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = KEYS
        .iter()
        .filter(|k| k.is_legacy())
        .filter_map(|k| k.path.split_once('.').map(|(block, _)| block))
        .collect();
    names.dedup();
    names
}

/// Walks the parsed file against [`KEYS`], reporting every unknown key inside
/// `external_services` (a warning: Tyk ignores it) and every value of the wrong type, and
/// returns the well-formed values as the file layer. `null` counts as not set.
fn walk_file(root: &Node<'_>, origin: &str, diagnostics: &mut Diagnostics) -> Layer {
    let mut layer = Layer::new(LayerKind::File, origin);
    let Node::Object(top) = root else {
        diagnostics.fatal(ConfigError::Invalid {
            path: origin.to_owned(),
            message: format!(
                "expected a JSON object at the top level, found {}",
                describe(&root.to_json())
            ),
        });
        return layer;
    };
    let legacy: Vec<&'static str> = KEYS
        .iter()
        .filter(|k| k.is_legacy() && !k.path.contains('.'))
        .map(|k| k.path)
        .collect();
    let nested = nested_block_names();
    let mut known = legacy.clone();
    known.extend(&nested);
    known.push(ROOT);
    known.push(SECRETS);
    known.push(KV);
    for (member, field) in matched(top, &known) {
        let Some(field) = field else {
            let name = &member.key;
            if name.len() <= suggest::MAX_SUGGESTED_LEN && suggest::edit_distance(&name.to_ascii_lowercase(), ROOT) <= 2
            {
                diagnostics.warn(format!(
                    "{}: top-level key ignored; did you mean {ROOT}? (only {ROOT} configures external services)",
                    crate::escaped(name)
                ));
            }
            continue;
        };
        warn_case(&member.key, field, diagnostics);
        if field == ROOT {
            read_block(ROOT, &member.key, &member.value, &mut layer, diagnostics);
        } else if field == SECRETS {
            layer.secrets = read_secrets(&member.value, diagnostics);
        } else if field == KV {
            layer.kv = crate::kv::read_file(&member.value.to_json(), diagnostics);
        } else if let Some(key) = find_key(field).filter(|_| legacy.contains(&field)) {
            read_leaf(key, &member.value.to_json(), &mut layer, diagnostics);
        } else if let Node::Object(members) = &member.value {
            // A gateway block such as `security`: read the keys we know, ignore the rest.
            let keys: Vec<&'static KeySpec> = KEYS
                .iter()
                .filter(|k| k.path.strip_prefix(field).is_some_and(|rest| rest.starts_with('.')))
                .collect();
            let names: Vec<&'static str> = keys.iter().map(|k| k.name()).collect();
            for (inner, name) in matched(members, &names) {
                let Some(name) = name else { continue };
                let Some(key) = keys.iter().find(|k| k.name() == name) else {
                    continue;
                };
                warn_case(&joined(&member.key, &inner.key), key.path, diagnostics);
                read_leaf(key, &inner.value.to_json(), &mut layer, diagnostics);
            }
        }
    }
    layer
}

/// Tyk's top-level `kv` block (`vault`, `consul`), which `vault://` and `consul://`
/// references read ([`crate::kv`]).
const KV: &str = "kv";

/// Tyk's top-level `secrets` map, which `secrets://NAME` references read.
const SECRETS: &str = "secrets";

/// The `secrets` map: names to strings. A value of another type is an error naming its
/// key and the JSON type, never the value.
fn read_secrets(
    value: &Node<'_>,
    diagnostics: &mut Diagnostics,
) -> Option<std::collections::BTreeMap<String, crate::SecretText>> {
    let members = match value {
        Node::Scalar("null") => return None,
        Node::Object(members) => members,
        other => {
            diagnostics.error(
                SECRETS,
                ConfigError::WrongType {
                    path: SECRETS.to_owned(),
                    expected: "an object of strings",
                    found: describe_type(&other.to_json()),
                },
            );
            return None;
        }
    };
    let mut secrets = std::collections::BTreeMap::new();
    for member in members {
        match member.value.to_json() {
            Json::String(text) => {
                secrets.insert(member.key.clone(), crate::SecretText::new(text));
            }
            other => {
                let path = format!("{SECRETS}.{}", crate::escaped(&member.key));
                diagnostics.error(
                    path.clone(),
                    ConfigError::WrongType {
                        path,
                        expected: "a string",
                        found: describe_type(&other),
                    },
                );
            }
        }
    }
    Some(secrets)
}

/// Blocks of Tyk's `external_services` schema that configure nothing extsvc connects:
/// accepted and ignored, with a warning.
const IGNORED_BLOCKS: &[&str] = &["analytics"];

/// Reads the block at `path` (canonical) written as `written`.
fn read_block(path: &str, written: &str, value: &Node<'_>, layer: &mut Layer, diagnostics: &mut Diagnostics) {
    let members = match value {
        Node::Scalar("null") => return,
        Node::Object(members) => members,
        other => {
            let error = ConfigError::WrongType {
                path: path.to_owned(),
                expected: "an object",
                found: describe(&other.to_json()),
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
    let mut accepted = known.clone();
    if path == ROOT {
        accepted.extend(IGNORED_BLOCKS);
    }
    for (member, field) in matched(members, &accepted) {
        let written_child = joined(written, &member.key);
        let Some(field) = field else {
            let child = format!("{path}.{}", member.key);
            let suggestion = suggest_key(&child, &member.key, &known);
            let warning = format!(
                "{}: unknown key, ignored (as Tyk ignores it){}",
                crate::escaped(&child),
                suggestion
                    .as_ref()
                    .map_or_else(String::new, |s| format!("; did you mean {s}?"))
            );
            let error = ConfigError::UnknownKey {
                suggestion,
                path: child.clone(),
            };
            diagnostics.tolerate(&child, warning, error);
            continue;
        };
        let child = format!("{path}.{field}");
        warn_case(&written_child, &child, diagnostics);
        if !known.contains(&field) {
            diagnostics.warn(format!(
                "{child}: accepted and ignored: Tyk's schema has this block, but it configures no connection that \
                 extsvc makes"
            ));
        } else if let Some(key) = find_key(&child) {
            read_leaf(key, &member.value.to_json(), layer, diagnostics);
        } else {
            read_block(&child, &written_child, &member.value, layer, diagnostics);
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

/// A short description of a JSON value for messages; strings are redacted like proxy
/// URLs (they might be one) and shortened.
fn describe(value: &Json) -> String {
    match value {
        Json::Null => "null".to_owned(),
        Json::Bool(b) => format!("boolean {b}"),
        Json::Number(n) => format!("number {n}"),
        Json::String(s) => format!("string \"{}\"", crate::shown(s)),
        Json::Array(_) => "an array".to_owned(),
        Json::Object(_) => "an object".to_owned(),
    }
}

/// A key twice in one object (in any case, as Go matches keys case-insensitively): the
/// last value wins, as in Go, and a warning names the key and every position
/// (`tyk.conf:3:5`). Inside `external_services` a duplicate can silently turn
/// `insecure_skip_verify` on or off, so `--strict` makes it an error.
fn report_duplicate_keys(tree: &Node<'_>, origin: &str, diagnostics: &mut Diagnostics) {
    fn walk(node: &Node<'_>, path: &str, origin: &str, diagnostics: &mut Diagnostics) {
        match node {
            Node::Scalar(_) => {}
            Node::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"), origin, diagnostics);
                }
            }
            Node::Object(members) => {
                let mut reported: Vec<String> = Vec::new();
                for (i, member) in members.iter().enumerate() {
                    let folded = member.key.to_lowercase();
                    if reported.contains(&folded) {
                        continue;
                    }
                    let same: Vec<&Member<'_>> =
                        members[i..].iter().filter(|m| m.key.to_lowercase() == folded).collect();
                    if same.len() > 1 {
                        let positions: Vec<String> = same
                            .iter()
                            .map(|m| format!("{}:{}:{}", crate::shown(origin), m.position.line, m.position.column))
                            .collect();
                        let last = same.last().map_or(&member.key, |m| &m.key);
                        diagnostics.warn(format!(
                            "{}: duplicate key at {}; the last value is used, as in Tyk",
                            crate::escaped(&joined(path, last)),
                            positions.join(" and ")
                        ));
                        reported.push(folded);
                    }
                    walk(&member.value, &joined(path, &member.key), origin, diagnostics);
                }
            }
        }
    }
    walk(tree, "", origin, diagnostics);
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
        file: crate::shown(origin).to_string(),
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
        assert!(describe(&Json::from("x".repeat(300))).ends_with("x… (300 bytes)\""));
        assert_eq!(describe(&Json::from("a\u{1b}\r\n")), "string \"a\\x1b\\x0d\\x0a\"");
        assert_eq!(describe(&serde_json::json!(1)), "number 1");
    }
}
