use std::fmt;

/// A TLS protocol version that extsvc can negotiate (rustls implements only 1.2 and 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed set: the TLS versions Tyk's tls_min_version/tls_max_version take"
)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    /// The short form used in configuration and output: `"1.2"` or `"1.3"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "1.2",
            TlsVersion::Tls13 => "1.3",
        }
    }

    /// Parses `"1.2"`, `"1.3"`, `"TLS1.2"`, `"tls1.3"` (case-insensitive).
    ///
    /// `"1.0"` and `"1.1"` are rejected with a message saying that rustls implements
    /// only TLS 1.2 and 1.3 (as a *minimum* the loader reads them as 1.2, with a warning:
    /// [`TlsVersion::is_below_tls12`]).
    pub fn parse(value: &str) -> Result<TlsVersion, String> {
        match Self::number(value).as_str() {
            "1.2" => Ok(TlsVersion::Tls12),
            "1.3" => Ok(TlsVersion::Tls13),
            "1.0" | "1.1" | "1" => Err(format!(
                "TLS version \"{}\" is not supported: rustls implements only TLS 1.2 and 1.3",
                crate::shown(value)
            )),
            _ => Err(format!(
                "invalid TLS version \"{}\": expected \"1.2\" or \"1.3\"",
                crate::shown(value)
            )),
        }
    }

    /// True for `"1.0"` and `"1.1"` (any of the spellings [`TlsVersion::parse`] takes):
    /// versions Tyk accepts and rustls does not implement.
    pub fn is_below_tls12(value: &str) -> bool {
        matches!(Self::number(value).as_str(), "1.0" | "1.1" | "1")
    }

    /// The version number of `value`, without a `TLS` prefix, lower case.
    fn number(value: &str) -> String {
        let lower = value.trim().to_ascii_lowercase();
        lower
            .strip_prefix("tls")
            .map(|s| s.trim_start_matches([' ', 'v']).to_owned())
            .unwrap_or(lower)
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
