//! [`RouteKey`]: the route of a request target, decided once per target
//! ([`ResolvedService::route`]) and carried down, to the pool key and to the connector.

use extsvc_config::ProxyUrl;
use extsvc_resolve::{ResolvedService, Route, TargetScheme};

/// Which route a connection takes: part of its [`PoolKey`](crate::pool::PoolKey), so a
/// connection opened through one proxy is never reused for another route, and what the
/// service's own clients hand their connector stack with the target, so the connector
/// follows the decision instead of making it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RouteKey {
    /// Straight to the target.
    Direct,
    /// Through the service's proxy for this scheme (`http_proxy` or `https_proxy`).
    Proxy(TargetScheme),
}

impl RouteKey {
    /// Decides the route to `host:port` by `service`'s rules (the one decision for this
    /// target), with the proxy it goes through. Allocates nothing.
    pub(crate) fn decide<'s>(
        service: &'s ResolvedService,
        scheme: TargetScheme,
        host: &str,
        port: u16,
    ) -> (RouteKey, Option<&'s ProxyUrl>) {
        match service.route(scheme, host, port).route {
            Route::Direct => (RouteKey::Direct, None),
            Route::Proxy(proxy) => (RouteKey::Proxy(scheme), Some(proxy)),
        }
    }

    /// The proxy this route goes through, borrowed from `service`: its field for the
    /// scheme, the one [`ResolvedService::route`] chose (no second bypass match).
    pub(crate) fn proxy(self, service: &ResolvedService) -> Option<&ProxyUrl> {
        match self {
            RouteKey::Direct => None,
            RouteKey::Proxy(scheme) => service.proxy.for_scheme(scheme).value.as_ref(),
        }
    }
}
