//! The configuration reference (`docs/configuration.md`), generated from [`KEYS`].

use std::fmt::Write as _;

use crate::keys::{KeySpec, KeyType, KEYS};
use crate::ServiceKind;

/// The hand-written parts of the reference; `{{KEY_TABLES}}` marks where the generated
/// tables go.
const TEMPLATE: &str = include_str!("configuration_reference.md");

/// The text of `docs/configuration.md`: the hand-written explanation of sources and
/// precedence, and one table per block listing every key of [`KEYS`] with its type,
/// both environment variable spellings (default prefix `TYK_GW_`) and its doc line.
///
/// A test in this crate fails when the file in `docs/` differs from this text.
pub fn configuration_reference_markdown() -> String {
    let mut tables = String::new();
    let mut blocks: Vec<(String, Vec<&KeySpec>)> = Vec::new();
    let global = "external_services.global".to_owned();
    blocks.push((
        global,
        KEYS.iter()
            .filter(|k| k.path.starts_with("external_services.global."))
            .collect(),
    ));
    for kind in ServiceKind::ALL {
        for part in ["proxy", "mtls"] {
            let block = format!("external_services.{kind}.{part}");
            let keys = KEYS
                .iter()
                .filter(|k| k.path.strip_prefix(block.as_str()).is_some_and(|r| r.starts_with('.')))
                .collect();
            blocks.push((block, keys));
        }
    }
    blocks.push((
        "Legacy top-level keys".to_owned(),
        KEYS.iter()
            .filter(|k| k.is_legacy() && k.ty != KeyType::Secret)
            .collect(),
    ));
    blocks.push((
        "Certificate store secret".to_owned(),
        KEYS.iter().filter(|k| k.ty == KeyType::Secret).collect(),
    ));

    for (i, (title, keys)) in blocks.iter().enumerate() {
        if i > 0 {
            tables.push('\n');
        }
        let heading = if title.starts_with("external_services") {
            format!("`{title}`")
        } else {
            title.clone()
        };
        let _ = writeln!(tables, "### {heading}\n");
        tables.push_str("| Key | Type | Environment variable | Tyk spelling | Description |\n");
        tables.push_str("|-----|------|----------------------|--------------|-------------|\n");
        for key in keys {
            let tyk = key.tyk_env_var("TYK_GW_");
            let documented = key.env_var("TYK_GW_");
            let tyk_cell = if tyk == documented {
                "(same)".to_owned()
            } else {
                format!("`{tyk}`")
            };
            let _ = writeln!(
                tables,
                "| `{}` | {} | `{}` | {} | {} |",
                key.path,
                key.ty.doc_name(),
                documented,
                tyk_cell,
                key.doc.replace('|', "\\|")
            );
        }
    }
    TEMPLATE.replace("{{KEY_TABLES}}", tables.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_and_both_spellings_are_listed() {
        let text = configuration_reference_markdown();
        assert!(!text.contains("{{"));
        for key in KEYS {
            assert!(text.contains(&format!("| `{}` |", key.path)), "{}", key.path);
            assert!(text.contains(&key.env_var("TYK_GW_")), "{}", key.path);
            assert!(text.contains(&key.tyk_env_var("TYK_GW_")), "{}", key.path);
        }
    }
}
