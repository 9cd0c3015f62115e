//! Target `config_load`: tyk.conf text → `extsvc_config::load_str` (empty environment)
//! → `extsvc_resolve::resolve` → a route per service and target.
//!
//! Invariants beyond "no panic":
//! - a failed load reports at least one error, and every error starts with the key path
//!   or file position it names (`error.path()`);
//! - a successful load resolves, routes and formats without panicking.

use extsvc_config::{load_str, EnvSnapshot, LoadOptions};

/// Runs one input. Non-UTF-8 input is skipped (a tyk.conf is read as UTF-8 text).
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = EnvSnapshot::empty();
    match load_str(text, "fuzz.conf", &env, &LoadOptions::default()) {
        Ok(loaded) => {
            let resolution = extsvc_resolve::resolve(&loaded.config, &env);
            let _ = crate::exercise_resolution(&resolution);
            let _ = format!("{loaded:?}");
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "load_str failed without an error");
            for error in &errors.0 {
                assert!(
                    !error.to_string().is_empty(),
                    "an error with an empty message: {error:?}"
                );
            }
        }
    }
}
