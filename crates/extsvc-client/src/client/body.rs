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
    done: bool,
}

impl ResponseBody {
    /// The body of `incoming`, read under the deadline `connection`'s timer was reset
    /// to for this request.
    pub(crate) fn new(
        incoming: Incoming,
        connection: Pooled<HttpConnection>,
        timeout: Duration,
        target: Target,
        proxy: Option<(Arc<ResolvedService>, TargetScheme)>,
    ) -> ResponseBody {
        let connected = connection.info;
        let mut body = ResponseBody {
            incoming,
            timeout,
            target,
            proxy,
            connection: Some(connection),
            connected,
            done: false,
        };
        if body.incoming.is_end_stream() {
            release(&mut body.connection, true);
            body.done = true;
        }
        body
    }
}

/// The most [`ResponseBody::bytes`] and [`ResponseBody::text`] read: 16 MiB. A JWKS
/// document, a token response or a webhook's answer is a few kilobytes; the cap keeps a
/// hostile or broken peer from filling memory before the deadline ends the exchange.
/// [`ResponseBody::bytes_limited`] sets another; reading the frames yourself sets none.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

impl ResponseBody {
    /// What the connection the response came on was: its hop and negotiated TLS
    /// versions (`extsvc probe` prints the TLS version from it). Kept here rather than
    /// in the response's extensions, which would cost three allocations per request.
    pub fn connected(&self) -> Connected {
        self.connected
    }

    /// Reads the whole body, under the request's deadline, up to [`DEFAULT_BODY_LIMIT`].
    pub async fn bytes(self) -> Result<Bytes, Error> {
        self.bytes_limited(DEFAULT_BODY_LIMIT).await
    }

    /// Reads the whole body, under the request's deadline; a body larger than `limit`
    /// bytes is an [`ErrorKind::Http`] error in [`Phase::ResponseBody`] (the connection is
    /// then closed, not reused).
    pub async fn bytes_limited(self, limit: usize) -> Result<Bytes, Error> {
        match http_body_util::BodyExt::collect(http_body_util::Limited::new(self, limit)).await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) => match error.downcast::<Error>() {
                Ok(ours) => Err(*ours),
                Err(_too_long) => Err(Error::new(
                    ErrorKind::Http,
                    format!("the response body is larger than {limit} bytes"),
                )
                .with_phase(Phase::ResponseBody)),
            },
        }
    }

    /// Reads the whole body as UTF-8 text, under the request's deadline; a body that is
    /// not UTF-8 is an [`ErrorKind::Http`] error in [`Phase::ResponseBody`].
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.into()).map_err(|e| {
            Error::new(ErrorKind::Http, "the response body is not UTF-8")
                .with_phase(Phase::ResponseBody)
                .with_source(e)
        })
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
        // Not done: the connection is still here (it is released when the body is done).
        let (false, Some(connection)) = (this.done, this.connection.as_mut()) else {
            return Poll::Ready(None);
        };
        let step = std::task::ready!(step(&mut this.incoming, connection.deadline.as_mut(), cx));
        Poll::Ready(match step {
            Step::End => {
                this.done = true;
                release(&mut this.connection, true);
                None
            }
            Step::Frame(frame) => {
                if this.incoming.is_end_stream() {
                    // The last frame: the body is complete, so a deadline that passes
                    // before the caller's final poll must not turn it into an error.
                    this.done = true;
                    release(&mut this.connection, true);
                }
                Some(Ok(frame))
            }
            Step::Failed(e) => {
                this.done = true;
                release(&mut this.connection, false);
                let err = Error::new(ErrorKind::Http, "error reading the response body")
                    .with_phase(Phase::ResponseBody)
                    .with_target(&this.target)
                    .with_source(e);
                Some(Err(with_proxy(err, this.proxy.as_ref())))
            }
            Step::TimedOut => {
                this.done = true;
                release(&mut this.connection, false);
                let err = Error::timeout(Phase::ResponseBody, this.timeout).with_target(&this.target);
                Some(Err(with_proxy(err, this.proxy.as_ref())))
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
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
