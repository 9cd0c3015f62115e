//! [`ResponseBody`]: the response body under the request's deadline, returning the
//! connection to the pool when it is complete.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use std::sync::Arc;

use extsvc_resolve::{ResolvedService, TargetScheme};

use super::gzip::GzipDecoder;
use super::{HttpConnection, Target};
use crate::error::{Error, ErrorKind, Phase};
use crate::io::Connected;
use crate::pool::Pooled;

/// The body of a response from a [`ServiceClient`](crate::ServiceClient).
///
/// Reading it is part of the request's deadline: when the deadline passes, the
/// next frame is an error with [`Phase::ResponseBody`]. When the body has been
/// read to its end, the connection goes back to the pool; dropping the body
/// earlier closes the connection.
pub struct ResponseBody {
    incoming: Incoming,
    timeout: Duration,
    target: Target,
    // The proxy the response came through, for errors: the service (one reference
    // count, no per-request copy of the URL) and the scheme that picked its proxy.
    proxy: Option<(Arc<ResolvedService>, TargetScheme)>,
    /// Until the body is done; its timer holds the request's deadline.
    connection: Option<Pooled<HttpConnection>>,
    connected: Connected,
    /// The response came gzip-encoded and is inflated here (only when the client asked
    /// for gzip itself: a caller who set `Accept-Encoding` gets the raw body).
    gzip: Option<Box<GzipDecoder>>,
    /// The most body bytes (after decompression) the caller is given.
    limit: u64,
    /// Body bytes (after decompression) given so far.
    read: u64,
    /// No frame is left for the caller.
    done: bool,
}

impl ResponseBody {
    /// The body of `incoming`, read under the deadline `connection`'s timer was reset
    /// to for this request; inflated when `gzip`, at most `limit` bytes.
    pub(crate) fn new(
        incoming: Incoming,
        connection: Pooled<HttpConnection>,
        timeout: Duration,
        target: Target,
        proxy: Option<(Arc<ResolvedService>, TargetScheme)>,
        gzip: bool,
        limit: u64,
    ) -> ResponseBody {
        let connected = connection.info;
        let mut body = ResponseBody {
            incoming,
            timeout,
            target,
            proxy,
            connection: Some(connection),
            connected,
            gzip: None,
            limit,
            read: 0,
            done: false,
        };
        if body.incoming.is_end_stream() {
            release(&mut body.connection, true);
            body.done = true;
        } else if gzip {
            body.gzip = Some(Box::new(GzipDecoder::new()));
        }
        body
    }
}

impl ResponseBody {
    /// What the connection the response came on was: its hop and negotiated TLS
    /// versions (`extsvc probe` prints the TLS version from it). Kept here rather than
    /// in the response's extensions, which would cost three allocations per request.
    pub fn connected(&self) -> Connected {
        self.connected
    }

    /// Reads the whole body, under the request's deadline, up to the service's
    /// `max_response_body` ([`DEFAULT_BODY_LIMIT`](extsvc_resolve::DEFAULT_BODY_LIMIT)
    /// unless set): a larger body is an [`ErrorKind::BodyTooLarge`] error, and the connection is closed, not reused.
    pub async fn bytes(self) -> Result<Bytes, Error> {
        match http_body_util::BodyExt::collect(self).await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) => Err(error),
        }
    }

    /// Reads the whole body like [`bytes`](Self::bytes), with a lower limit of `limit`
    /// bytes for this read (the service's limit still applies).
    pub async fn bytes_limited(mut self, limit: usize) -> Result<Bytes, Error> {
        self.limit = self.limit.min(u64::try_from(limit).unwrap_or(u64::MAX));
        self.bytes().await
    }

    /// Reads the whole body as UTF-8 text, under the request's deadline; a body that is
    /// not UTF-8 is an [`ErrorKind::Decode`] error in [`Phase::ResponseBody`].
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.into()).map_err(|e| {
            Error::new(ErrorKind::Decode, format!("the response body is not UTF-8: {e}"))
                .with_phase(Phase::ResponseBody)
        })
    }

    /// Reads the whole body and parses it as JSON into `T`, under the request's
    /// deadline; a body that is not that JSON is an [`ErrorKind::Decode`] error in
    /// [`Phase::ResponseBody`] (its message gives line and column, never the body).
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::Decode,
                format!(
                    "the response body is not the JSON expected ({:?} error at line {}, column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            )
            .with_phase(Phase::ResponseBody)
        })
    }

    /// The error for a body past its limit; the connection is closed (the rest is unread).
    fn too_large(&mut self) -> Error {
        self.done = true;
        release(&mut self.connection, false);
        self.gzip = None;
        let err = Error::new(
            ErrorKind::BodyTooLarge,
            format!(
                "the response body is larger than {} bytes (max_response_body)",
                self.limit
            ),
        )
        .with_phase(Phase::ResponseBody)
        .with_target(&self.target);
        with_proxy(err, self.proxy.as_ref())
    }

    /// Counts `data` against the limit.
    fn counted(&mut self, frame: Frame<Bytes>) -> Result<Frame<Bytes>, Error> {
        if let Some(data) = frame.data_ref() {
            self.read += data.len() as u64;
            if self.read > self.limit {
                return Err(self.too_large());
            }
        }
        Ok(frame)
    }

    /// An error of the gzip stream: the connection is not reused.
    fn corrupt(&mut self, reason: &'static str) -> Error {
        self.done = true;
        release(&mut self.connection, false);
        self.gzip = None;
        let err = Error::new(ErrorKind::Decode, reason)
            .with_phase(Phase::ResponseBody)
            .with_target(&self.target);
        with_proxy(err, self.proxy.as_ref())
    }
}

/// Names the proxy (redacted by its `Display`) in a body error of a proxied response.
fn with_proxy(err: Error, proxy: Option<&(Arc<ResolvedService>, TargetScheme)>) -> Error {
    let Some((service, scheme)) = proxy else { return err };
    match &service.proxy.for_scheme(*scheme).value {
        Some(url) => err.with_proxy(url),
        None => err,
    }
}

fn release(connection: &mut Option<Pooled<HttpConnection>>, reusable: bool) {
    if let Some(mut conn) = connection.take() {
        if reusable {
            conn.forget_request_task();
        }
        conn.set_reusable(reusable);
    }
}

/// What one poll of a body under a deadline gave.
enum Step<E> {
    Frame(Frame<Bytes>),
    End,
    Failed(E),
    TimedOut,
}

/// Polls `body` unless `deadline` has passed. The deadline is checked first, on every
/// poll: a body whose frames are always ready (a fast peer, a large buffer) must not
/// outrun it.
fn step<B>(body: &mut B, mut deadline: Pin<&mut Sleep>, cx: &mut Context<'_>) -> Poll<Step<B::Error>>
where
    B: Body<Data = Bytes> + Unpin,
{
    if Instant::now() >= deadline.deadline() {
        return Poll::Ready(Step::TimedOut);
    }
    match Pin::new(body).poll_frame(cx) {
        Poll::Ready(None) => Poll::Ready(Step::End),
        Poll::Ready(Some(Ok(frame))) => Poll::Ready(Step::Frame(frame)),
        Poll::Ready(Some(Err(e))) => Poll::Ready(Step::Failed(e)),
        // Registers the timer, so the deadline wakes this task when the body stays silent.
        Poll::Pending => deadline.as_mut().poll(cx).map(|()| Step::TimedOut),
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(gzip) = this.gzip.as_mut().filter(|gzip| gzip.has_input()) {
                match gzip.decode() {
                    Ok(Some(data)) => return Poll::Ready(Some(this.counted(Frame::data(data)))),
                    Ok(None) => continue,
                    Err(reason) => return Poll::Ready(Some(Err(this.corrupt(reason)))),
                }
            }
            // The connection is here until `incoming` ended (then only inflating is left).
            let Some(connection) = this.connection.as_mut() else {
                this.done = true;
                return Poll::Ready(match this.gzip.take().map(|gzip| gzip.finish()) {
                    Some(Err(reason)) => Some(Err(this.corrupt(reason))),
                    _ => None,
                });
            };
            let step = std::task::ready!(step(&mut this.incoming, connection.deadline.as_mut(), cx));
            match step {
                Step::End => release(&mut this.connection, true),
                Step::Frame(frame) => {
                    if this.incoming.is_end_stream() {
                        // The last frame: the body is complete, so a deadline that passes
                        // before the caller's final poll must not turn it into an error.
                        release(&mut this.connection, true);
                        if this.gzip.is_none() {
                            this.done = true;
                        }
                    }
                    match (this.gzip.as_mut(), frame.into_data()) {
                        (Some(gzip), Ok(data)) => gzip.push(data),
                        (None, Ok(data)) => return Poll::Ready(Some(this.counted(Frame::data(data)))),
                        // Trailers.
                        (_, Err(frame)) => return Poll::Ready(Some(Ok(frame))),
                    }
                }
                Step::Failed(e) => {
                    this.done = true;
                    release(&mut this.connection, false);
                    let err = Error::new(ErrorKind::Http, format!("error reading the response body: {e}"))
                        .with_phase(Phase::ResponseBody)
                        .with_target(&this.target);
                    return Poll::Ready(Some(Err(with_proxy(err, this.proxy.as_ref()))));
                }
                Step::TimedOut => {
                    this.done = true;
                    release(&mut this.connection, false);
                    let err = Error::timeout(Phase::ResponseBody, this.timeout).with_target(&this.target);
                    return Poll::Ready(Some(Err(with_proxy(err, this.proxy.as_ref()))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || (self.gzip.is_none() && self.incoming.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.gzip.is_some() {
            SizeHint::default()
        } else {
            self.incoming.size_hint()
        }
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body whose next frame is always ready, and which never ends.
    struct Endless;

    impl Body for Endless {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_is_always_ready_still_meets_its_deadline() {
        let mut body = Endless;
        let deadline = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(deadline);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for _ in 0..3 {
            let polled = step(&mut body, deadline.as_mut(), &mut cx);
            assert!(matches!(polled, Poll::Ready(Step::Frame(_))));
        }
        tokio::time::advance(Duration::from_millis(1001)).await;
        let polled = step(&mut body, deadline.as_mut(), &mut cx);
        assert!(
            matches!(polled, Poll::Ready(Step::TimedOut)),
            "frames kept coming past the deadline"
        );
    }
}
