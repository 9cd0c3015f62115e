//! [`ServiceClient`]: one service's HTTP/1.1 client — route-aware connector, TLS,
//! pool under a connection cap, one deadline per request, a tracing span.
//!
//! Layout: this file holds the client, its construction and [`ServiceClient::request`]
//! (deadline, route, pool key, span, errors); `request_target` the [`Target`] read once
//! per request and the framing of the request for its hop; `request_body` the boxed
//! request body that reports when it was all written; `exchange` one exchange on a
//! pooled connection (check out or open, send, name the failure); `retry` when a request
//! may go once more on a stale keep-alive connection; `body` the response body.

mod body;

pub use body::ResponseBody;

mod exchange;
mod gzip;
mod redirect;
mod request_body;
mod request_builder;
mod request_target;
mod retry;

use exchange::HttpConnection;
use redirect::Replay;
pub(crate) use request_body::RequestBody;
use request_body::{box_body, empty_body};
pub use request_builder::RequestBuilder;
pub(crate) use request_target::Target;
use request_target::{host_header, prepare};
use retry::{closed_before_response, replayable};

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use extsvc_config::ProxyUrl;
use extsvc_resolve::{RedirectPolicy, ResolvedService};
use http::{Request, Response};
use http_body::Body;
use tokio::time::Instant;
use tracing::Instrument;

use crate::connect::{http1_tls_config, service_connector, ServiceConnector};
use crate::deadline::deadline_from;
use crate::error::{BoxError, Error, Phase};
use crate::instruments::{self, method_label};
use crate::phase;
use crate::pool::{Pool, PoolKey, PoolLabels, PoolStats, TlsGenerations};
use crate::route::RouteKey;
use crate::trace::ExchangeTrace;

/// A per-request override of the service's timeout, as a request extension.
///
/// ```
/// # use std::time::Duration;
/// let mut req = extsvc::http::Request::get("http://example.com/").body(String::new()).unwrap();
/// req.extensions_mut().insert(extsvc::client::RequestTimeout(Duration::from_secs(2)));
/// ```
///
/// A timeout longer than [`MAX_TIMEOUT`](crate::MAX_TIMEOUT) (a year; `Duration::MAX` included) is clamped to
/// it: in effect no deadline, and never an overflow of the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a newtype request extension, built by the caller as `RequestTimeout(d)`"
)]
pub struct RequestTimeout(pub Duration);

/// A request's deadline, and the timeout it came from (for error messages).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    timeout: Duration,
}

/// Counts of a client's connections. `idle` never exceeds `open`, and `opened - closed`
/// is the number of open connections that finished their setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClientStats {
    /// Connections opened since the client was built (TCP connected; those whose
    /// proxy TLS, `CONNECT` or TLS then failed count too).
    pub opened: u64,
    /// Connections open now (busy, idle, being set up or closing).
    pub open: usize,
    /// Idle connections now.
    pub idle: usize,
    /// Requests waiting for a connection now.
    pub waiting: usize,
    /// Requests that got a connection used before (idle or handed over).
    pub reused: u64,
    /// Connections of `opened` closed since (a failed setup is closed at once).
    pub closed: u64,
    /// The most connections open at once.
    pub peak_open: usize,
    /// The most requests waiting for a connection at once.
    pub peak_waiting: usize,
}

/// One service's HTTP/1.1 client; cheap to clone (all clones share the pool).
///
/// See [`ServiceClient::from_parts`] for the layers and their order.
#[derive(Clone)]
pub struct ServiceClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    service: Arc<ResolvedService>,
    connector: ServiceConnector,
    pool: Pool<HttpConnection>,
    opened: Arc<AtomicU64>,
}

impl fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClient")
            .field("service", &self.inner.service.kind)
            .field("http_proxy", &self.inner.service.proxy.http_proxy.value)
            .field("https_proxy", &self.inner.service.proxy.https_proxy.value)
            .field("pool", &self.inner.service.pool)
            .field("timeout", &self.inner.service.timeout)
            .finish()
    }
}

impl ServiceClient {
    /// Builds the client of one service from its resolution and its two TLS
    /// configurations: `target_tls` for targets (ALPN `http/1.1` is set on a copy, once
    /// per generation of the material) and `proxy_tls` for `https://` proxies. Each is a
    /// [`RotatingConfig`](extsvc_tls::RotatingConfig) (`ServiceTls::target`,
    /// `ServiceTls::proxy`), or a fixed `Arc<rustls::ClientConfig>`; every new connection
    /// takes its current generation.
    ///
    /// # Order of the layers
    ///
    /// Outermost first, as a request meets them:
    ///
    /// 0. **redirects and defaults** (`client/redirect.rs`): `User-Agent` and
    ///    `Accept-Encoding: gzip` unless set; each hop of a redirect goes through the
    ///    layers below again, under the deadline taken once; the response body decodes
    ///    gzip and stops at `max_response_body` (see [`ServiceClient::request`]);
    /// 1. **tracing**: one DEBUG span `extsvc.request` per request with `service`, `route`
    ///    (`direct` or the proxy URL, redacted) and `tls` (the negotiated version);
    /// 2. **deadline**: one deadline (the [`RequestTimeout`] extension, else the
    ///    service's `timeout`) over everything below *and* the response body; the
    ///    error names the [`Phase`] that ran out;
    /// 3. **pool** under the **connection cap** (`max_connections`): reuse an idle connection of
    ///    the same (scheme, host, port, route), or take a slot, or evict another host's
    ///    idle connection, or wait; with the service's pool controls
    ///    (`max_connections_per_host`, `max_pending` → [`ErrorKind::PoolFull`](crate::ErrorKind::PoolFull),
    ///    `max_connection_lifetime`) from its [`PoolSettings`](extsvc_resolve::PoolSettings).
    ///    The pool and this client record the metrics of [`crate::instruments`];
    /// 4. **HTTP/1.1** (hyper `client::conn::http1`): origin form, or absolute form
    ///    with `Proxy-Authorization` on a forwarding proxy hop;
    /// 5. [`TlsConnector`](crate::connect::TlsConnector): TLS to the target for `https://`;
    /// 6. [`ProxyConnector`](crate::connect::ProxyConnector): direct, or to the proxy (TLS to an `https://` proxy), then a
    ///    [`Tunnel`](crate::connect::Tunnel) (`CONNECT`) for `https://` targets;
    /// 7. [`TcpConnector`](crate::connect::TcpConnector): DNS and TCP.
    ///
    /// Layers 5–7 are public `tower::Service<Uri>` connectors; they compose into other
    /// clients, e.g. hyper-util's legacy client (which adds no connection cap, and
    /// sends no `Proxy-Authorization` by itself, so use it with a proxy without
    /// credentials or add the header for proxied `http://` requests yourself). The
    /// target and the proxy each get their own TLS configuration: `tls.target` may carry
    /// the service's client certificate, which must never be offered to a proxy, so the
    /// proxy leg takes `tls.proxy` ([`ProxyConnector::for_service`](crate::connect::ProxyConnector::for_service)):
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use extsvc::client::connect::{http1_tls_config, ProxyConnector, TcpConnector, TlsConnector};
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::{TokioExecutor, TokioIo};
    /// use extsvc::tower::ServiceBuilder;
    /// # fn build(service: extsvc::resolve::ResolvedService, tls: &extsvc::tls::ServiceTls) {
    /// let connector = ServiceBuilder::new()
    ///     .map_response(TokioIo::new) // tokio I/O -> hyper I/O
    ///     .service(TlsConnector::new(
    ///         http1_tls_config(&tls.target), // to the target: client certificate, ALPN
    ///         ProxyConnector::for_service(Arc::new(service), tls, TcpConnector::new()), // tls.proxy
    ///     ));
    /// let client: Client<_, http_body_util::Empty<bytes::Bytes>> =
    ///     Client::builder(TokioExecutor::new()).build(connector);
    /// # }
    /// ```
    pub fn from_parts(
        service: ResolvedService,
        target_tls: impl Into<extsvc_tls::RotatingConfig>,
        proxy_tls: impl Into<extsvc_tls::RotatingConfig>,
    ) -> ServiceClient {
        let service = Arc::new(service);
        let (target_tls, proxy_tls) = (target_tls.into(), proxy_tls.into());
        let generations = TlsGenerations::new(&target_tls, &proxy_tls);
        let connector = service_connector(service.clone(), http1_tls_config(&target_tls), proxy_tls);
        instruments::describe();
        let labels = PoolLabels::new(
            service.kind.as_str(),
            service.proxy.http_proxy.value.as_ref(),
            service.proxy.https_proxy.value.as_ref(),
        );
        let pool = Pool::with_labels(service.pool, labels, generations);
        tracing::info!(
            service = service.kind.as_str(),
            proxying = service.proxy.enabled,
            http_proxy = %OptionalProxy(service.proxy.http_proxy.value.as_ref()),
            https_proxy = %OptionalProxy(service.proxy.https_proxy.value.as_ref()),
            max_connections = service.pool.max_connections,
            max_idle_per_host = service.pool.max_idle_per_host,
            idle_timeout = ?service.pool.idle_timeout,
            max_connections_per_host = ?service.pool.max_connections_per_host,
            max_pending = ?service.pool.max_pending,
            max_connection_lifetime = ?service.pool.max_connection_lifetime,
            timeout = ?service.timeout,
            "service client built"
        );
        ServiceClient {
            inner: Arc::new(ClientInner {
                service,
                connector,
                pool,
                opened: Arc::new(AtomicU64::new(0)),
            }),
        }
    }

    /// The client's connector (shares its TLS material and rotation).
    pub(crate) fn connector(&self) -> ServiceConnector {
        self.inner.connector.clone()
    }

    /// How many redirects a request follows (the service's
    /// [`ResolvedService::redirect`]).
    pub fn redirect_policy(&self) -> RedirectPolicy {
        self.inner.service.redirect
    }

    /// The most bytes of a response body (after decompression) this client reads (the
    /// service's [`ResolvedService::max_response_body`]).
    pub fn max_response_body(&self) -> u64 {
        self.inner.service.max_response_body
    }

    /// Builds the client of one service from its resolution and the configurations
    /// `extsvc-tls` built for it; see [`ServiceClient::from_parts`].
    pub fn new(service: ResolvedService, tls: &extsvc_tls::ServiceTls) -> ServiceClient {
        ServiceClient::from_parts(service, tls.target.clone(), tls.proxy.clone())
    }

    /// The service this client serves.
    pub fn service(&self) -> &ResolvedService {
        &self.inner.service
    }

    /// Connection counts.
    pub fn stats(&self) -> ClientStats {
        let pool: PoolStats = self.inner.pool.stats();
        let opened = self.inner.opened.load(Ordering::Relaxed);
        // The pool counts connections that finished their setup; the others the client
        // opened failed in it and are closed.
        let failed_setups = opened.saturating_sub(pool.opened);
        ClientStats {
            opened,
            open: pool.open,
            idle: pool.idle,
            waiting: pool.waiting,
            reused: pool.reused,
            closed: pool.closed + failed_setups,
            peak_open: pool.peak_open,
            peak_waiting: pool.peak_waiting,
        }
    }

    /// Sends a request and waits for the response headers; the body is read from the
    /// returned response (still under the deadline). The body tells what the connection
    /// was ([`ResponseBody::connected`]: hop, negotiated TLS versions).
    ///
    /// # What Go's client does, done here too
    ///
    /// - Redirects are followed under the client's [`RedirectPolicy`] (10 by default),
    ///   all under the one deadline: 301/302/303 become a `GET` without a body (a `HEAD`
    ///   stays one), 307/308 keep the method and the body when it can be sent again (an
    ///   empty one, or the bytes of a [`RequestBuilder`]; a streaming body makes the
    ///   307/308 the answer). Each hop is routed anew (its own proxy or bypass decision);
    ///   `Authorization`, `Cookie` and `Proxy-Authorization` are dropped when the origin
    ///   changes; an `https` → `http` hop is an [`ErrorKind::Redirect`](crate::ErrorKind::Redirect)
    ///   error naming the URL.
    /// - `Accept-Encoding: gzip` is sent unless the request has an `Accept-Encoding`; a
    ///   gzip answer is then decoded (its `Content-Encoding` and `Content-Length` are
    ///   removed). A caller who set `Accept-Encoding` gets the body as sent.
    /// - The body stops past the service's `max_response_body` (32 MiB by default,
    ///   counted after decoding) with [`ErrorKind::BodyTooLarge`](crate::ErrorKind::BodyTooLarge).
    /// - `User-Agent: extsvc/<version>` is sent unless the request has one.
    ///
    /// A `407` from the proxy is an [`ErrorKind::ProxyAuth`](crate::ErrorKind::ProxyAuth) error on both hops: refusing
    /// `CONNECT` (phase `proxy_connect`) or answering a forwarded `http://` request (phase
    /// `response_headers`). Other statuses of a forwarding proxy are returned as responses.
    ///
    /// A URI with userinfo (`http://user:password@host/`) is refused with
    /// [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) before anything is sent, and the error does not
    /// repeat the credentials.
    ///
    /// # One retry, on a stale keep-alive connection
    ///
    /// A server may close an idle keep-alive connection just as it is reused. Then the
    /// request is sent once more, on another connection, when the first one had been
    /// used before and either
    /// - hyper hands the request back unsent (it had not started writing it): any
    ///   request; or
    /// - the connection ended before any response and the request is a `GET`, `HEAD`,
    ///   `OPTIONS` or `TRACE` without a body (idempotent, so sending it again is safe,
    ///   as RFC 9110 section 9.2.2 allows and as Go's and browsers' clients do).
    ///
    /// Never more than once, never for a new connection, and within the same deadline.
    /// This is not what SPEC section 4's "no automatic retries" is about: that is
    /// failed proxy connections, which are not retried.
    pub async fn request<B>(&self, req: Request<B>) -> Result<Response<ResponseBody>, Error>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let (started, deadline) = self.deadline(req.extensions());
        // When the request has a body, the connection task reports when it was all
        // written, so a timeout after that is "waiting for the response headers".
        let (parts, body) = req.into_parts();
        let (replay, body_sent) = if body.is_end_stream() {
            (Replay::Empty, None)
        } else {
            (Replay::Stream, Some(Arc::new(AtomicBool::new(false))))
        };
        let body = box_body(body, body_sent.clone());
        self.follow(parts, body, body_sent, replay, started, deadline).await
    }

    /// Sends a request whose body the client holds ([`RequestBuilder`]): a 307/308
    /// redirect sends it again.
    pub(crate) async fn request_bytes(
        &self,
        parts: http::request::Parts,
        bytes: Bytes,
    ) -> Result<Response<ResponseBody>, Error> {
        let (started, deadline) = self.deadline(&parts.extensions);
        let (body, body_sent) = if bytes.is_empty() {
            (empty_body(), None)
        } else {
            let sent = Arc::new(AtomicBool::new(false));
            let full = http_body_util::Full::new(bytes.clone());
            (box_body(full, Some(sent.clone())), Some(sent))
        };
        self.follow(parts, body, body_sent, Replay::Bytes(bytes), started, deadline)
            .await
    }

    /// Now, and the deadline of a request starting now: its [`RequestTimeout`] extension,
    /// else the service's timeout.
    fn deadline(&self, extensions: &http::Extensions) -> (Instant, Deadline) {
        let timeout = extensions
            .get::<RequestTimeout>()
            .map_or(self.inner.service.timeout, |t| t.0);
        let started = Instant::now();
        let at = deadline_from(started, timeout);
        (started, Deadline { at, timeout })
    }

    /// One hop of a request: route, pool key, span, exchange, errors and metrics; the
    /// response body inflated when `gzip` (the client asked for it) and the answer is gzip.
    async fn hop(
        &self,
        req: Request<RequestBody>,
        body_sent: Option<Arc<AtomicBool>>,
        started: Instant,
        deadline: Deadline,
        gzip: bool,
    ) -> Result<Response<ResponseBody>, Error> {
        let inner = &self.inner;
        let Deadline { timeout, .. } = deadline;
        let method = method_label(req.method());
        let target = Target::of(req.uri())?;
        let (scheme, port) = (target.target_scheme, target.port);
        // The route is decided here, once for this hop's target: the pool key holds it,
        // and a new connection is opened by it (`connect_routed`), not decided again.
        let (route, proxy) = RouteKey::decide(&inner.service, scheme, target.host(), port);
        let key = PoolKey::from_authority(scheme, &target.authority, target.host_range(), port, route);
        // DEBUG, not INFO: a gateway logs at INFO all day, and an INFO span per request
        // makes a fmt subscriber format its fields on every request (measured: about a
        // tenth of the client's instructions, docs/performance.md). Build-time decisions
        // are logged at INFO/WARN.
        let span = tracing::debug_span!(
            "extsvc.request",
            service = inner.service.kind.as_str(),
            route = %RouteName(proxy),
            tls = tracing::field::Empty,
        );
        // Boxed once: the exchange's state machine is several kilobytes, and the deadline,
        // phase and span wrappers would otherwise copy it as they move it (measured with
        // callgrind: boxing costs one allocation and saves more than it costs).
        // Traced (`probe -v`) only when the caller put an `ExchangeTrace` in the request:
        // a lookup in an empty extension map otherwise.
        let trace = req.extensions().get::<ExchangeTrace>().cloned();
        let exchange: Pin<Box<dyn Future<Output = _> + Send + '_>> =
            Box::pin(self.exchange(req, &target.authority, &key, proxy, &span, deadline));
        let exchange = match trace {
            None => exchange,
            Some(trace) => Box::pin(crate::trace::scope(trace, exchange)),
        };
        let exchange = phase::scope(Phase::PoolWait, exchange);
        match exchange.instrument(span.clone()).await {
            Ok((conn, response)) => {
                conn.instruments()
                    .record_request(method, Ok(response.status().as_u16()), started.elapsed());
                let proxied = proxy.map(|_| (inner.service.clone(), scheme));
                let mut response = response;
                let gzip = gzip && is_gzip(response.headers());
                if gzip {
                    // As Go: the caller sees the decoded body, without the headers of the encoded one.
                    response.headers_mut().remove(http::header::CONTENT_ENCODING);
                    response.headers_mut().remove(http::header::CONTENT_LENGTH);
                }
                let limit = inner.service.max_response_body;
                Ok(response.map(|incoming| ResponseBody::new(incoming, conn, timeout, target, proxied, gzip, limit)))
            }
            Err(mut err) => {
                // Proxy TLS, CONNECT, the SOCKS5 handshake and target TLS happen only while a
                // new connection is set up, after its TCP connect: it was opened, whether they
                // failed or the deadline ran out in them.
                if matches!(
                    err.phase(),
                    Some(Phase::ProxyTls | Phase::ProxyConnect | Phase::SocksHandshake | Phase::Tls)
                ) {
                    inner.opened.fetch_add(1, Ordering::Relaxed);
                }
                if err.phase() == Some(Phase::Request) && body_sent.is_some_and(|sent| sent.load(Ordering::Acquire)) {
                    err = err.with_phase(Phase::ResponseHeaders);
                }
                if !err.has_target() {
                    err = err.with_target(&target);
                }
                if let Some(proxy) = proxy {
                    err = err.with_proxy(proxy);
                }
                inner
                    .pool
                    .instruments(&key)
                    .record_request(method, Err(err.kind().as_str()), started.elapsed());
                span.in_scope(|| tracing::debug!(error = %err, "request failed"));
                Err(err)
            }
        }
    }
}

/// True when the response says `Content-Encoding: gzip`.
fn is_gzip(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"gzip"))
}

/// The route as logged: `direct` or the proxy URL (redacted by its `Display`).
struct RouteName<'a>(Option<&'a ProxyUrl>);

impl fmt::Display for RouteName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("direct"),
            Some(proxy) => write!(f, "proxy {proxy}"),
        }
    }
}

/// A proxy URL (redacted) or `none`.
struct OptionalProxy<'a>(Option<&'a ProxyUrl>);

impl fmt::Display for OptionalProxy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("none"),
            Some(proxy) => fmt::Display::fmt(proxy, f),
        }
    }
}

/// The future of [`ServiceClient`] as a `tower::Service`.
pub struct ResponseFuture {
    inner: Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Error>> + Send>>,
}

impl Future for ResponseFuture {
    type Output = Result<Response<ResponseBody>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<B> tower::Service<Request<B>> for ServiceClient
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Error;
    type Future = ResponseFuture;

    /// Always ready: the connection cap is applied per request, under its deadline.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        let client = self.clone();
        ResponseFuture {
            inner: Box::pin(async move { client.request(req).await }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
