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

use super::{HttpConnection, TargetName};
use crate::error::{Error, ErrorKind, Phase};
use crate::pool::Pooled;

pin_project_lite::pin_project! {
    /// The body of a response from a [`ServiceClient`](crate::ServiceClient).
    ///
    /// Reading it is part of the request's deadline: when the deadline passes, the
    /// next frame is an error with [`Phase::ResponseBody`]. When the body has been
    /// read to its end, the connection goes back to the pool; dropping the body
    /// earlier closes the connection.
    pub struct ResponseBody {
        incoming: Incoming,
        #[pin]
        deadline: Sleep,
        timeout: Duration,
        target: TargetName,
        connection: Option<Pooled<HttpConnection>>,
        done: bool,
    }
}

impl ResponseBody {
    pub(crate) fn new(
        incoming: Incoming,
        connection: Pooled<HttpConnection>,
        deadline: Instant,
        timeout: Duration,
        target: TargetName,
    ) -> ResponseBody {
        let mut body = ResponseBody {
            incoming,
            deadline: tokio::time::sleep_until(deadline),
            timeout,
            target,
            connection: Some(connection),
            done: false,
        };
        if body.incoming.is_end_stream() {
            release(&mut body.connection, true);
            body.done = true;
        }
        body
    }
}

fn release(connection: &mut Option<Pooled<HttpConnection>>, reusable: bool) {
    if let Some(mut conn) = connection.take() {
        conn.set_reusable(reusable);
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut *this.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                *this.done = true;
                release(this.connection, true);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.incoming.is_end_stream() {
                    release(this.connection, true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                *this.done = true;
                release(this.connection, false);
                let err = Error::new(ErrorKind::Http, "error reading the response body")
                    .with_phase(Phase::ResponseBody)
                    .with_target(&*this.target)
                    .with_source(e);
                Poll::Ready(Some(Err(err)))
            }
            Poll::Pending => match this.deadline.poll(cx) {
                Poll::Ready(()) => {
                    *this.done = true;
                    release(this.connection, false);
                    let err = Error::timeout(Phase::ResponseBody, *this.timeout).with_target(&*this.target);
                    Poll::Ready(Some(Err(err)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
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
