use std::fmt;
use std::str::FromStr;

/// One of the five kinds of external service that has its own settings block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed set: Tyk's five external services (SPEC section 1), which callers match"
)]
pub enum ServiceKind {
    /// OAuth/JWT: JWKS retrieval, token introspection.
    Oauth,
    /// Storage: Redis and database connections.
    Storage,
    /// Webhook event notifications.
    Webhooks,
    /// Health checks and uptime monitoring.
    Health,
    /// Service discovery.
    Discovery,
}

impl ServiceKind {
    /// Every service kind, in the order the seed document lists them.
    pub const ALL: [ServiceKind; 5] = [
        ServiceKind::Oauth,
        ServiceKind::Storage,
        ServiceKind::Webhooks,
        ServiceKind::Health,
        ServiceKind::Discovery,
    ];

    /// The key of this service's block in `external_services` (`"oauth"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Oauth => "oauth",
            ServiceKind::Storage => "storage",
            ServiceKind::Webhooks => "webhooks",
            ServiceKind::Health => "health",
            ServiceKind::Discovery => "discovery",
        }
    }

    /// Position of this kind in [`ServiceKind::ALL`], for per-service arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown service name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown service \"{}\": expected one of oauth, storage, webhooks, health, discovery", crate::escaped(.0))]
#[non_exhaustive]
pub struct UnknownServiceKind(pub String);

impl FromStr for ServiceKind {
    type Err = UnknownServiceKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServiceKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownServiceKind(s.to_owned()))
    }
}
