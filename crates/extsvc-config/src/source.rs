use std::fmt;

/// Where a configuration value came from.
///
/// Displays as `file:<dotted key path>`, `env:<VARIABLE>`, `legacy:<top-level key>`,
/// `fallback:<source of http_proxy>`, `code:<dotted key path>` or `default`, the `source`
/// strings of `extsvc resolve --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// A key of the config file, as a dotted path (`external_services.oauth.mtls.cert_file`).
    File(String),
    /// An environment variable, by name (`TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE`, `HTTPS_PROXY`).
    Env(String),
    /// A legacy top-level key of the config file (`http_proxy`, `jwt_ssl_insecure_skip_verify`).
    Legacy(String),
    /// Tyk's https fallback (SPEC section 2, step 4): an `https_proxy` that resolved to
    /// nothing takes the `http_proxy` set in tyk.conf or a `TYK_GW_` variable; this
    /// holds where that `http_proxy` came from.
    Fallback(Box<Source>),
    /// Set in code with [`ExternalServicesConfig::builder`](crate::ExternalServicesConfig::builder),
    /// by the dotted key path of the file key it stands for (`external_services.oauth.mtls.cert_file`).
    Code(String),
    /// Nothing set it: a built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "file:{path}"),
            Source::Env(var) => write!(f, "env:{var}"),
            Source::Legacy(key) => write!(f, "legacy:{key}"),
            Source::Fallback(http_proxy) => write!(f, "fallback:{http_proxy}"),
            Source::Code(path) => write!(f, "code:{path}"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A value together with the [`Source`] that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a value and where it came from: a pair by construction"
)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

impl<T> Sourced<T> {
    /// Pairs a value with its source.
    pub fn new(value: T, source: Source) -> Self {
        Sourced { value, source }
    }

    /// A built-in default.
    pub fn default_value(value: T) -> Self {
        Sourced {
            value,
            source: Source::Default,
        }
    }

    /// Borrows the value, keeping the source.
    pub fn as_ref(&self) -> Sourced<&T> {
        Sourced {
            value: &self.value,
            source: self.source.clone(),
        }
    }

    /// Transforms the value, keeping the source.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Sourced<U> {
        Sourced {
            value: f(self.value),
            source: self.source,
        }
    }
}
