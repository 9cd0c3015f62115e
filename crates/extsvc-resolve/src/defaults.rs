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

/// How many redirects a service's client follows (SPEC section 4).
///
/// The default is Go's: at most 10; past them the request fails with an
/// `ErrorKind::Redirect` error. With [`RedirectPolicy::none`] a 3xx response is
/// returned as it is.
///
/// ```
/// use extsvc::{EnvSnapshot, ExternalServices, RedirectPolicy, ServiceKind};
///
/// # async fn start() -> Result<(), extsvc::SetupError> {
/// let services = ExternalServices::builder()
///     .env(EnvSnapshot::empty())
///     .redirect_policy(ServiceKind::Webhooks, RedirectPolicy::none()) // a webhook's 302 is its answer
///     .redirect_policy(ServiceKind::Oauth, RedirectPolicy::limited(3))
///     .build()
///     .await?;
/// # drop(services);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectPolicy {
    max: u8,
}

impl RedirectPolicy {
    /// Follows no redirect: a 3xx response is the response.
    pub const fn none() -> RedirectPolicy {
        RedirectPolicy { max: 0 }
    }

    /// Follows at most `max` redirects in one request (capped at 255).
    pub const fn limited(max: usize) -> RedirectPolicy {
        RedirectPolicy {
            max: if max > u8::MAX as usize { u8::MAX } else { max as u8 },
        }
    }

    /// The most redirects followed.
    pub const fn max(self) -> usize {
        self.max as usize
    }
}

impl Default for RedirectPolicy {
    /// At most 10 redirects, as Go's `http.Client`.
    fn default() -> RedirectPolicy {
        RedirectPolicy::limited(10)
    }
}

/// The default `max_response_body` of every service: 32 MiB. A JWKS document, a token
/// response or a webhook's answer is a few kilobytes; the limit keeps a hostile or broken
/// peer from filling memory before the deadline ends the exchange. It counts the bytes
/// after gzip decompression, and reading past it is an `ErrorKind::BodyTooLarge` error
/// whatever way the body is read (frames, `ResponseBody::bytes`, `text`, `json`).
pub const DEFAULT_BODY_LIMIT: usize = 32 * 1024 * 1024;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_gos_by_default() {
        assert_eq!(RedirectPolicy::default().max(), 10);
        assert_eq!(RedirectPolicy::none().max(), 0);
        assert_eq!(RedirectPolicy::limited(1000).max(), 255);
    }
}
