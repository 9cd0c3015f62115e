//! [`TargetScheme`]: plain or TLS to the target, which picks the proxy variable.

/// Whether the connection to the target is plain or TLS; it picks `http_proxy` or
/// `https_proxy` (`redis://` is plain, `rediss://` is TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums, reason = "closed set: plain or TLS to the target")]
pub enum TargetScheme {
    /// `http://`, `redis://`.
    Http,
    /// `https://`, `rediss://`.
    Https,
}

impl TargetScheme {
    /// `"http"` or `"https"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetScheme::Http => "http",
            TargetScheme::Https => "https",
        }
    }
}
