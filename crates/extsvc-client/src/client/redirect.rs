//! Following redirects as Go's `http.Client` does (SPEC section 4): [`RedirectPolicy`](extsvc_resolve::RedirectPolicy),
//! and [`ServiceClient::follow`], the loop over hops that
//! [`ServiceClient::request`] and the [`RequestBuilder`](super::RequestBuilder) run.
//!
//! Each hop is a request of its own through [`ServiceClient::hop`]: routed anew (its own
//! proxy or bypass decision, pool key and metrics), under the one deadline of the whole
//! chain. `Authorization`, `Cookie` and `Proxy-Authorization` are dropped when the origin
//! (scheme, host, port) changes; an `https` → `http` hop is refused.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, LOCATION,
    PROXY_AUTHORIZATION, TRANSFER_ENCODING, USER_AGENT,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use tokio::time::Instant;

use super::request_body::{box_body, RequestBody};
use super::{Deadline, ResponseBody, ServiceClient};
use crate::error::{Error, ErrorKind, Phase};

/// The request body as the redirect loop knows it: whether a 307/308 can send it again.
pub(super) enum Replay {
    /// No body (or an empty one): nothing to replay.
    Empty,
    /// Bytes the builder holds: sent again on a 307/308.
    Bytes(Bytes),
    /// A streaming body, sent once: a 307/308 response is returned as it is (as Go does
    /// without `GetBody`).
    Stream,
}

/// What a hop needs again for the next one (saved before the request goes out, since
/// the connection consumes it). Cheap: no allocation for a request without headers of
/// its own (an empty `HeaderMap` clones without allocating).
struct Sent {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

/// The values the client adds to every request that lacks them, built once.
pub(super) const USER_AGENT_VALUE: HeaderValue =
    HeaderValue::from_static(concat!("extsvc/", env!("CARGO_PKG_VERSION")));
const GZIP: HeaderValue = HeaderValue::from_static("gzip");

/// Adds `User-Agent` and `Accept-Encoding: gzip` when the caller set none; true when the
/// client asked for gzip itself (and so inflates a gzip answer).
fn add_default_headers(headers: &mut HeaderMap) -> bool {
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, USER_AGENT_VALUE);
    }
    if headers.contains_key(ACCEPT_ENCODING) {
        false
    } else {
        headers.insert(ACCEPT_ENCODING, GZIP);
        true
    }
}

impl ServiceClient {
    /// Sends a request and follows its redirects under the client's
    /// [`RedirectPolicy`](extsvc_resolve::RedirectPolicy),
    /// all under `deadline`.
    pub(super) async fn follow(
        &self,
        mut parts: http::request::Parts,
        mut body: RequestBody,
        mut body_sent: Option<Arc<AtomicBool>>,
        replay: Replay,
        started: Instant,
        deadline: Deadline,
    ) -> Result<Response<ResponseBody>, Error> {
        let policy = self.inner.service.redirect;
        let mut followed = 0usize;
        let mut started = started;
        loop {
            let sent = (policy.max() > 0).then(|| Sent {
                method: parts.method.clone(),
                uri: parts.uri.clone(),
                headers: parts.headers.clone(),
            });
            let gzip = add_default_headers(&mut parts.headers);
            let response = self
                .hop(Request::from_parts(parts, body), body_sent, started, deadline, gzip)
                .await?;
            let Some(sent) = sent else { return Ok(response) };
            let Some((method, uri, keep_body)) = next_hop(&response, &sent, &replay)? else {
                return Ok(response);
            };
            if followed == policy.max() {
                return Err(Error::new(
                    ErrorKind::Redirect,
                    format!("stopped after {followed} redirects (the service's redirect policy)"),
                )
                .with_target(&Origin(&sent.uri)));
            }
            followed += 1;
            drain(response).await;
            let mut headers = sent.headers;
            if !same_origin(&sent.uri, &uri) {
                for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, HOST] {
                    headers.remove(name);
                }
            }
            let mut next = Request::new(());
            *next.method_mut() = method;
            *next.uri_mut() = uri;
            (parts, ()) = next.into_parts();
            (body, body_sent) = match (&replay, keep_body) {
                (Replay::Bytes(bytes), true) if !bytes.is_empty() => {
                    let sent = Arc::new(AtomicBool::new(false));
                    let full = http_body_util::Full::new(bytes.clone());
                    (box_body(full, Some(sent.clone())), Some(sent))
                }
                _ => {
                    for name in [CONTENT_TYPE, CONTENT_LENGTH, CONTENT_ENCODING, TRANSFER_ENCODING] {
                        headers.remove(name);
                    }
                    (super::empty_body(), None)
                }
            };
            parts.headers = headers;
            started = Instant::now();
        }
    }
}

/// Reads what is left of a redirect's body (a few hundred bytes of HTML, usually), so its
/// connection goes back to the pool; a body larger than 4 KiB is dropped with its
/// connection instead.
async fn drain(response: Response<ResponseBody>) {
    let mut body = response.into_body();
    let mut read = 0usize;
    while read <= 4096 {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
            Some(Err(_)) | None => return,
        }
    }
}

/// The next hop of a redirect: its method, URI and whether the body goes along; `None`
/// when `response` is the answer (not a redirect, no `Location`, or a 307/308 whose body
/// cannot be sent again).
fn next_hop(
    response: &Response<ResponseBody>,
    sent: &Sent,
    replay: &Replay,
) -> Result<Option<(Method, Uri, bool)>, Error> {
    let status = response.status();
    let (method, keep_body) = match status {
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER => {
            // As Go: GET and HEAD stay, anything else becomes GET without a body.
            let method = if sent.method == Method::HEAD {
                Method::HEAD
            } else {
                Method::GET
            };
            (method, false)
        }
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => {
            if matches!(replay, Replay::Stream) {
                return Ok(None);
            }
            (sent.method.clone(), true)
        }
        _ => return Ok(None),
    };
    let Some(location) = response.headers().get(LOCATION) else {
        return Ok(None);
    };
    let uri = resolve_location(&sent.uri, location)?;
    if sent.uri.scheme() == Some(&http::uri::Scheme::HTTPS) && uri.scheme() != Some(&http::uri::Scheme::HTTPS) {
        return Err(Error::new(
            ErrorKind::Redirect,
            format!(
                "refused the redirect from https to {} (a hop to plain http would expose the request)",
                extsvc_config::shown(&uri.to_string())
            ),
        )
        .with_phase(Phase::ResponseHeaders)
        .with_target(&Origin(&sent.uri)));
    }
    Ok(Some((method, uri, keep_body)))
}

/// A URI as errors name a target: `scheme://host[:port]`, never its path or query (which
/// may carry a token).
struct Origin<'a>(&'a Uri);

impl std::fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.0.scheme_str().unwrap_or("http");
        let authority = self.0.authority().map_or("", |a| a.as_str());
        write!(f, "{scheme}://{}", extsvc_config::shown(authority))
    }
}

/// True when both URIs have the same scheme, host and port.
fn same_origin(a: &Uri, b: &Uri) -> bool {
    let port = |uri: &Uri| {
        uri.port_u16().or_else(|| {
            Some(if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
                443
            } else {
                80
            })
        })
    };
    a.scheme() == b.scheme()
        && a.host().map(str::to_ascii_lowercase) == b.host().map(str::to_ascii_lowercase)
        && port(a) == port(b)
}

/// `location` resolved against `base` (RFC 3986 section 5.2, without dot-segment
/// removal, which the target's server does): absolute, scheme-relative (`//host/p`),
/// absolute-path (`/p`) or relative (`p`); a fragment is dropped.
fn resolve_location(base: &Uri, location: &HeaderValue) -> Result<Uri, Error> {
    let invalid = |why: &str| {
        Error::new(
            ErrorKind::Redirect,
            format!(
                "the redirect's Location {} is not a URL: {why}",
                extsvc_config::escaped(&String::from_utf8_lossy(location.as_bytes()))
            ),
        )
        .with_phase(Phase::ResponseHeaders)
    };
    let text = location.to_str().map_err(|_| invalid("not ASCII"))?;
    let text = text.split('#').next().unwrap_or_default();
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map_or("", |a| a.as_str());
    let absolute = if text.starts_with("//") {
        format!("{scheme}:{text}")
    } else if text.starts_with('/') {
        format!("{scheme}://{authority}{text}")
    } else if has_scheme(text) {
        text.to_owned()
    } else {
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{scheme}://{authority}{dir}{text}")
    };
    let uri: Uri = absolute
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err(invalid("no scheme or host"));
    }
    Ok(uri)
}

/// True when `text` starts with a URI scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`).
fn has_scheme(text: &str) -> bool {
    let Some((scheme, _)) = text.split_once(':') else {
        return false;
    };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(base: &str, location: &str) -> String {
        resolve_location(&base.parse().unwrap(), &HeaderValue::from_str(location).unwrap())
            .unwrap()
            .to_string()
    }

    #[test]
    fn locations_resolve_against_the_request_uri() {
        let base = "https://idp.example.com:8443/a/b?x=1";
        assert_eq!(resolve(base, "https://other.example/j"), "https://other.example/j");
        assert_eq!(resolve(base, "//cdn.example/k"), "https://cdn.example/k");
        assert_eq!(
            resolve(base, "/jwks.json?v=2#frag"),
            "https://idp.example.com:8443/jwks.json?v=2"
        );
        assert_eq!(resolve(base, "c"), "https://idp.example.com:8443/a/c");
        assert_eq!(resolve("http://h", "c"), "http://h/c");
        assert!(resolve_location(&base.parse().unwrap(), &HeaderValue::from_static("http://")).is_err());
    }

    #[test]
    fn origins_compare_scheme_host_and_default_port() {
        let same = |a: &str, b: &str| same_origin(&a.parse().unwrap(), &b.parse().unwrap());
        assert!(same("https://H.example/a", "https://h.example:443/b"));
        assert!(!same("https://h.example/", "https://h.example:8443/"));
        assert!(!same("http://h.example/", "https://h.example/"));
        assert!(!same("https://a.example/", "https://b.example/"));
    }
}
