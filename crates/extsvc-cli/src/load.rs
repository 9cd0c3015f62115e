//! Turning `--config` and the environment into a resolution, reporting problems.

use std::path::{Path, PathBuf};

use extsvc::config::{
    load_env, load_file, load_file_lenient, EnvSnapshot, LoadOptions, LoadReport, Loaded, PerService, ServiceKind,
};
use extsvc::resolve::{resolve, Resolution, ResolvedService};
use extsvc::tls::SecretSources;

use crate::args::ConfigArgs;

/// The configuration as loaded and resolved, with every warning from both steps.
pub(crate) struct LoadedResolution {
    pub(crate) resolution: Resolution,
    /// The stores of secret references (`env://`, `secrets://`), for building TLS.
    pub(crate) secrets: SecretSources,
    pub(crate) warnings: Vec<String>,
    /// tyk.conf's `storage` section, and whether `external_services.storage.mtls` is
    /// enabled (which decides where its TLS settings come from).
    pub(crate) storage: (extsvc::config::StorageSettings, bool),
}

/// The file to read: `--config`, else `./tyk.conf` when present, else none.
pub(crate) fn config_path(args: &ConfigArgs) -> Option<PathBuf> {
    args.config.clone().or_else(|| {
        let default = Path::new("tyk.conf");
        default.is_file().then(|| default.to_path_buf())
    })
}

fn load_options(args: &ConfigArgs) -> LoadOptions {
    LoadOptions::default()
        .with_env_prefix(args.env_prefix.clone())
        .with_strict(args.strict)
}

/// Loads the configuration; on errors returns each as one line.
pub(crate) fn load_config(args: &ConfigArgs, env: &EnvSnapshot) -> Result<Loaded, Vec<String>> {
    let options = load_options(args);
    match config_path(args) {
        Some(path) => load_file(path, env, &options),
        None => load_env(env, &options),
    }
    .map_err(|errors| errors.0.iter().map(|e| e.to_string()).collect())
}

/// `loaded` with only the storage service's TLS settings: what `probe --storage` and
/// `--cert-store storage` build (another service's TLS may need the store itself, and a
/// broken certificate elsewhere must not stop an operator from probing storage).
pub(crate) fn storage_only(mut loaded: Loaded) -> Loaded {
    for kind in ServiceKind::ALL {
        if kind != ServiceKind::Storage {
            loaded.config.service_mut(kind).mtls = Default::default();
        }
    }
    loaded
}

/// The errors of a resolution that stop every command: a standard proxy variable a
/// service reaches and cannot use (SPEC section 2: fail closed), and under `--strict`
/// every warning of resolution.
fn resolution_errors(resolution: &Resolution, strict: bool) -> Vec<String> {
    let mut errors: Vec<String> = resolution.proxy_errors().iter().map(ToString::to_string).collect();
    if strict {
        errors.extend(
            resolution
                .warnings
                .iter()
                .map(|w| format!("{w} (an error in strict mode)")),
        );
    }
    errors
}

/// Loads and resolves; on configuration errors returns each as one line (the caller
/// prints them and exits with status 2).
pub(crate) fn load_and_resolve(args: &ConfigArgs, env: &EnvSnapshot) -> Result<LoadedResolution, Vec<String>> {
    let options = load_options(args);
    let path = config_path(args);
    let loaded = match path.as_deref() {
        Some(path) => load_file(path, env, &options),
        None => load_env(env, &options),
    };
    let Loaded {
        config, mut warnings, ..
    } = loaded.map_err(|errors| errors.0.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    let resolution = resolve(&config, env);
    let errors = resolution_errors(&resolution, args.strict);
    if !errors.is_empty() {
        return Err(errors);
    }
    warnings.extend(resolution.warnings.iter().cloned());
    let mtls_enabled = config
        .service(ServiceKind::Storage)
        .mtls
        .enabled
        .as_ref()
        .is_some_and(|e| e.value);
    let secrets = SecretSources::from_config(env, &config).map_err(|e| vec![e])?;
    Ok(LoadedResolution {
        resolution,
        secrets,
        warnings,
        storage: (config.storage, mtls_enabled),
    })
}

/// The configuration as far as it is usable, for `check`: its errors, and the resolution
/// of everything they leave usable.
pub(crate) struct LenientResolution {
    /// Every service resolved; proxy values that were rejected count as not set.
    pub(crate) resolution: Resolution,
    /// Configuration errors, one line each.
    pub(crate) errors: Vec<String>,
    /// Warnings of loading and resolving.
    pub(crate) warnings: Vec<String>,
    /// The stores of secret references (`env://`, `secrets://`): `check` resolves them.
    pub(crate) secrets: SecretSources,
    /// Which services' TLS settings no configuration error is about.
    mtls_usable: PerService<bool>,
}

impl LenientResolution {
    /// The services whose TLS material can be built: no configuration error concerns
    /// their `mtls` settings.
    pub(crate) fn tls_buildable(&self) -> impl Iterator<Item = &ResolvedService> {
        self.resolution
            .services()
            .values()
            .iter()
            .filter(|service| self.mtls_usable[service.kind])
    }
}

/// Loads leniently and resolves: configuration errors are returned with the resolution.
/// `Err` (every error, one line each) only when there is no configuration at all (the file
/// cannot be read or parsed).
pub(crate) fn load_and_resolve_leniently(
    args: &ConfigArgs,
    env: &EnvSnapshot,
) -> Result<LenientResolution, Vec<String>> {
    let path = config_path(args);
    let report: LoadReport = load_file_lenient(path.as_deref(), env, &load_options(args))
        .map_err(|errors| errors.0.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    let mtls_usable = PerService::from_fn(|kind| report.mtls_usable(kind));
    let resolution = resolve(&report.config, env);
    let mut warnings = report.warnings;
    warnings.extend(resolution.warnings.iter().cloned());
    let mut errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    errors.extend(resolution_errors(&resolution, false));
    let secrets = SecretSources::from_config(env, &report.config).unwrap_or_else(|e| {
        errors.push(e);
        SecretSources::standard(env, &report.config)
    });
    Ok(LenientResolution {
        secrets,
        resolution,
        errors,
        warnings,
        mtls_usable,
    })
}
