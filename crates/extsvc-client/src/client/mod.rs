//! [`ServiceClient`]: one service's HTTP/1.1 client — route-aware connector, TLS,
//! pool under a connection cap, one deadline per request, a tracing span.

mod body;

pub use body::ResponseBody;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use extsvc_config::ProxyUrl;
use extsvc_resolve::{ResolvedService, Route};
use http::header::{HOST, PROXY_AUTHORIZATION};
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;
use tracing::Instrument;

use crate::error::{BoxError, Error, ErrorKind, Phase};
use crate::io::{Connected, ConnectionInfo, Hop, MaybeTlsStream, ProxyStream};
use crate::phase;
use crate::pool::{Checkout, Pool, PoolKey, PoolStats, Poolable, RouteKey};
use crate::proxy::{target_scheme, ProxyConnector};
use crate::tcp::{port_of, TcpConnector};
use crate::tls::{http1_tls_config, TlsConnector};

/// The request body type the connections carry (any body is boxed into it).
pub type RequestBody = UnsyncBoxBody<Bytes, BoxError>;

/// The connector stack of a [`ServiceClient`]: TLS to the target over the route-aware
/// proxy connector over TCP.
pub type ServiceConnector = TlsConnector<ProxyConnector<TcpConnector>>;

/// The stream a [`ServiceConnector`] yields.
pub type ServiceStream = MaybeTlsStream<ProxyStream<tokio::net::TcpStream>>;

/// A per-request override of the service's timeout, as a request extension.
///
/// ```
/// # use std::time::Duration;
/// let mut req = http::Request::get("http://example.com/").body(String::new()).unwrap();
/// req.extensions_mut().insert(extsvc_client::RequestTimeout(Duration::from_secs(2)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Duration);

/// A pooled HTTP/1.1 connection: the request sender and what the connector knew.
pub struct HttpConnection {
    sender: http1::SendRequest<RequestBody>,
    info: Connected,
}

impl Poolable for HttpConnection {
    fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }
}

impl fmt::Debug for HttpConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnection")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Counts of a client's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// Connections opened since the client was built.
    pub opened: u64,
    /// Connections open now (busy, idle or being set up).
    pub open: usize,
    /// Idle connections now.
    pub idle: usize,
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
    /// Builds the client of one service from its resolution and its two rustls
    /// configurations: `target_tls` for targets (ALPN `http/1.1` is set on a copy, once,
    /// here) and `proxy_tls` for `https://` proxies.
    ///
    /// # Order of the layers
    ///
    /// Outermost first, as a request meets them:
    ///
    /// 1. **tracing**: one DEBUG span `extsvc.request` per request with `service`, `route`
    ///    (`direct` or the proxy URL, redacted) and `tls` (the negotiated version);
    /// 2. **deadline**: one deadline (the [`RequestTimeout`] extension, else the
    ///    service's `timeout`) over everything below *and* the response body; the
    ///    error names the [`Phase`] that ran out;
    /// 3. **pool** under the **connection cap** ([`Pool`]): reuse an idle connection of
    ///    the same (scheme, host, port, route), or take a slot, or evict another host's
    ///    idle connection, or wait;
    /// 4. **HTTP/1.1** (hyper `client::conn::http1`): origin form, or absolute form
    ///    with `Proxy-Authorization` on a forwarding proxy hop;
    /// 5. [`TlsConnector`]: TLS to the target for `https://`;
    /// 6. [`ProxyConnector`]: direct, or to the proxy (TLS to an `https://` proxy), then a
    ///    [`Tunnel`](crate::Tunnel) (`CONNECT`) for `https://` targets;
    /// 7. [`TcpConnector`]: DNS and TCP.
    ///
    /// Layers 5–7 are public `tower::Service<Uri>` connectors; they compose into other
    /// clients, e.g. hyper-util's legacy client (which adds no connection cap, and
    /// sends no `Proxy-Authorization` by itself, so use it with a proxy without
    /// credentials or add the header for proxied `http://` requests yourself):
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// use extsvc_client::{ProxyConnector, TcpConnector, TlsConnector, http1_tls_config};
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::{TokioExecutor, TokioIo};
    /// use tower::ServiceBuilder;
    /// # fn build(service: extsvc_resolve::ResolvedService, tls: Arc<rustls::ClientConfig>) {
    /// let connector = ServiceBuilder::new()
    ///     .map_response(TokioIo::new) // tokio I/O -> hyper I/O
    ///     .service(TlsConnector::new(
    ///         http1_tls_config(&tls),
    ///         ProxyConnector::new(Arc::new(service), Some(tls), TcpConnector::new()),
    ///     ));
    /// let client: Client<_, http_body_util::Empty<bytes::Bytes>> =
    ///     Client::builder(TokioExecutor::new()).build(connector);
    /// # }
    /// ```
    pub fn from_parts(
        service: ResolvedService,
        target_tls: &rustls::ClientConfig,
        proxy_tls: Arc<rustls::ClientConfig>,
    ) -> ServiceClient {
        let service = Arc::new(service);
        let connector = TlsConnector::new(
            http1_tls_config(target_tls),
            ProxyConnector::new(service.clone(), Some(proxy_tls), TcpConnector::new()),
        );
        let pool = Pool::new(service.pool);
        tracing::info!(
            service = service.kind.as_str(),
            proxying = service.proxy.enabled,
            http_proxy = %OptionalProxy(service.proxy.http_proxy.value.as_ref()),
            https_proxy = %OptionalProxy(service.proxy.https_proxy.value.as_ref()),
            max_connections = service.pool.max_connections,
            max_idle_per_host = service.pool.max_idle_per_host,
            idle_timeout = ?service.pool.idle_timeout,
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

    /// Builds the client of one service from its resolution and the configurations
    /// `extsvc-tls` built for it; see [`ServiceClient::from_parts`].
    pub fn new(service: ResolvedService, tls: &extsvc_tls::ServiceTls) -> ServiceClient {
        ServiceClient::from_parts(service, &tls.target, tls.proxy.clone())
    }

    /// The service this client serves.
    pub fn service(&self) -> &ResolvedService {
        &self.inner.service
    }

    /// Connection counts.
    pub fn stats(&self) -> ClientStats {
        let PoolStats { open, idle, .. } = self.inner.pool.stats();
        ClientStats {
            opened: self.inner.opened.load(Ordering::Relaxed),
            open,
            idle,
        }
    }

    /// Sends a request and waits for the response headers; the body is read from the
    /// returned response (still under the deadline). The response's extensions hold the
    /// [`Connected`] information of the connection (hop, negotiated TLS version).
    pub async fn request<B>(&self, req: Request<B>) -> Result<Response<ResponseBody>, Error>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let inner = &self.inner;
        let timeout = req
            .extensions()
            .get::<RequestTimeout>()
            .map_or(inner.service.timeout, |t| t.0);
        let deadline = Instant::now() + timeout;
        let target = TargetName::of(req.uri())?;
        let scheme = target_scheme(req.uri());
        let (Some(host), Some(port)) = (req.uri().host(), port_of(req.uri())) else {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("no host in URI \"{}\"", req.uri()),
            ));
        };
        let decision = inner.service.route(scheme, host, port);
        let (route_key, proxy) = match decision.route {
            Route::Direct => (RouteKey::Direct, None),
            Route::Proxy(proxy) => (RouteKey::Proxy(scheme), Some(proxy)),
        };
        let key = PoolKey::new(scheme, host, port, route_key);
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
        // When the request has a body, the connection task reports when it was all
        // written, so a timeout after that is "waiting for the response headers".
        let body_sent = (!req.body().is_end_stream()).then(|| Arc::new(AtomicBool::new(false)));
        let req = req.map(|body| box_body(body, body_sent.clone()));
        let exchange = phase::tracked(Phase::PoolWait, deadline, timeout, async {
            let (conn, response) = self.exchange(req, &key, proxy, &span).await?;
            Ok((conn, response))
        });
        match exchange.instrument(span.clone()).await {
            Ok((conn, response)) => {
                Ok(response.map(|incoming| ResponseBody::new(incoming, conn, deadline, timeout, target)))
            }
            Err(mut err) => {
                if err.phase() == Some(Phase::Request) && body_sent.is_some_and(|sent| sent.load(Ordering::Acquire)) {
                    err = err.with_phase(Phase::ResponseHeaders);
                }
                if !err.has_target() {
                    err = err.with_target(&target);
                }
                if let Some(proxy) = proxy {
                    err = err.with_proxy(proxy);
                }
                span.in_scope(|| tracing::debug!(error = %err, "request failed"));
                Err(err)
            }
        }
    }

    async fn exchange(
        &self,
        mut req: Request<RequestBody>,
        key: &PoolKey,
        proxy: Option<&ProxyUrl>,
        span: &tracing::Span,
    ) -> Result<(crate::pool::Pooled<HttpConnection>, Response<hyper::body::Incoming>), Error> {
        let inner = &self.inner;
        let mut conn = loop {
            phase::enter(Phase::PoolWait);
            match inner.pool.checkout(key).await {
                Checkout::Reused(mut conn) => {
                    // A reused sender may still be finishing the previous exchange.
                    if conn.sender.ready().await.is_ok() {
                        break conn;
                    }
                    // Closed meanwhile: dropped (not reusable), try again.
                }
                Checkout::Connect(slot) => {
                    let stream = tower::ServiceExt::oneshot(inner.connector.clone(), req.uri().clone()).await?;
                    let info = stream.connected();
                    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| {
                        Error::new(ErrorKind::Http, "HTTP/1.1 handshake failed")
                            .with_phase(Phase::Request)
                            .with_source(e)
                    })?;
                    let opened = inner.opened.clone();
                    opened.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(async move {
                        // The slot is released when the connection is closed.
                        let _slot = slot;
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %e, "connection closed with an error");
                        }
                    });
                    break inner.pool.pooled(key.clone(), HttpConnection { sender, info });
                }
            }
        };
        if let Some(version) = conn.info.tls_version {
            span.record("tls", tls_version_name(version));
        }
        prepare(&mut req, conn.info.hop, proxy)?;
        phase::enter(if req.body().is_end_stream() {
            Phase::ResponseHeaders
        } else {
            Phase::Request
        });
        let response = conn.sender.send_request(req).await.map_err(|e| {
            let message = if e.is_canceled() {
                "the connection closed before the response"
            } else if e.is_parse() {
                "the response is not valid HTTP/1.1"
            } else {
                "the exchange with the target failed"
            };
            Error::new(ErrorKind::Http, message)
                .with_phase(Phase::ResponseHeaders)
                .with_source(e)
        })?;
        tracing::debug!(
            status = response.status().as_u16(),
            reused = conn.is_reused(),
            "response headers"
        );
        let mut response = response;
        // What the connection was: `extsvc probe` prints the TLS version from it.
        response.extensions_mut().insert(conn.info);
        Ok((conn, response))
    }
}

/// Frames the request for its hop: absolute form and `Proxy-Authorization` for a
/// forwarding proxy; origin form and no `Proxy-Authorization` otherwise (it is never
/// sent to a target). Adds `Host` when missing.
fn prepare(req: &mut Request<RequestBody>, hop: Hop, proxy: Option<&ProxyUrl>) -> Result<(), Error> {
    if !req.headers().contains_key(HOST) {
        let authority = req.uri().authority().map(Authority::as_str).unwrap_or_default();
        let value = HeaderValue::from_str(authority)
            .map_err(|e| Error::new(ErrorKind::InvalidRequest, "invalid host").with_source(e))?;
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
            let origin = match req.uri().path_and_query() {
                Some(pq) => Uri::from(pq.clone()),
                None => Uri::from_static("/"),
            };
            *req.uri_mut() = origin;
        }
    }
    Ok(())
}

fn box_body<B>(body: B, sent: Option<Arc<AtomicBool>>) -> RequestBody
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let body = body.map_frame(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining())));
    match sent {
        None => body.map_err(Into::into).boxed_unsync(),
        Some(sent) => SignalEnd { inner: body, sent }.map_err(Into::into).boxed_unsync(),
    }
}

pin_project_lite::pin_project! {
    /// A request body that sets `sent` once hyper has asked for more after its last
    /// frame. It never claims to be at its end before that: hyper then polls it again
    /// only when its write buffer has room, so `sent` means "written but the last
    /// buffer", not merely "handed over".
    struct SignalEnd<B> {
        #[pin]
        inner: B,
        sent: Arc<AtomicBool>,
    }
}

impl<B: Body> Body for SignalEnd<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.sent.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.sent.load(Ordering::Acquire)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// `TLSv1_2` → `"1.2"`.
pub(crate) fn tls_version_name(version: rustls::ProtocolVersion) -> &'static str {
    match version {
        rustls::ProtocolVersion::TLSv1_2 => "1.2",
        rustls::ProtocolVersion::TLSv1_3 => "1.3",
        _ => "other",
    }
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

/// `scheme://authority` of a target, for errors (cheap clones of the URI's parts).
#[derive(Clone)]
pub(crate) struct TargetName {
    scheme: Scheme,
    authority: Authority,
}

impl TargetName {
    fn of(uri: &Uri) -> Result<TargetName, Error> {
        match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(authority)) if scheme == &Scheme::HTTP || scheme == &Scheme::HTTPS => Ok(TargetName {
                scheme: scheme.clone(),
                authority: authority.clone(),
            }),
            _ => Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("the URI \"{uri}\" is not an absolute http:// or https:// URI"),
            )),
        }
    }
}

impl fmt::Display for TargetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
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
mod tests {
    use super::*;
    use extsvc_config::{EnvSnapshot, ExternalServicesConfig, ServiceKind};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn plain_tls() -> Arc<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        Arc::new(config)
    }

    fn direct_client(kind: ServiceKind) -> ServiceClient {
        let resolution = extsvc_resolve::resolve(&ExternalServicesConfig::default(), &EnvSnapshot::empty());
        let tls = plain_tls();
        ServiceClient::from_parts(resolution.service(kind).clone(), &tls, tls.clone())
    }

    fn boxed(body: &'static str) -> RequestBody {
        box_body(http_body_util::Full::new(Bytes::from_static(body.as_bytes())), None)
    }

    #[test]
    fn forward_hops_keep_absolute_form_and_get_proxy_credentials() {
        let proxy = ProxyUrl::parse("http://gw:secret@proxy:3128").unwrap();
        let mut req = Request::get("http://target:8080/a?b=1").body(boxed("")).unwrap();
        prepare(&mut req, Hop::Forward, Some(&proxy)).unwrap();
        assert_eq!(req.uri(), "http://target:8080/a?b=1");
        assert_eq!(req.headers()[HOST], "target:8080");
        assert_eq!(req.headers()[PROXY_AUTHORIZATION], proxy.proxy_authorization().unwrap());
        assert!(req.headers()[PROXY_AUTHORIZATION].is_sensitive());
    }

    #[test]
    fn direct_and_tunnel_hops_use_origin_form_and_never_proxy_credentials() {
        let proxy = ProxyUrl::parse("http://gw:secret@proxy:3128").unwrap();
        for hop in [Hop::Direct, Hop::Tunnel] {
            let mut req = Request::get("https://target/x")
                .header(PROXY_AUTHORIZATION, "Basic Zm9vOmJhcg==")
                .header(HOST, "virtual.example")
                .body(boxed(""))
                .unwrap();
            prepare(&mut req, hop, Some(&proxy)).unwrap();
            assert_eq!(req.uri(), "/x");
            assert!(!req.headers().contains_key(PROXY_AUTHORIZATION), "{hop:?}");
            assert_eq!(req.headers()[HOST], "virtual.example", "a Host set by the caller stays");
        }
        let mut req = Request::get("http://target").body(boxed("")).unwrap();
        prepare(&mut req, Hop::Direct, None).unwrap();
        assert_eq!(req.uri(), "/");
    }

    #[test]
    fn the_debug_output_names_the_proxy_redacted() {
        let env = EnvSnapshot::empty();
        let json = r#"{"external_services":{"global":{"enabled":true,"https_proxy":"http://gw:hunter2@proxy:3128"}}}"#;
        let loaded = extsvc_config::load_str(json, "tyk.conf", &env, &Default::default()).unwrap();
        let resolution = extsvc_resolve::resolve(&loaded.config, &env);
        let tls = plain_tls();
        let client = ServiceClient::from_parts(resolution.service(ServiceKind::Oauth).clone(), &tls, tls.clone());
        let debug = format!("{client:?}");
        assert!(debug.contains("http://gw:***@proxy:3128"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[tokio::test]
    async fn relative_uris_are_refused() {
        let client = direct_client(ServiceKind::Health);
        let err = client
            .request(Request::get("/relative").body(String::new()).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }

    /// A server that reads `read_limit` bytes of each connection and then never answers.
    async fn silent_server(read_limit: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut read = 0;
                    let mut buf = vec![0u8; 8192];
                    while read < read_limit {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    let _ = socket.write_all(b"").await;
                });
            }
        });
        url
    }

    async fn post(client: &ServiceClient, url: &str, body: Vec<u8>) -> Error {
        let mut req = Request::post(url)
            .body(http_body_util::Full::new(Bytes::from(body)))
            .unwrap();
        req.extensions_mut().insert(RequestTimeout(Duration::from_millis(300)));
        tokio::time::timeout(Duration::from_secs(5), client.request(req))
            .await
            .unwrap()
            .unwrap_err()
    }

    #[tokio::test]
    async fn a_body_the_server_does_not_read_times_out_in_the_request_phase() {
        let client = direct_client(ServiceKind::Webhooks);
        // Far more than the socket buffers hold, and the server reads only 1 byte.
        let url = silent_server(1).await;
        let err = post(&client, &url, vec![b'x'; 16 * 1024 * 1024]).await;
        assert!(err.is_timeout());
        assert_eq!(err.phase(), Some(Phase::Request), "{err}");
    }

    #[tokio::test]
    async fn a_server_that_read_everything_and_stays_silent_times_out_waiting_for_headers() {
        let client = direct_client(ServiceKind::Webhooks);
        let body = vec![b'y'; 1000];
        let url = silent_server(1000).await;
        let err = post(&client, &url, body).await;
        assert!(err.is_timeout());
        assert_eq!(err.phase(), Some(Phase::ResponseHeaders), "{err}");
        assert!(err.to_string().contains("300ms"), "{err}");
    }

    #[tokio::test]
    async fn the_client_is_a_tower_service() {
        use tower::ServiceExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            assert!(seen.starts_with(b"GET /x HTTP/1.1\r\n"));
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
        });
        let client = direct_client(ServiceKind::Discovery);
        let response = client
            .clone()
            .oneshot(Request::get(url).body(http_body_util::Empty::<Bytes>::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello");
        // Read to its end: the connection is back in the pool.
        assert_eq!(
            client.stats(),
            ClientStats {
                opened: 1,
                open: 1,
                idle: 1
            }
        );
    }

    /// Collects what a `fmt` subscriber writes.
    #[derive(Clone, Default)]
    struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for LogBuffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_request_span_names_service_and_route_but_no_secret() {
        // A forwarding proxy that answers every absolute-form request itself.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(String::new()));
        let seen_by_proxy = seen.clone();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                head.extend_from_slice(&buf[..n]);
            }
            *seen_by_proxy.lock().unwrap() = String::from_utf8_lossy(&head).into_owned();
            socket.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
        });
        let env = EnvSnapshot::empty();
        let json = format!(
            r#"{{"external_services":{{"health":{{"proxy":{{"enabled":true,"http_proxy":"http://gw:hunter2@{proxy_addr}"}}}}}}}}"#
        );
        let loaded = extsvc_config::load_str(&json, "tyk.conf", &env, &Default::default()).unwrap();
        let service = extsvc_resolve::resolve(&loaded.config, &env)
            .service(ServiceKind::Health)
            .clone();

        let logs = LogBuffer::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let tls = plain_tls();
        let client = ServiceClient::from_parts(service, &tls, tls.clone());
        let response = client
            .request(
                Request::get("http://target.invalid:8080/health")
                    .body(String::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        assert_eq!(
            response.extensions().get::<Connected>().map(|c| c.hop),
            Some(Hop::Forward)
        );
        let proxy_saw = seen.lock().unwrap().clone();
        assert!(
            proxy_saw.starts_with("GET http://target.invalid:8080/health HTTP/1.1\r\n"),
            "{proxy_saw}"
        );
        // base64("gw:hunter2")
        assert!(
            proxy_saw.contains("proxy-authorization: Basic Z3c6aHVudGVyMg=="),
            "{proxy_saw}"
        );

        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("extsvc.request"), "{text}");
        assert!(
            text.contains("service=\"health\"") || text.contains("service=health"),
            "{text}"
        );
        assert!(
            text.contains(&format!("route=proxy http://gw:***@{proxy_addr}")),
            "{text}"
        );
        assert!(!text.contains("hunter2") && !text.contains("Z3c6aHVudGVyMg"), "{text}");
    }
}
