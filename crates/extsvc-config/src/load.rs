//! Loading a tyk.conf and an environment snapshot.
//!
//! The steps, each collecting every problem it finds before the next one runs:
//! 1. parse the JSON (errors as `file:line:column: message`);
//! 2. walk it against [`KEYS`](crate::keys::KEYS): unknown keys inside `external_services`
//!    and wrong types, each with its dotted key path;
//! 3. read the `TYK_GW_` variables (both spellings, legacy names): bad values name the
//!    variable, unknown ones and spelling conflicts are warnings;
//! 4. merge file < Tyk spelling < documented spelling with figment and extract the
//!    effective [`TykConfFile`](crate::file::TykConfFile);
//! 5. build the model, pairing each value with its source, and validate it.
//!
//! [`load_file`] / [`load_str`] are strict: any error and there is no configuration.
//! [`load_file_lenient`] / [`load_str_lenient`] return the model *with* its errors (a
//! [`LoadReport`]) whenever there is a model at all, for `extsvc check`, which reports
//! configuration errors and still checks what they leave usable.
use std::path::Path;

use crate::env_layer::read_env_layers;
use crate::error::{ConfigError, Diagnostics};
use crate::file_layer::{read_file_layer, read_file_text};
use crate::layer::{Layer, LayerKind, Layered};
use crate::validate::build_config;
use crate::{ConfigErrors, EnvSnapshot, ExternalServicesConfig, ServiceKind};

/// Options of loading.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// The prefix of Tyk's variables, `TYK_GW_` by default.
    pub env_prefix: String,
    /// Turn every warning of loading into an error ([`ConfigError::Strict`]): what Tyk
    /// accepts and extsvc reads with a warning — keys in another case, duplicate keys,
    /// unknown keys, `analytics`, TLS 1.0/1.1 minimums, `TYK_GW_OMITCONFIGFILE`, the
    /// routes where Tyk's merge differs — fails instead, for CI pipelines that want a clean
    /// file (`extsvc … --strict`). Default: false.
    ///
    /// ```
    /// use extsvc::config::{load_str, EnvSnapshot, LoadOptions};
    ///
    /// let json = r#"{"external_services": {"Global": {"enabled": false}}}"#;
    /// let env = EnvSnapshot::empty();
    /// let loaded = load_str(json, "tyk.conf", &env, &LoadOptions::default()).unwrap();
    /// assert_eq!(loaded.warnings.len(), 1);
    /// let strict = LoadOptions::default().with_strict(true);
    /// let errors = load_str(json, "tyk.conf", &env, &strict).unwrap_err();
    /// assert!(errors.to_string().ends_with("(an error in strict mode)"), "{errors}");
    /// ```
    pub strict: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            env_prefix: "TYK_GW_".to_owned(),
            strict: false,
        }
    }
}

impl LoadOptions {
    /// The diagnostics of one load under these options.
    fn diagnostics(&self) -> Diagnostics {
        Diagnostics {
            strict: self.strict,
            ..Diagnostics::default()
        }
    }
}

impl LoadOptions {
    /// These options with [`LoadOptions::env_prefix`] set to `prefix`.
    pub fn with_env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.env_prefix = prefix.into();
        self
    }

    /// These options with [`LoadOptions::strict`] set to `strict`.
    pub fn with_strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
}

/// A loaded, validated configuration and the warnings met on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Loaded {
    /// The configuration.
    pub config: ExternalServicesConfig,
    /// Warnings (unknown variables, spelling conflicts, assumed schemes, disabled
    /// verification, …), each starting with the key path or variable it is about.
    pub warnings: Vec<String>,
}

impl From<ExternalServicesConfig> for Loaded {
    /// A configuration taken as it is, without warnings.
    fn from(config: ExternalServicesConfig) -> Self {
        Loaded {
            config,
            warnings: Vec::new(),
        }
    }
}

/// A configuration as loaded, with every error found: [`load_file_lenient`]'s answer.
///
/// The model holds every value that passed its checks; a rejected value is absent (a bad
/// proxy URL is kept as "set to no proxy"). [`LoadReport::mtls_usable`] tells which
/// services' TLS settings no error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadReport {
    /// The configuration, without the values that were rejected.
    pub config: ExternalServicesConfig,
    /// Warnings, as in [`Loaded::warnings`].
    pub warnings: Vec<String>,
    /// Every error, in the order of [`ConfigErrors`]; empty when the configuration is valid.
    pub errors: Vec<ConfigError>,
    /// For each error, at the same index, the dotted key path or block it is about.
    concerns: Vec<String>,
}

impl LoadReport {
    /// True when no error is about the TLS settings of `kind`: nothing inside
    /// `external_services.<kind>` outside its `proxy` block (its `mtls` block, the block
    /// itself, an unknown key in it), in the file or in a variable. A service with only
    /// proxy errors has usable TLS settings.
    ///
    /// ```
    /// use extsvc::config::{load_str_lenient, EnvSnapshot, LoadOptions, ServiceKind};
    ///
    /// let json = r#"{"external_services": {
    ///     "oauth": {"mtls": {"enabled": true}},
    ///     "health": {"proxy": {"enabled": true, "http_proxy": "http://p:bad"}}}}"#;
    /// let report = load_str_lenient(json, "tyk.conf", &EnvSnapshot::empty(), &LoadOptions::default()).unwrap();
    /// assert_eq!(report.errors.len(), 2);
    /// assert!(!report.mtls_usable(ServiceKind::Oauth));
    /// assert!(report.mtls_usable(ServiceKind::Health));
    /// ```
    pub fn mtls_usable(&self, kind: ServiceKind) -> bool {
        let block = format!("external_services.{kind}");
        let proxy = format!("{block}.proxy");
        let within = |path: &str, prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        };
        // The legacy top-level insecure flag is an oauth TLS setting too (SPEC section 3).
        let legacy_tls = |path: &str| kind == ServiceKind::Oauth && within(path, "jwt_ssl_insecure_skip_verify");
        !self
            .concerns
            .iter()
            .any(|path| (within(path, &block) && !within(path, &proxy)) || legacy_tls(path))
    }

    /// The strict answer: the configuration and its warnings, or every error.
    pub fn into_result(self) -> Result<Loaded, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(Loaded {
                config: self.config,
                warnings: self.warnings,
            })
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

/// Loads the tyk.conf at `path` and the environment.
///
/// Reading the file is the only I/O. On failure every problem found is returned, each
/// naming its key path, variable or file position. Without a file, [`load_env`].
///
/// ```no_run
/// use extsvc::config::{load_file, EnvSnapshot, LoadOptions};
///
/// let loaded = load_file("/opt/tyk-gateway/tyk.conf", &EnvSnapshot::empty(), &LoadOptions::default())?;
/// # drop(loaded);
/// # Ok::<(), extsvc::ConfigErrors>(())
/// ```
pub fn load_file(path: impl AsRef<Path>, env: &EnvSnapshot, options: &LoadOptions) -> Result<Loaded, ConfigErrors> {
    load_file_lenient(Some(path.as_ref()), env, options)?.into_result()
}

/// Loads the configuration from the environment alone (no tyk.conf: an empty file).
///
/// ```
/// use extsvc::config::{load_env, EnvSnapshot, LoadOptions};
///
/// let env = EnvSnapshot::from_iter([("TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED", "true")]);
/// let loaded = load_env(&env, &LoadOptions::default()).unwrap();
/// let enabled = loaded.config.global.enabled.unwrap();
/// assert!(enabled.value);
/// assert_eq!(enabled.source.to_string(), "env:TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED");
/// ```
pub fn load_env(env: &EnvSnapshot, options: &LoadOptions) -> Result<Loaded, ConfigErrors> {
    load_file_lenient(None, env, options)?.into_result()
}

/// Loads JSON text; `origin` names it in errors (a file path).
///
/// ```
/// use extsvc::config::{load_str, EnvSnapshot, LoadOptions};
///
/// let json = r#"{ "external_services": { "oauth": { "mtls": { "enabled": true } } } }"#;
/// let errors = load_str(json, "tyk.conf", &EnvSnapshot::empty(), &LoadOptions::default()).unwrap_err();
/// assert!(errors.to_string().starts_with("external_services.oauth.mtls: mTLS enabled"), "{errors}");
/// ```
pub fn load_str(json: &str, origin: &str, env: &EnvSnapshot, options: &LoadOptions) -> Result<Loaded, ConfigErrors> {
    load_str_lenient(json, origin, env, options)?.into_result()
}

/// Like [`load_file`], but value errors do not take the configuration away: they come
/// back in a [`LoadReport`] with it. `Err` (every error found) only when there is no
/// configuration to return: the file cannot be read, is not JSON, or its top level or
/// `external_services` is not an object.
#[doc(hidden)]
pub fn load_file_lenient(
    path: Option<&Path>,
    env: &EnvSnapshot,
    options: &LoadOptions,
) -> Result<LoadReport, ConfigErrors> {
    let mut diagnostics = options.diagnostics();
    let Some(path) = path else {
        let report = load_layers(Layer::new(LayerKind::File, ""), diagnostics, env, options);
        return with_storage(report, None, env, options);
    };
    let origin = path.display().to_string();
    if omit_config_file(&origin, env, options, &mut diagnostics) {
        let report = load_layers(Layer::new(LayerKind::File, ""), diagnostics, env, options);
        return with_storage(report, None, env, options);
    }
    match read_file_text(path) {
        Ok(text) => {
            let file = read_file_layer(&text, &origin, &mut diagnostics);
            let report = load_layers(file, diagnostics, env, options);
            // The `storage` section is read beside the `external_services` keys (its own
            // module); the text parsed once more is a few kilobytes, once per load.
            let root = serde_json::from_str::<serde_json::Value>(&text).ok();
            with_storage(report, root.as_ref(), env, options)
        }
        Err(error) => {
            diagnostics.fatal(error);
            load_layers(Layer::new(LayerKind::File, ""), diagnostics, env, options)
        }
    }
}

/// Like [`load_str`], but returns the configuration with its errors; see
/// [`load_file_lenient`].
#[doc(hidden)]
pub fn load_str_lenient(
    json: &str,
    origin: &str,
    env: &EnvSnapshot,
    options: &LoadOptions,
) -> Result<LoadReport, ConfigErrors> {
    let mut diagnostics = options.diagnostics();
    if omit_config_file(origin, env, options, &mut diagnostics) {
        let report = load_layers(Layer::new(LayerKind::File, ""), diagnostics, env, options);
        return with_storage(report, None, env, options);
    }
    let file = read_file_layer(json, origin, &mut diagnostics);
    let report = load_layers(file, diagnostics, env, options);
    let root = serde_json::from_str::<serde_json::Value>(json).ok();
    with_storage(report, root.as_ref(), env, options)
}

/// Adds tyk.conf's `storage` section (file and `<prefix>STORAGE_*` variables) to a
/// loaded configuration, with its warnings and errors.
fn with_storage(
    report: Result<LoadReport, ConfigErrors>,
    root: Option<&serde_json::Value>,
    env: &EnvSnapshot,
    options: &LoadOptions,
) -> Result<LoadReport, ConfigErrors> {
    let mut report = report?;
    // Under `--strict` the section's warnings are errors too.
    let mut diagnostics = options.diagnostics();
    report.config.storage = crate::storage::read_storage(root, env, &options.env_prefix, &mut diagnostics);
    report.warnings.extend(diagnostics.warnings);
    report.errors.extend(diagnostics.errors);
    report.concerns.extend(diagnostics.concerns);
    Ok(report)
}

/// `TYK_GW_OMITCONFIGFILE` (Go booleans): true means Tyk does not read its configuration
/// file, and neither do we; a warning says so. A value that is not a boolean is an error
/// naming the variable (and the file is read).
fn omit_config_file(origin: &str, env: &EnvSnapshot, options: &LoadOptions, diagnostics: &mut Diagnostics) -> bool {
    let variable = format!("{}OMITCONFIGFILE", options.env_prefix);
    let value = match env.get_checked(&variable) {
        Ok(Some(value)) => value,
        Ok(None) => return false,
        Err(error) => {
            diagnostics.error(variable, error);
            return false;
        }
    };
    match crate::env_layer::parse_go_bool(value) {
        Ok(false) => false,
        Ok(true) => {
            diagnostics.warn(format!(
                "{variable}: true, so the configuration file {} is not read (as Tyk does): only environment \
                 variables and defaults apply",
                crate::shown(origin)
            ));
            true
        }
        Err(message) => {
            diagnostics.error(variable.clone(), ConfigError::InvalidEnvValue { variable, message });
            false
        }
    }
}

/// Reads the environment, merges and builds the model. Even after a fatal error the
/// environment is read, so that every problem is reported at once. `file` may also be
/// the values set in code ([`crate::code`]).
pub(crate) fn load_layers(
    file: Layer,
    mut diagnostics: Diagnostics,
    env: &EnvSnapshot,
    options: &LoadOptions,
) -> Result<LoadReport, ConfigErrors> {
    let env_layers = read_env_layers(env, &options.env_prefix, &mut diagnostics);
    let secrets = read_secrets(file.secrets.clone(), env, &options.env_prefix, &mut diagnostics);
    let kv = crate::kv::kv_settings(file.kv.clone(), env, &options.env_prefix, &mut diagnostics);
    let layered = Layered::new([file, env_layers.tyk, env_layers.documented]);
    let config = match layered.extract() {
        Ok(effective) => {
            let mut config = build_config(&effective, &layered, &mut diagnostics);
            config.secrets = secrets;
            config.kv = kv;
            crate::tyk_merge::warn_divergences(&config, &mut diagnostics);
            config
        }
        Err(e) => {
            // Cannot happen with checked layers; reported rather than panicking.
            diagnostics.fatal(ConfigError::Invalid {
                path: "external_services".to_owned(),
                message: e.to_string(),
            });
            ExternalServicesConfig::default()
        }
    };
    if diagnostics.fatal {
        return Err(ConfigErrors(diagnostics.errors));
    }
    Ok(LoadReport {
        config,
        warnings: diagnostics.warnings,
        errors: diagnostics.errors,
        concerns: diagnostics.concerns,
    })
}

/// The `secrets` map: `<prefix>SECRETS` (Go's map syntax, `name:value,…`) replaces the
/// file's whole map, as Tyk's `envconfig` does.
fn read_secrets(
    file: Option<std::collections::BTreeMap<String, crate::SecretText>>,
    env: &EnvSnapshot,
    prefix: &str,
    diagnostics: &mut Diagnostics,
) -> crate::SecretsSettings {
    let variable = format!("{prefix}SECRETS");
    match env.get_checked(&variable) {
        Ok(Some(value)) => match crate::secret_reference::parse_secrets_variable(value) {
            Ok(values) => {
                return crate::SecretsSettings {
                    values,
                    source: Some(crate::Source::Env(variable)),
                }
            }
            Err(message) => diagnostics.error(variable.clone(), ConfigError::InvalidEnvValue { variable, message }),
        },
        Ok(None) => {}
        Err(error) => diagnostics.error(variable, error),
    }
    match file {
        Some(values) => crate::SecretsSettings {
            values,
            source: Some(crate::Source::File("secrets".to_owned())),
        },
        None => crate::SecretsSettings::default(),
    }
}
