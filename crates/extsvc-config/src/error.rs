//! Configuration errors: one variant per kind of problem, each naming where it is.
use std::fmt;

/// One problem with the configuration, naming the key path, the file or the variable.
///
/// Messages start with that location (`external_services.oauth.mtls.cert_fiel: …`,
/// `TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED: …`, `tyk.conf:5:5: …`) and never contain a
/// password: proxy URLs are shown with `user:***@`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read the configuration file: {message}")]
    Read {
        /// The file.
        file: String,
        /// The operating system's message.
        message: String,
    },
    /// The file is not valid JSON.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A key inside `external_services` that does not exist (a typo must not silently
    /// disable a setting).
    #[error("{}: unknown key{}", crate::escaped(path), match suggestion { Some(s) => format!("; did you mean {s}?"), None => String::new() })]
    UnknownKey {
        /// Dotted path of the unknown key.
        path: String,
        /// The closest known key, when one is plausible.
        suggestion: Option<String>,
    },
    /// A JSON value of the wrong type (`"enabled": "yes"`).
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// Dotted key path.
        path: String,
        /// What the key takes (`true or false`).
        expected: &'static str,
        /// What was there (`string "yes"`).
        found: String,
    },
    /// An environment variable whose text is not a value of the key's type.
    #[error("{variable}: {message}")]
    InvalidEnvValue {
        /// The variable.
        variable: String,
        /// What is wrong, e.g. `invalid boolean "yes": expected true, false, 1 or 0`.
        message: String,
    },
    /// A variable extsvc reads whose value is not valid UTF-8: an error, never skipped.
    #[error("{variable}: the value is not valid UTF-8")]
    NotUtf8 {
        /// The variable.
        variable: String,
    },
    /// A warning made an error by `--strict` ([`LoadOptions::strict`](crate::LoadOptions::strict)):
    /// something Tyk accepts, which a CI pipeline wants out of the file.
    #[error("{warning} (an error in strict mode)")]
    Strict {
        /// The warning, starting with the key path or variable it is about.
        warning: String,
    },
    /// A proxy URL that cannot be used.
    #[error("{path}: invalid proxy URL \"{value}\": {reason}")]
    InvalidProxyUrl {
        /// Key path, variable or legacy key that set it.
        path: String,
        /// The value as written, password replaced by `***`.
        value: String,
        /// Why it was rejected (`invalid port "wrong_port"`).
        reason: String,
    },
    /// A bypass-list entry that cannot be parsed.
    #[error("{path}: invalid bypass entry \"{entry}\": {reason}")]
    InvalidBypassEntry {
        /// Key path or variable that set the list.
        path: String,
        /// The entry as written.
        entry: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A TLS version that is not `1.2` or `1.3`.
    #[error("{path}: {message}")]
    InvalidTlsVersion {
        /// Key path or variable that set it.
        path: String,
        /// The message of [`TlsVersion::parse`](crate::TlsVersion::parse).
        message: String,
    },
    /// `tls_min_version` is above `tls_max_version`.
    #[error("{path}: tls_min_version {min} is greater than tls_max_version {max}")]
    TlsVersionRange {
        /// The mtls block (`external_services.oauth.mtls`).
        path: String,
        /// The minimum.
        min: crate::TlsVersion,
        /// The maximum.
        max: crate::TlsVersion,
    },
    /// `cert_file` without `key_file` or the other way round (and no `cert_id`).
    #[error("{path}: invalid mTLS configuration: both cert_file and key_file must be specified for file-based configuration")]
    IncompleteClientCertificate {
        /// The mtls block.
        path: String,
    },
    /// `mtls.enabled` with no certificate, no CA and no `insecure_skip_verify`.
    #[error("{path}: mTLS enabled but no certificate configuration provided")]
    NoCertificateConfiguration {
        /// The mtls block.
        path: String,
    },
    /// Any other wrong value; `path` is a dotted key path, a variable name or the file.
    #[error("{path}: {message}")]
    Invalid {
        /// Key path or variable.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// Where the problem is: the dotted key path, the variable, the legacy key or the file
    /// (the text before the first `: ` of the message).
    pub fn path(&self) -> &str {
        match self {
            ConfigError::Read { file, .. } | ConfigError::Parse { file, .. } => file,
            ConfigError::InvalidEnvValue { variable, .. } | ConfigError::NotUtf8 { variable } => variable,
            ConfigError::Strict { warning } => warning.split_once(": ").map_or(warning.as_str(), |(path, _)| path),
            ConfigError::UnknownKey { path, .. }
            | ConfigError::WrongType { path, .. }
            | ConfigError::InvalidProxyUrl { path, .. }
            | ConfigError::InvalidBypassEntry { path, .. }
            | ConfigError::InvalidTlsVersion { path, .. }
            | ConfigError::TlsVersionRange { path, .. }
            | ConfigError::IncompleteClientCertificate { path }
            | ConfigError::NoCertificateConfiguration { path }
            | ConfigError::Invalid { path, .. } => path,
        }
    }
}

/// Every problem found, in a stable order: the file's structure (unknown keys, wrong
/// types), then the environment (by variable name), then the values (in
/// [`KEYS`](crate::keys::KEYS) order).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a newtype of the list: callers build one from the errors they collect"
)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Errors and warnings collected while loading; nothing stops at the first problem.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    pub(crate) errors: Vec<ConfigError>,
    /// For each of `errors`, at the same index: the dotted key path (or block) it is about,
    /// whatever spelling set it, so that a caller can tell which services an error leaves
    /// usable. Empty for a problem of the whole file.
    pub(crate) concerns: Vec<String>,
    /// An error left no model to work with (unreadable file, not JSON, not an object).
    pub(crate) fatal: bool,
    pub(crate) warnings: Vec<String>,
    /// Keys that were set but whose value was rejected (wrong type, bad variable text):
    /// later rules treat them as set, so one mistake is not reported twice.
    pub(crate) rejected: Vec<&'static str>,
    /// `--strict`: every warning is an error ([`ConfigError::Strict`]).
    pub(crate) strict: bool,
}

impl Diagnostics {
    /// An error about the key or block at `key_path` (dotted, whatever source set it).
    pub(crate) fn error(&mut self, key_path: impl Into<String>, error: ConfigError) {
        self.concerns.push(key_path.into());
        self.errors.push(error);
    }

    /// An error after which there is no configuration to work with.
    pub(crate) fn fatal(&mut self, error: ConfigError) {
        self.fatal = true;
        self.error(String::new(), error);
    }

    pub(crate) fn reject(&mut self, key: &'static crate::keys::KeySpec, error: ConfigError) {
        self.rejected.push(key.path);
        self.error(key.path, error);
    }

    pub(crate) fn was_rejected(&self, path: &str) -> bool {
        self.rejected.contains(&path)
    }

    /// A warning, or under `--strict` the error `strict` (for a warning that has an error
    /// of its own kind, such as [`ConfigError::UnknownKey`]).
    pub(crate) fn tolerate(&mut self, concern: &str, warning: String, strict: ConfigError) {
        if self.strict {
            self.error(concern.to_owned(), strict);
        } else {
            self.warnings.push(warning);
        }
    }

    /// A warning; under `--strict` an error about what the warning names (the text before
    /// its first `: `).
    pub(crate) fn warn(&mut self, warning: impl Into<String>) {
        let warning = warning.into();
        if self.strict {
            let concern = warning.split_once(": ").map_or("", |(path, _)| path).to_owned();
            self.error(concern, ConfigError::Strict { warning });
        } else {
            self.warnings.push(warning);
        }
    }
}
