//! One exchange on a pooled connection: check out (or open) an [`HttpConnection`],
//! send the request, send it once more on a stale keep-alive connection, and name what
//! failed.

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::Ordering;

use extsvc_config::ProxyUrl;
use http::uri::Authority;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body::Body;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::time::Sleep;

use super::retry::io_cause;
use super::{closed_before_response, host_header, prepare, replayable, Deadline, RequestBody, ServiceClient};
use crate::connect::proxy_auth_required;
use crate::connect::{refuses_client_certificate, rustls_error};
use crate::deadline::MAX_TIMEOUT;
use crate::error::{Error, ErrorKind, Phase};
use crate::io::{tls_version_name, Connected, ConnectionInfo, Hop};
use crate::phase;
use crate::pool::{Checkout, PoolKey, Poolable};

/// A pooled HTTP/1.1 connection: the request sender and what the connector knew.
pub(crate) struct HttpConnection {
    pub(super) sender: http1::SendRequest<RequestBody>,
    pub(super) info: Connected,
    /// `Host` for requests without one, from the authority of the request that opened
    /// the connection: reused (a reference count) while requests name the same one.
    pub(super) host: HeaderValue,
    /// The deadline of the request using the connection, from sending it to the end of
    /// its response body: one timer per connection, reset for each request. Moving a
    /// registered timer's expiry later is one atomic operation; a timer per request
    /// took the timer wheel's lock twice (register, cancel) on every request.
    pub(super) deadline: Pin<Box<Sleep>>,
}

impl HttpConnection {
    /// Lets go of the waker of the request that last used the connection. Its timer keeps
    /// the waker it was last polled with until it fires (at that request's deadline) or is
    /// polled again, and a waker keeps its task's memory: an idle pooled connection would
    /// hold the finished request's task (a few kilobytes; a gateway's whole request
    /// future) for up to the service's timeout. Polled once with a waker that does nothing
    /// instead: the timer stays registered, nothing is allocated.
    pub(super) fn forget_request_task(&mut self) {
        let _ = self
            .deadline
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
    }
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

impl ServiceClient {
    /// Checks out a connection for `key` (or opens one to `dst`) and sends `req` on it,
    /// once more on a stale keep-alive connection (see [`ServiceClient::request`]).
    pub(super) async fn exchange(
        &self,
        mut req: Request<RequestBody>,
        authority: &Authority,
        key: &PoolKey,
        proxy: Option<&ProxyUrl>,
        span: &tracing::Span,
        deadline: Deadline,
    ) -> Result<(crate::pool::Pooled<HttpConnection>, Response<hyper::body::Incoming>), Error> {
        // `prepare` turns the URI into origin form; a retry connects to the target again.
        let dst = req.uri().clone();
        let mut retried = false;
        loop {
            // A timer of its own for the checkout, registered only when it has to wait
            // (for the pool, or to open a connection): an idle connection is taken at once.
            let mut conn = tokio::time::timeout_at(deadline.at, self.checkout(&dst, authority, key))
                .await
                .map_err(|_elapsed| phase::timed_out(deadline.timeout))??;
            if let Some(version) = conn.info.tls_version {
                span.record("tls", tls_version_name(version));
            }
            let may_retry = !retried && conn.is_reused();
            // Copied before `prepare` adds `Host`: a request without headers of its own
            // copies without allocating (the copy is prepared again if it is sent).
            let replay = if may_retry { replayable(&req) } else { None };
            prepare(&mut req, conn.info.hop, proxy, authority, &conn.host)?;
            phase::enter(if req.body().is_end_stream() {
                Phase::ResponseHeaders
            } else {
                Phase::Request
            });
            let HttpConnection {
                sender,
                deadline: timer,
                ..
            } = &mut *conn;
            timer.as_mut().reset(deadline.at);
            match phase::until(timer.as_mut(), deadline.timeout, sender.try_send_request(req)).await? {
                Ok(response) => {
                    tracing::debug!(
                        status = response.status().as_u16(),
                        reused = conn.is_reused(),
                        retried,
                        "response headers"
                    );
                    if let (Hop::Forward, Some(proxy)) = (conn.info.hop, proxy) {
                        if response.status() == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
                            // Only a proxy answers 407: the same misconfiguration as a refused
                            // CONNECT, so the same error, whatever the target's scheme. The
                            // connection is dropped with its unread body, not pooled.
                            return Err(Error::new(ErrorKind::ProxyAuth, proxy_auth_required(proxy))
                                .with_phase(Phase::ResponseHeaders));
                        }
                    }
                    return Ok((conn, response));
                }
                Err(mut failed) => {
                    let unsent = failed.take_message();
                    let e = failed.into_error();
                    let again = match (may_retry, unsent) {
                        (true, Some(unsent)) => Some(unsent),
                        (true, None) if closed_before_response(&e) => replay,
                        _ => None,
                    };
                    let Some(again) = again else {
                        return Err(send_error(e, conn.info.hop, conn.info.tls_version));
                    };
                    tracing::debug!(error = %e, "a reused connection was closed by the server; sending once more on another");
                    retried = true;
                    req = again;
                }
            }
        }
    }

    /// A ready connection for `key`: an idle one, or a new one to `dst`.
    async fn checkout(
        &self,
        dst: &Uri,
        authority: &Authority,
        key: &PoolKey,
    ) -> Result<crate::pool::Pooled<HttpConnection>, Error> {
        let inner = &self.inner;
        loop {
            phase::enter(Phase::PoolWait);
            let checkout = inner
                .pool
                .checkout(key)
                .await
                .map_err(|full| Error::new(ErrorKind::PoolFull, full.to_string()).with_phase(Phase::PoolWait))?;
            match checkout {
                Checkout::Reused(mut conn) => {
                    // A reused sender may still be finishing the previous exchange.
                    if conn.sender.ready().await.is_ok() {
                        return Ok(conn);
                    }
                    // Closed meanwhile: dropped (not reusable), try again.
                }
                Checkout::Connect(mut slot) => {
                    let host = host_header(authority)?;
                    // A connection whose setup fails after its TCP connect is counted in
                    // `request`, from the error's phase.
                    // By the route the key was made with: decided once, in `hop`.
                    let stream = inner.connector.clone().connect_routed(dst.clone(), key.route()).await?;
                    let info = stream.connected();
                    let handshake = http1::handshake(TokioIo::new(stream)).await;
                    // Counted once set up (or failed in hyper's handshake), just before the
                    // pool counts it: `ClientStats.closed` takes the difference for failed
                    // setups, so a connection still being set up must not be in it.
                    inner.opened.fetch_add(1, Ordering::Relaxed);
                    let (sender, connection) = handshake.map_err(|e| {
                        Error::new(ErrorKind::Http, "HTTP/1.1 handshake failed")
                            .with_phase(Phase::Request)
                            .with_source(e)
                    })?;
                    let connection_deadline = Box::pin(tokio::time::sleep(MAX_TIMEOUT));
                    let conn = inner.pool.pooled(
                        key.clone(),
                        HttpConnection {
                            sender,
                            info,
                            host,
                            deadline: connection_deadline,
                        },
                        &mut slot,
                    );
                    tokio::spawn(ConnectionTask { connection, slot });
                    return Ok(conn);
                }
            }
        }
    }
}

/// The task that drives one connection until it closes, then releases its slot. A
/// struct rather than an `async` block: the block's state machine kept the connection
/// twice (as captured and as awaited), 1,608 bytes per idle pooled connection where
/// this is 800.
struct ConnectionTask {
    connection: http1::Connection<TokioIo<crate::connect::ServiceStream>, RequestBody>,
    /// Released when the connection is closed (dropped with the task).
    #[allow(dead_code, reason = "held for its Drop")]
    slot: crate::pool::ConnectionSlot<HttpConnection>,
}

impl std::future::Future for ConnectionTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if let Err(e) = std::task::ready!(Pin::new(&mut self.connection).poll(cx)) {
            tracing::debug!(error = %e, "connection closed with an error");
        }
        std::task::Poll::Ready(())
    }
}

/// The error of a failed exchange on a connection that took `hop`.
fn send_error(e: hyper::Error, hop: Hop, tls_version: Option<rustls::ProtocolVersion>) -> Error {
    if let Some(alert) = tls_alert_in(&e) {
        let error = match hop {
            // Forwarded, the one TLS session is with an `https://` proxy.
            Hop::Forward => Error::new(
                ErrorKind::ProxyTls,
                format!("the proxy ended the TLS session with alert {alert:?}"),
            ),
            // TLS 1.3 ends the client's side of the handshake before the server has judged
            // the client's certificate: a refusal arrives as an alert on the first read.
            // Only then: over TLS 1.2 the handshake (certificate included) is over before
            // any data, and an alert here is about something else — typically the server
            // asking to renegotiate, which rustls refuses.
            Hop::Direct | Hop::Tunnel
                if tls_version == Some(rustls::ProtocolVersion::TLSv1_3) && refuses_client_certificate(alert) =>
            {
                Error::new(
                    ErrorKind::Tls,
                    format!(
                        "the target ended the TLS session with alert {alert:?}; with TLS 1.3 this is how \
                     a server refuses the client certificate (check the service's mTLS cert_file / cert_id)"
                    ),
                )
            }
            Hop::Direct | Hop::Tunnel if tls_version == Some(rustls::ProtocolVersion::TLSv1_2) => Error::new(
                ErrorKind::Tls,
                format!(
                    "the target ended the TLS 1.2 session with alert {alert:?} after the handshake; \
                     a server that asks to renegotiate (refused: renegotiation is not supported) ends it so"
                ),
            ),
            Hop::Direct | Hop::Tunnel => Error::new(
                ErrorKind::Tls,
                format!("the target ended the TLS session with alert {alert:?}"),
            ),
        };
        return error.with_phase(Phase::ResponseHeaders).with_source(e);
    }
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
}

/// The TLS alert the peer sent, when that is what ended the exchange.
fn tls_alert_in(e: &hyper::Error) -> Option<rustls::AlertDescription> {
    match io_cause(e).and_then(rustls_error) {
        Some(rustls::Error::AlertReceived(alert)) => Some(*alert),
        _ => None,
    }
}
