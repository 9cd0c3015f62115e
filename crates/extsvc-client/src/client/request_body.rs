//! The request body the connections carry: any body boxed into [`RequestBody`], with
//! a signal once hyper has written all of it (what tells [`Phase::Request`](crate::Phase::Request)
//! from [`Phase::ResponseHeaders`](crate::Phase::ResponseHeaders)).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;

use crate::error::BoxError;

/// The request body type the connections carry (any body is boxed into it).
pub(crate) type RequestBody = UnsyncBoxBody<Bytes, BoxError>;

pub(super) fn empty_body() -> RequestBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub(super) fn box_body<B>(body: B, sent: Option<Arc<AtomicBool>>) -> RequestBody
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
