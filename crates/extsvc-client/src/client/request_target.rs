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
            (Some(scheme), Some(known @ (UriScheme::Http | UriScheme::Https)), Some(authority)) => Ok(Target {
                scheme: scheme.clone(),
                authority: authority.clone(),
                port: authority.port_u16().unwrap_or(known.default_port()),
                target_scheme: known.target_scheme(),
            }),
            _ => Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("the URI \"{uri}\" is not an absolute http:// or https:// URI"),
            )),
        }
    }
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
        self.authority.host()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}
