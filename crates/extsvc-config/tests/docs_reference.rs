//! `docs/configuration.md` is generated from the key table and must not go stale.

use std::path::PathBuf;

use extsvc_config::internal::configuration_reference_markdown;

#[test]
fn docs_configuration_md_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let generated = configuration_reference_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "{} is stale (or missing): it differs from configuration_reference_markdown().\n\
         Regenerate it with:\n    UPDATE_DOCS=1 cargo test -p extsvc-config --test docs_reference",
        path.display()
    );
}
