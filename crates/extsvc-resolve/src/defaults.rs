use std::time::Duration;

use extsvc_config::ServiceKind;

/// Connection pool sizes of one service (seed: "Connection Pooling").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Hard cap on open connections (busy + idle) of the service's client.
    pub max_connections: usize,
    /// Most idle connections kept per target host.
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
}

impl PoolSettings {
    /// The built-in defaults of one service.
    pub const fn for_service(kind: ServiceKind) -> PoolSettings {
        let (max_connections, max_idle_per_host, idle_secs) = match kind {
            ServiceKind::Oauth => (50, 10, 30),
            ServiceKind::Health => (20, 5, 15),
            ServiceKind::Storage => (50, 15, 90),
            ServiceKind::Discovery => (30, 5, 20),
            ServiceKind::Webhooks => (50, 10, 30),
        };
        PoolSettings {
            max_connections,
            max_idle_per_host,
            idle_timeout: Duration::from_secs(idle_secs),
        }
    }
}

/// The built-in whole-exchange timeout of one service (seed: "Service-Specific Timeouts").
pub(crate) const fn timeout_for(kind: ServiceKind) -> Duration {
    Duration::from_secs(match kind {
        ServiceKind::Oauth => 15,
        ServiceKind::Health => 10,
        ServiceKind::Discovery => 10,
        ServiceKind::Storage => 20,
        ServiceKind::Webhooks => 30,
    })
}
