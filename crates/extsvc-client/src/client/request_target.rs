//! The target of a request and its framing for the hop: [`Target`] (an absolute
//! `http://`/`https://` URI without userinfo), `Host`, origin or absolute form, and
//! `Proxy-Authorization` only on a forwarding hop.

use std::fmt;

use extsvc_config::ProxyUrl;
use extsvc_resolve::TargetScheme;
use http::header::{HOST, PROXY_AUTHORIZATION};
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Uri};

use super::RequestBody;
use crate::error::{Error, ErrorKind};
use crate::host::{HostPort, UriScheme};
use crate::io::Hop;

/// `Host` for `authority` (which has no userinfo: [`Target::of`] refuses it).
pub(super) fn host_header(authority: &Authority) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(authority.as_str())
        .map_err(|e| Error::new(ErrorKind::InvalidRequest, "invalid host").with_source(e))
}

/// Frames the request for its hop: absolute form and `Proxy-Authorization` for a
/// forwarding proxy; origin form and no `Proxy-Authorization` otherwise (it is never
/// sent to a target). Adds `Host` when missing.
pub(super) fn prepare(
    req: &mut Request<RequestBody>,
    hop: Hop,
    proxy: Option<&ProxyUrl>,
    authority: &Authority,
    cached_host: &HeaderValue,
) -> Result<(), Error> {
    if !req.headers().contains_key(HOST) {
        let value = if cached_host.as_bytes() == authority.as_str().as_bytes() {
            cached_host.clone()
        } else {
            host_header(authority)?
        };
        req.headers_mut().insert(HOST, value);
    }
    match hop {
        Hop::Forward => {
            if let Some(auth) = proxy.and_then(ProxyUrl::proxy_authorization) {
                req.headers_mut().insert(PROXY_AUTHORIZATION, auth.clone());
            }
        }
        Hop::Direct | Hop::Tunnel => {
            req.headers_mut().remove(PROXY_AUTHORIZATION);
            // An empty path (`http://host:port#frag`, `http://host?q`) is `/` in origin
            // form: the request line must never be `GET  HTTP/1.1` (`PathAndQuery::as_str`
            // shows an empty path as `/`, while the URI built from it would be empty).
            let origin = match req.uri().path_and_query() {
                Some(pq) if pq.as_str().starts_with('/') && pq.as_str() != "/" => Uri::from(pq.clone()),
                Some(pq) => match pq.query() {
                    Some(query) => format!("/?{query}").parse().unwrap_or_else(|_| Uri::from_static("/")),
                    None => Uri::from_static("/"),
                },
                None => Uri::from_static("/"),
            };
            *req.uri_mut() = origin;
        }
    }
    Ok(())
}

/// The target of a request, read once from its URI: what the route, the pool key, `Host`
/// and errors take (cheap clones of the URI's parts; the authority has no userinfo:
/// [`Target::of`] refuses it). Displays as `scheme://host[:port]`.
#[derive(Clone)]
pub(crate) struct Target {
    scheme: Scheme,
    pub(super) authority: Authority,
    /// The length of the host at the start of `authority` (no userinfo precedes it),
    /// found once here: `Authority::host` scans the text again on every call.
    host_len: usize,
    /// The port given, or the scheme's default.
    pub(super) port: u16,
    /// The proxy field the scheme takes.
    pub(super) target_scheme: TargetScheme,
}

impl Target {
    /// The target of an absolute `http://` or `https://` URI without userinfo. A URI
    /// with `user:password@` is refused: the credentials would go into `Host`, into the
    /// absolute form a forwarding proxy sees and into error messages. The error never
    /// repeats them.
    pub(super) fn of(uri: &Uri) -> Result<Target, Error> {
        if let Some(authority) = uri.authority() {
            reject_userinfo(authority)?;
        }
        match (uri.scheme(), UriScheme::of(uri), uri.authority()) {
            (Some(scheme), Some(known @ (UriScheme::Http | UriScheme::Https)), Some(authority)) => {
                let (host_len, port) = split_host_port(authority.as_str());
                Ok(Target {
                    scheme: scheme.clone(),
                    authority: authority.clone(),
                    host_len,
                    port: port.unwrap_or_else(|| known.default_port()),
                    target_scheme: known.target_scheme(),
                })
            }
            _ => Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("the URI \"{uri}\" is not an absolute http:// or https:// URI"),
            )),
        }
    }
}

/// The length of the host and the port of an authority without userinfo (`host`,
/// `host:port`, `[v6]`, `[v6]:port`), in one pass. `Authority::host` and
/// `Authority::port_u16` each scan for userinfo and split the text again: together
/// about 700 instructions per request, measured (docs/performance.md).
fn split_host_port(authority: &str) -> (usize, Option<u16>) {
    let host_len = if authority.starts_with('[') {
        authority.find(']').map_or(authority.len(), |close| close + 1)
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let port = authority[host_len..]
        .strip_prefix(':')
        .and_then(|port| port.parse().ok());
    (host_len, port)
}

/// Refuses an authority with userinfo (`user:password@host`), naming only its host.
fn reject_userinfo(authority: &Authority) -> Result<(), Error> {
    if !authority.as_str().contains('@') {
        return Ok(());
    }
    let host_port = match authority.port_u16() {
        Some(port) => format!("{}", HostPort(authority.host(), port)),
        None => authority.host().to_owned(),
    };
    Err(Error::new(
        ErrorKind::InvalidRequest,
        "request URI carries credentials (user:***@); send credentials in a header instead",
    )
    .with_target(&host_port))
}

impl Target {
    /// The host, as in the URI.
    pub(super) fn host(&self) -> &str {
        &self.authority.as_str()[..self.host_len]
    }

    /// Where the host lies in [`Target::authority`].
    pub(super) fn host_range(&self) -> std::ops::Range<usize> {
        0..self.host_len
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_found_once_and_exactly() {
        for (uri, host, port) in [
            ("http://example.com/", "example.com", 80),
            ("https://Example.com:8443/x", "Example.com", 8443),
            ("http://[::1]:8080/", "[::1]", 8080),
            ("https://[::1]/", "[::1]", 443),
            ("http://127.0.0.1:3128", "127.0.0.1", 3128),
            ("http://example.com:/", "example.com", 80),
            ("http://[fe80::1%25eth0]:81/", "[fe80::1%25eth0]", 81),
        ] {
            let target = Target::of(&uri.parse().unwrap()).unwrap();
            assert_eq!(target.host(), host, "{uri}");
            assert_eq!(&target.authority.as_str()[target.host_range()], host, "{uri}");
            assert_eq!(target.port, port, "{uri}");
            // The same as `http` finds, in one pass.
            let authority = target.authority.clone();
            assert_eq!(target.host(), authority.host(), "{uri}");
            assert_eq!(Some(target.port), authority.port_u16().or(Some(port)), "{uri}");
        }
    }

    proptest::proptest! {
        /// Whatever authority `http` accepts, the one-pass split agrees with
        /// `Authority::host` and `Authority::port_u16`.
        #[test]
        fn the_split_agrees_with_http(text in "(\\[[0-9a-fA-F:.]{2,12}\\]|[a-zA-Z0-9.-]{1,20})(:[0-9]{0,6})?") {
            // Ports above 65535 are refused by `http`; the rest parses.
            if let Ok(authority) = text.parse::<Authority>() {
                let (host_len, port) = split_host_port(authority.as_str());
                proptest::prop_assert_eq!(&authority.as_str()[..host_len], authority.host());
                proptest::prop_assert_eq!(port, authority.port_u16());
            } else {
                proptest::prop_assert!(text.rsplit(':').next().is_some_and(|p| p.len() >= 5), "{text}");
            }
        }
    }

    #[test]
    fn userinfo_is_refused_without_repeating_it() {
        let Err(err) = Target::of(&"http://user:secret@example.com/".parse().unwrap()) else {
            panic!("a URI with userinfo was accepted");
        };
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
