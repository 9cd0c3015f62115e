//! The client's opaque error, its [`ErrorKind`] and the [`Phase`] of an exchange.

use std::fmt;
use std::time::Duration;

/// A boxed error, as tower and hyper pass them around.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The step of an exchange an error (or a timeout) happened in.
///
/// One deadline covers all of them; a timeout error says which one ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Waiting for a pooled connection or a free slot under the connection cap.
    PoolWait,
    /// Resolving the host name of the target (direct) or of the proxy.
    Dns,
    /// Opening the TCP connection to the target (direct) or to the proxy.
    Connect,
    /// The TLS handshake with an `https://` proxy.
    ProxyTls,
    /// The `CONNECT` request to the proxy and its answer.
    ProxyConnect,
    /// The SOCKS5 handshake with a `socks5://`/`socks5h://` proxy: greeting,
    /// authentication and the connect request's reply.
    SocksHandshake,
    /// The TLS handshake with the target.
    Tls,
    /// Writing the request.
    Request,
    /// Waiting for the response headers.
    ResponseHeaders,
    /// Reading the response body.
    ResponseBody,
}

impl Phase {
    /// Every phase, in the order an exchange goes through them.
    pub const ALL: [Phase; 10] = [
        Phase::PoolWait,
        Phase::Dns,
        Phase::Connect,
        Phase::ProxyTls,
        Phase::ProxyConnect,
        Phase::SocksHandshake,
        Phase::Tls,
        Phase::Request,
        Phase::ResponseHeaders,
        Phase::ResponseBody,
    ];

    /// A short machine-friendly name: `pool_wait`, `dns`, `connect`, `proxy_tls`,
    /// `proxy_connect`, `socks_handshake`, `tls`, `request`, `response_headers`,
    /// `response_body`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::PoolWait => "pool_wait",
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::ProxyTls => "proxy_tls",
            Phase::ProxyConnect => "proxy_connect",
            Phase::SocksHandshake => "socks_handshake",
            Phase::Tls => "tls",
            Phase::Request => "request",
            Phase::ResponseHeaders => "response_headers",
            Phase::ResponseBody => "response_body",
        }
    }

    const fn describe(self) -> &'static str {
        match self {
            Phase::PoolWait => "waiting for a free connection",
            Phase::Dns => "resolving the host name",
            Phase::Connect => "opening the TCP connection",
            Phase::ProxyTls => "the TLS handshake with the proxy",
            Phase::ProxyConnect => "the CONNECT exchange with the proxy",
            Phase::SocksHandshake => "the SOCKS5 handshake with the proxy",
            Phase::Tls => "the TLS handshake with the target",
            Phase::Request => "sending the request",
            Phase::ResponseHeaders => "waiting for the response headers",
            Phase::ResponseBody => "reading the response body",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// What went wrong, coarsely: for counting errors by kind (`extsvc probe`) and for
/// deciding what to do. [`Error`]'s `Display` has the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The deadline ran out; [`Error::phase`] says where.
    Timeout,
    /// The proxy could not be reached (DNS, refused, reset).
    ProxyConnect,
    /// The TLS handshake with an `https://` proxy failed.
    ProxyTls,
    /// The proxy answered `407 Proxy Authentication Required`, to `CONNECT` or to a
    /// forwarded `http://` request alike; or a SOCKS5 proxy refused the credentials (or
    /// wants some and the URL has none).
    ProxyAuth,
    /// The proxy answered `CONNECT` with a status other than 2xx or 407, or a SOCKS5
    /// proxy's reply to the connect request is a failure code (the message names it).
    ProxyStatus,
    /// The proxy answered something that is not HTTP (or not SOCKS5, for a SOCKS
    /// proxy), or headers that are too large.
    ProxyProtocol,
    /// The target could not be reached (DNS, refused, reset).
    Connect,
    /// The TLS handshake with the target failed (e.g. certificate verification).
    Tls,
    /// The exchange with the target failed after the connection was set up.
    Http,
    /// The request cannot be sent as given (e.g. no host in the URI).
    InvalidRequest,
    /// The service's pool had `max_pending` requests waiting for a connection already:
    /// refused at once, in [`Phase::PoolWait`], without waiting for the deadline.
    PoolFull,
    /// A Redis server refused a connection's setup (`AUTH`, `SELECT`) or broke the
    /// exchange after the connection was set up (cargo feature `redis`).
    Redis,
    /// The response body is larger than the service's `max_response_body` (counted after
    /// gzip decompression); the rest was not read.
    BodyTooLarge,
    /// The response body is not what it was read as: not UTF-8 (`text`), not the JSON
    /// expected (`json`), or a corrupt gzip stream.
    Decode,
    /// A redirect was not followed: more than the service's `RedirectPolicy` allows, an
    /// `https://` → `http://` hop, or a `Location` that is not a URL.
    Redirect,
}

impl ErrorKind {
    /// A short machine-friendly name, e.g. `timeout`, `proxy_auth`, `tls`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::ProxyConnect => "proxy_connect",
            ErrorKind::ProxyTls => "proxy_tls",
            ErrorKind::ProxyAuth => "proxy_auth",
            ErrorKind::ProxyStatus => "proxy_status",
            ErrorKind::ProxyProtocol => "proxy_protocol",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Http => "http",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::PoolFull => "pool_full",
            ErrorKind::Redis => "redis",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::Decode => "decode",
            ErrorKind::Redirect => "redirect",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of the extsvc client: opaque, with predicates in the style of reqwest.
///
/// `Display` says what failed, in which phase, the target and the proxy (always
/// redacted: `user:***@`), and the cause, all in one line.
///
/// # One message, once
///
/// Every error type of extsvc follows one rule: its `Display` is the whole message,
/// causes included, and [`source`](std::error::Error::source) returns `None`. So a chain
/// printer (`anyhow`'s `{:#}`, `tracing`'s error fields, a loop over `source()`) prints
/// each message once. What a caller decides on is in [`kind`](Error::kind),
/// [`phase`](Error::phase) and the predicates, not in the cause's type.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    phase: Option<Phase>,
    message: String,
    proxy: Option<String>,
    target: Option<String>,
    timeout: Option<Duration>,
    source: Option<BoxError>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                phase: None,
                message: message.into(),
                proxy: None,
                target: None,
                timeout: None,
                source: None,
            }),
        }
    }

    pub(crate) fn timeout(phase: Phase, after: Duration) -> Error {
        let mut e = Error::new(ErrorKind::Timeout, "timed out");
        e.inner.phase = Some(phase);
        e.inner.timeout = Some(after);
        e
    }

    /// Turns an inner service's error into ours: kept as it is when it already is an
    /// [`Error`], otherwise wrapped as `kind` with `message`.
    pub(crate) fn from_inner(err: BoxError, kind: ErrorKind, message: &str) -> Error {
        match err.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => Error::new(kind, message).with_source(other),
        }
    }

    /// An error of the connector that connects to the proxy: "cannot connect" is about
    /// the proxy, not the target.
    pub(crate) fn on_proxy_hop(mut self) -> Error {
        if self.inner.kind == ErrorKind::Connect {
            self.inner.kind = ErrorKind::ProxyConnect;
        }
        self
    }

    pub(crate) fn with_phase(mut self, phase: Phase) -> Error {
        self.inner.phase = Some(phase);
        self
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Error {
        self.inner.source = Some(source.into());
        self
    }

    /// Names the proxy; pass the `ProxyUrl` (its `Display` is redacted).
    pub(crate) fn with_proxy(mut self, proxy: &impl fmt::Display) -> Error {
        if self.inner.proxy.is_none() {
            self.inner.proxy = Some(proxy.to_string());
        }
        self
    }

    pub(crate) fn with_target(mut self, target: &impl fmt::Display) -> Error {
        if self.inner.target.is_none() {
            self.inner.target = Some(target.to_string());
        }
        self
    }

    pub(crate) fn has_target(&self) -> bool {
        self.inner.target.is_some()
    }

    /// The coarse kind, for counting.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The phase the error happened in, when known.
    pub fn phase(&self) -> Option<Phase> {
        self.inner.phase
    }

    /// True when the deadline ran out.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }

    /// True when the proxy hop failed: unreachable, TLS to it, 407, bad status or not
    /// HTTP, or a timeout while talking to it.
    pub fn is_proxy(&self) -> bool {
        match self.inner.kind {
            ErrorKind::ProxyConnect
            | ErrorKind::ProxyTls
            | ErrorKind::ProxyAuth
            | ErrorKind::ProxyStatus
            | ErrorKind::ProxyProtocol => true,
            ErrorKind::Timeout => match self.inner.phase {
                Some(Phase::ProxyTls | Phase::ProxyConnect | Phase::SocksHandshake) => true,
                Some(Phase::Dns | Phase::Connect) => self.inner.proxy.is_some(),
                _ => false,
            },
            _ => false,
        }
    }

    /// True when the service's pool had `max_pending` requests waiting already and
    /// refused this one at once ([`ErrorKind::PoolFull`]): shed load, or retry later.
    pub fn is_pool_full(&self) -> bool {
        self.inner.kind == ErrorKind::PoolFull
    }

    /// True when a TLS handshake (with the target or the proxy) failed.
    pub fn is_tls(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Tls | ErrorKind::ProxyTls)
    }

    /// True when a TCP connection (to the target or the proxy) was up before this
    /// failure: it came while setting the connection up further (TLS to the proxy,
    /// `CONNECT` or the SOCKS5 handshake, TLS to the target) or during the exchange. `extsvc probe` counts such
    /// connections as opened.
    pub fn connected_before_failing(&self) -> bool {
        matches!(
            self.inner.phase,
            Some(
                Phase::ProxyTls
                    | Phase::ProxyConnect
                    | Phase::SocksHandshake
                    | Phase::Tls
                    | Phase::Request
                    | Phase::ResponseHeaders
                    | Phase::ResponseBody
            )
        )
    }

    /// True when the connection (to the target or the proxy) could not be set up,
    /// including timeouts before the request was sent. Also for the two refusals that
    /// come after the request was written but before the target could act on it: a
    /// forwarding proxy's `407` and a TLS 1.3 server rejecting the client certificate.
    /// Either way the target's HTTP layer never saw the request.
    pub fn is_connect(&self) -> bool {
        match self.inner.kind {
            ErrorKind::Connect
            | ErrorKind::ProxyConnect
            | ErrorKind::ProxyTls
            | ErrorKind::ProxyAuth
            | ErrorKind::ProxyStatus
            | ErrorKind::ProxyProtocol
            | ErrorKind::Tls => true,
            ErrorKind::Timeout => matches!(
                self.inner.phase,
                Some(
                    Phase::Dns
                        | Phase::Connect
                        | Phase::ProxyTls
                        | Phase::ProxyConnect
                        | Phase::SocksHandshake
                        | Phase::Tls
                )
            ),
            _ => false,
        }
    }

    /// The proxy of the failed exchange, redacted (`http://user:***@host:port`).
    pub fn proxy(&self) -> Option<&str> {
        self.inner.proxy.as_deref()
    }

    /// The target of the failed exchange (`scheme://host:port`).
    pub fn target(&self) -> Option<&str> {
        self.inner.target.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.write_str(&inner.message)?;
        if let Some(after) = inner.timeout {
            write!(f, " after {after:?}")?;
        }
        if let Some(phase) = inner.phase {
            write!(f, " during {phase}")?;
        }
        match (&inner.target, &inner.proxy) {
            (Some(t), Some(p)) => write!(f, " (target {t} via proxy {p})")?,
            (Some(t), None) => write!(f, " (target {t})")?,
            (None, Some(p)) => write!(f, " (proxy {p})")?,
            (None, None) => {}
        }
        if let Some(source) = &inner.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let mut d = f.debug_struct("extsvc_client::Error");
        d.field("kind", &inner.kind);
        if let Some(phase) = inner.phase {
            d.field("phase", &phase);
        }
        d.field("message", &inner.message);
        if let Some(t) = &inner.target {
            d.field("target", t);
        }
        if let Some(p) = &inner.proxy {
            d.field("proxy", p);
        }
        if let Some(s) = &inner.source {
            d.field("source", s);
        }
        d.finish()
    }
}

/// No `source()`: the cause is part of the message (see "One message, once" above).
impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_phase_target_proxy_and_cause() {
        let e = Error::timeout(Phase::ProxyConnect, Duration::from_millis(300))
            .with_target(&"https://example.com:443")
            .with_proxy(&"http://alice:***@proxy:3128");
        assert!(e.is_timeout() && e.is_proxy() && e.is_connect() && !e.is_tls());
        assert_eq!(
            e.to_string(),
            "timed out after 300ms during the CONNECT exchange with the proxy \
             (target https://example.com:443 via proxy http://alice:***@proxy:3128)"
        );
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::new(ErrorKind::Connect, "cannot connect")
            .with_phase(Phase::Connect)
            .with_source(io);
        assert!(!e.is_proxy() && e.is_connect());
        assert!(e.to_string().ends_with(": refused"), "{e}");
        // The cause is in the message, once: no `source()` repeats it.
        assert!(std::error::Error::source(&e).is_none());
    }

    #[test]
    fn timeouts_on_the_proxy_hop_count_as_proxy_errors() {
        let direct = Error::timeout(Phase::Connect, Duration::from_secs(1));
        assert!(!direct.is_proxy());
        let via = Error::timeout(Phase::Connect, Duration::from_secs(1)).with_proxy(&"http://p:1");
        assert!(via.is_proxy());
        assert!(!Error::timeout(Phase::ResponseBody, Duration::from_secs(1)).is_connect());
    }
}
