//! In-process HTTP/1.1 targets (plain and TLS) on 127.0.0.1 that count connections and
//! record every request. Built on hyper 1 and tokio-rustls; nothing to install.
//!
//! Each target runs on its own runtime thread, so it serves whatever the test's runtime does,
//! and stops (closing every connection) when dropped.
//!
//! Responses: `status` (200 by default) with `body`, after `delay`, optionally trickled one
//! byte per `trickle` interval (with a correct `Content-Length`, so the headers arrive at once
//! and only the body is slow). A request can override those with query parameters:
//! `?delay_ms=N`, `?trickle_ms=N`, `?status=N`, `?bytes=N` (a body of N bytes of `x`).
//!
//! Response headers tell the test what the target saw:
//! - `x-target-connection`: the id of the connection (1 for the first accepted one);
//! - `x-target-request`: the request's number on this target (1-based);
//! - `x-target-tls`: the negotiated TLS version (`TLSv1_2`, `TLSv1_3`), absent on plain HTTP;
//! - `x-target-client-cert`: `present` or `absent` (TLS only);
//! - `x-target-proxy-authorization`: `present` or `absent` (must always be `absent`: that
//!   header is meant for a proxy).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::server_thread::{ConnectionCounters, ServerThread};

/// How a [`TestTarget`] answers (query parameters of a request can override each field).
#[derive(Debug, Clone)]
pub struct TargetOptions {
    /// Response status (default 200).
    pub status: u16,
    /// Response body (default `ok`).
    pub body: Bytes,
    /// Wait this long before sending the response headers (default none).
    pub delay: Duration,
    /// Send the body one byte per interval (default: all at once).
    pub trickle: Option<Duration>,
}

impl Default for TargetOptions {
    fn default() -> Self {
        Self {
            status: 200,
            body: Bytes::from_static(b"ok"),
            delay: Duration::ZERO,
            trickle: None,
        }
    }
}

/// Counters of a [`TestTarget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetStats {
    /// TCP connections accepted so far.
    pub accepted: u64,
    /// Connections open right now.
    pub open: u64,
    /// The most connections that were open at the same time.
    pub peak_open: u64,
    /// Requests received (whose headers were read).
    pub requests: u64,
    /// TLS handshakes that failed (TLS targets only).
    pub tls_handshake_failures: u64,
}

/// One request as the target received it.
#[derive(Debug, Clone)]
pub struct TargetRequest {
    /// Request method.
    pub method: Method,
    /// Request target as sent (origin-form for a normal client).
    pub uri: Uri,
    /// Every request header.
    pub headers: HeaderMap,
    /// Id of the connection it arrived on (see `x-target-connection`).
    pub connection_id: u64,
    /// Negotiated TLS version, `None` on plain HTTP.
    pub tls_version: Option<String>,
    /// Whether the client presented a certificate (always false on plain HTTP).
    pub client_cert_presented: bool,
}

#[derive(Debug, Default)]
struct TargetState {
    connections: Arc<ConnectionCounters>,
    requests: AtomicU64,
    tls_failures: AtomicU64,
    records: Mutex<Vec<TargetRequest>>,
}

/// What the connection told the request handler about TLS.
#[derive(Debug, Clone, Default)]
struct ConnectionInfo {
    id: u64,
    tls_version: Option<String>,
    client_cert_presented: bool,
}

/// An in-process HTTP/1.1 server on 127.0.0.1; stops on drop.
#[derive(Debug)]
pub struct TestTarget {
    scheme: &'static str,
    state: Arc<TargetState>,
    server: ServerThread,
}

impl TestTarget {
    /// A plain HTTP target.
    pub fn http(options: TargetOptions) -> Self {
        Self::start(options, None)
    }

    /// A TLS target using `tls` (its certificate and, if it sets one, its client-certificate
    /// verifier: a target that requires client certificates gets a config that requires them,
    /// e.g. from [`crate::pki`]).
    pub fn https(options: TargetOptions, tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start(options, Some(tls))
    }

    fn start(options: TargetOptions, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let state = Arc::new(TargetState::default());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server_state = Arc::clone(&state);
        let options = Arc::new(options);
        let server = ServerThread::start("test-target", move |listener| {
            accept_loop(listener, server_state, options, tls)
        });
        Self { scheme, state, server }
    }

    /// The listening address (127.0.0.1:port).
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr())
    }

    /// The same target named `localhost` (for certificates issued to `localhost`).
    pub fn localhost_url(&self) -> String {
        format!("{}://localhost:{}", self.scheme, self.addr().port())
    }

    /// `host:port` as a proxy's CONNECT line names it.
    pub fn authority(&self) -> String {
        self.addr().to_string()
    }

    /// Current counters.
    pub fn stats(&self) -> TargetStats {
        let (accepted, open, peak_open) = self.state.connections.snapshot();
        TargetStats {
            accepted,
            open,
            peak_open,
            requests: self.state.requests.load(SeqCst),
            tls_handshake_failures: self.state.tls_failures.load(SeqCst),
        }
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<TargetRequest> {
        self.state
            .records
            .lock()
            .expect("target records lock is not poisoned")
            .clone()
    }

    /// Waits (polling) until `open` connections are at most `max_open`, up to `timeout`;
    /// returns the final stats. Useful after a client dropped its pool. Async, so the test's
    /// own runtime keeps driving the client side (which closes the sockets) meanwhile.
    pub async fn wait_open_at_most(&self, max_open: u64, timeout: Duration) -> TargetStats {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let stats = self.stats();
            if stats.open <= max_open || std::time::Instant::now() >= deadline {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: Arc<TargetState>,
    options: Arc<TargetOptions>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            continue;
        };
        let open = state.connections.accept();
        let state = Arc::clone(&state);
        let options = Arc::clone(&options);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let mut info = ConnectionInfo {
                id: open.id,
                ..ConnectionInfo::default()
            };
            match acceptor {
                None => serve_connection(stream, info, state, options).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls_stream) => {
                        let (_, connection) = tls_stream.get_ref();
                        info.tls_version = connection.protocol_version().map(|v| format!("{v:?}"));
                        info.client_cert_presented =
                            connection.peer_certificates().is_some_and(|certs| !certs.is_empty());
                        serve_connection(tls_stream, info, state, options).await;
                    }
                    Err(_) => {
                        state.tls_failures.fetch_add(1, SeqCst);
                    }
                },
            }
            drop(open);
        });
    }
}

async fn serve_connection<S>(stream: S, info: ConnectionInfo, state: Arc<TargetState>, options: Arc<TargetOptions>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let info = info.clone();
        let state = Arc::clone(&state);
        let options = Arc::clone(&options);
        async move { Ok::<_, Infallible>(answer(request, &info, &state, &options).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn answer(
    request: Request<Incoming>,
    info: &ConnectionInfo,
    state: &TargetState,
    options: &TargetOptions,
) -> Response<BoxBody<Bytes, Infallible>> {
    let number = state.requests.fetch_add(1, SeqCst) + 1;
    let saw_proxy_authorization = request.headers().contains_key("proxy-authorization");
    state
        .records
        .lock()
        .expect("target records lock is not poisoned")
        .push(TargetRequest {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
            connection_id: info.id,
            tls_version: info.tls_version.clone(),
            client_cert_presented: info.client_cert_presented,
        });

    let mut status = options.status;
    let mut body = options.body.clone();
    let mut delay = options.delay;
    let mut trickle = options.trickle;
    for (key, value) in request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
    {
        let Ok(n) = value.parse::<u64>() else {
            continue;
        };
        match key {
            "delay_ms" => delay = Duration::from_millis(n),
            "trickle_ms" => trickle = Some(Duration::from_millis(n)),
            "status" => status = u16::try_from(n).unwrap_or(500),
            "bytes" => body = Bytes::from(vec![b'x'; usize::try_from(n).unwrap_or(0)]),
            _ => {}
        }
    }
    // Drain the request body so the connection stays usable for the next request.
    let _ = request.into_body().collect().await;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    let length = body.len();
    let body = match trickle {
        Some(interval) => TrickleBody::new(body, interval).boxed(),
        None => Full::new(body).boxed(),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert("x-target-connection", HeaderValue::from(info.id));
    headers.insert("x-target-request", HeaderValue::from(number));
    if let Some(version) = &info.tls_version {
        if let Ok(value) = HeaderValue::from_str(version) {
            headers.insert("x-target-tls", value);
        }
        headers.insert(
            "x-target-client-cert",
            HeaderValue::from_static(if info.client_cert_presented {
                "present"
            } else {
                "absent"
            }),
        );
    }
    headers.insert(
        "x-target-proxy-authorization",
        HeaderValue::from_static(if saw_proxy_authorization { "present" } else { "absent" }),
    );
    response
}

/// A body that yields one byte per interval (the first at once).
struct TrickleBody {
    remaining: Bytes,
    interval: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl TrickleBody {
    fn new(body: Bytes, interval: Duration) -> Self {
        Self {
            remaining: body,
            interval,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }
}

impl http_body::Body for TrickleBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining.is_empty() {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let next = tokio::time::Instant::now() + self.interval;
        self.sleep.as_mut().reset(next);
        let byte = self.remaining.split_to(1);
        Poll::Ready(Some(Ok(Frame::data(byte))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining.is_empty()
    }
}
