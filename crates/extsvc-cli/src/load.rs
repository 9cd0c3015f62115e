//! Turning `--config` and the environment into a resolution, reporting problems.

use std::path::{Path, PathBuf};

use extsvc_config::{load_file, EnvSnapshot, LoadOptions, Loaded};
use extsvc_resolve::{resolve, Resolution};

use crate::ConfigArgs;

/// The configuration as loaded and resolved, with every warning from both steps.
pub(crate) struct LoadedResolution {
    pub(crate) resolution: Resolution,
    pub(crate) warnings: Vec<String>,
}

/// The file to read: `--config`, else `./tyk.conf` when present, else none.
fn config_path(args: &ConfigArgs) -> Option<PathBuf> {
    args.config.clone().or_else(|| {
        let default = Path::new("tyk.conf");
        default.is_file().then(|| default.to_path_buf())
    })
}

/// Loads and resolves; on configuration errors prints each on its own line to stderr
/// and returns `Err(())` (the caller exits with status 2).
pub(crate) fn load_and_resolve(args: &ConfigArgs, env: &EnvSnapshot) -> Result<LoadedResolution, Vec<String>> {
    let options = LoadOptions {
        env_prefix: args.env_prefix.clone(),
    };
    let path = config_path(args);
    let Loaded { config, mut warnings } = load_file(path.as_deref(), env, &options)
        .map_err(|errors| errors.0.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    let resolution = resolve(&config, env);
    warnings.extend(resolution.warnings.iter().cloned());
    Ok(LoadedResolution { resolution, warnings })
}
