//! The per-request route decision: direct or through which proxy, and why.

use std::fmt;

use extsvc_config::{BypassEntry, ProxyUrl, Source};

use crate::resolution::ResolvedService;
use crate::scheme::TargetScheme;

/// Where a connection goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed set: a connection goes direct or through a proxy"
)]
pub enum Route<'a> {
    /// Straight to the target.
    Direct,
    /// Through this proxy.
    Proxy(&'a ProxyUrl),
}

/// Why a route was chosen; displays as the `reason` of `extsvc route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteReason<'a> {
    /// Neither global nor service proxying is enabled.
    ProxyingNotEnabled,
    /// Proxying is enabled but no proxy URL is set for the target's scheme.
    NoProxyConfigured(TargetScheme),
    /// A bypass entry matched the target.
    Bypassed {
        /// The entry.
        entry: &'a BypassEntry,
        /// Where the bypass list came from.
        source: &'a Source,
    },
    /// The proxy for the scheme applies; for `https` it may be Tyk's fallback to the
    /// configured `http_proxy` ([`Source::Fallback`]), which the text says.
    Proxied {
        /// The target's scheme.
        scheme: TargetScheme,
        /// Where the proxy URL came from.
        source: &'a Source,
    },
}

impl fmt::Display for RouteReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteReason::ProxyingNotEnabled => f.write_str("proxying not enabled for this service"),
            RouteReason::NoProxyConfigured(scheme) => write!(f, "no proxy configured for {}", scheme.as_str()),
            RouteReason::Bypassed { entry, source } => write!(f, "bypass entry \"{entry}\" matches ({source})"),
            RouteReason::Proxied {
                scheme,
                source: source @ Source::Fallback(_),
            } => write!(
                f,
                "{}_proxy from {source} (no https_proxy set: Tyk's fallback to the configured http_proxy)",
                scheme.as_str()
            ),
            RouteReason::Proxied { scheme, source } => write!(f, "{}_proxy from {source}", scheme.as_str()),
        }
    }
}

/// A route and its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteDecision<'a> {
    /// Where the connection goes.
    pub route: Route<'a>,
    /// Why.
    pub reason: RouteReason<'a>,
}

impl ResolvedService {
    /// Decides the route to `host:port`. `host` is as in a URI: any case, IPv6 literals
    /// possibly in brackets, possibly with a trailing dot. Allocates nothing.
    pub fn route(&self, scheme: TargetScheme, host: &str, port: u16) -> RouteDecision<'_> {
        let proxy = &self.proxy;
        if !proxy.enabled {
            return RouteDecision {
                route: Route::Direct,
                reason: RouteReason::ProxyingNotEnabled,
            };
        }
        let url = proxy.for_scheme(scheme);
        let Some(proxy_url) = &url.value else {
            return RouteDecision {
                route: Route::Direct,
                reason: RouteReason::NoProxyConfigured(scheme),
            };
        };
        if let Some(entry) = proxy.bypass.value.matches(host, port) {
            return RouteDecision {
                route: Route::Direct,
                reason: RouteReason::Bypassed {
                    entry,
                    source: &proxy.bypass.source,
                },
            };
        }
        RouteDecision {
            route: Route::Proxy(proxy_url),
            reason: RouteReason::Proxied {
                scheme,
                source: &url.source,
            },
        }
    }
}
