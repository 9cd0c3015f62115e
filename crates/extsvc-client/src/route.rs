//! [`RouteKey`]: the route of a request target, as the pool key holds it.

use extsvc_resolve::TargetScheme;

/// Which route a pooled connection takes: part of its [`PoolKey`](crate::pool::PoolKey), so a connection
/// opened through one proxy is never reused for another route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RouteKey {
    /// Straight to the target.
    Direct,
    /// Through the service's proxy for this scheme (`http_proxy` or `https_proxy`).
    Proxy(TargetScheme),
}
