use std::time::Duration;

use extsvc_config::{ServiceKind, Source, Sourced};

/// Connection pool settings of one service: the sizes of the seed's table ("Connection
/// Pooling"), and three library-level controls that tyk.conf does not set, off by
/// default (so a resolution from tyk.conf behaves as the seed's pool does).
///
/// The controls are plain data, so resolution stays pure: the client's pool applies them
/// (`extsvc_client::pool` documents the rules). Set them with the `with_*` methods or
/// the fields, e.g. from a builder's per-service override:
///
/// ```
/// # use std::time::Duration;
/// # use extsvc_resolve::PoolSettings;
/// let pool = PoolSettings::for_service(extsvc_config::ServiceKind::Webhooks)
///     .with_max_connections_per_host(8)
///     .with_max_pending(100)
///     .with_max_connection_lifetime(Duration::from_secs(300));
/// assert_eq!(pool.max_connections, 50);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolSettings {
    /// Hard cap on open connections (busy + idle) of the service's client.
    pub max_connections: usize,
    /// Most idle connections kept per target host.
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Cap on open connections per pool key (scheme, host, port and route), beside
    /// `max_connections` (Go's `MaxConnsPerHost`). `None` (the default): only the total
    /// cap. A request for a host at its cap waits for that host's connections.
    pub max_connections_per_host: Option<usize>,
    /// Most requests waiting for a connection at once, per service. `None` (the
    /// default): unbounded, each waits within its deadline. Past it a request fails at
    /// once with the client's `pool_full` error.
    pub max_pending: Option<usize>,
    /// Age after which a connection is not handed out again and is closed once idle
    /// (NGINX `keepalive_time`, Envoy `max_connection_duration`). `None` (the default):
    /// connections live until idle too long, closed by the peer or evicted. This is what
    /// moves pooled connections to rotated certificates, a changed CA or a moved DNS name.
    pub max_connection_lifetime: Option<Duration>,
}

impl PoolSettings {
    /// A pool of at most `max_connections` connections, keeping at most
    /// `max_idle_per_host` idle per host for `idle_timeout`; the other controls off.
    pub const fn new(max_connections: usize, max_idle_per_host: usize, idle_timeout: Duration) -> PoolSettings {
        PoolSettings {
            max_connections,
            max_idle_per_host,
            idle_timeout,
            max_connections_per_host: None,
            max_pending: None,
            max_connection_lifetime: None,
        }
    }

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
            max_connections_per_host: None,
            max_pending: None,
            max_connection_lifetime: None,
        }
    }

    /// The same settings with a cap of `max` open connections per host (at least 1).
    #[must_use]
    pub const fn with_max_connections_per_host(mut self, max: usize) -> PoolSettings {
        self.max_connections_per_host = Some(if max == 0 { 1 } else { max });
        self
    }

    /// The same settings with at most `max` requests waiting for a connection (0: a
    /// request that finds no connection and no free slot fails at once).
    #[must_use]
    pub const fn with_max_pending(mut self, max: usize) -> PoolSettings {
        self.max_pending = Some(max);
        self
    }

    /// The same settings with connections retired once `lifetime` old.
    #[must_use]
    pub const fn with_max_connection_lifetime(mut self, lifetime: Duration) -> PoolSettings {
        self.max_connection_lifetime = Some(lifetime);
        self
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

/// `value`, from [`Source::Default`].
pub(crate) fn sourced_default<T>(value: T) -> Sourced<T> {
    Sourced::new(value, Source::Default)
}
