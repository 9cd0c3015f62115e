//! [`Connecting`]: the one future type of every connector.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Error;

/// The future of every connector in [`connect`](crate::connect) and of
/// [`StreamConnector`](crate::StreamConnector): the connection, or an [`Error`] that
/// names its phase. One boxed future per connection set up (never per request on a
/// pooled connection).
pub struct Connecting<T> {
    inner: Pin<Box<dyn Future<Output = Result<T, Error>> + Send>>,
}

impl<T> Connecting<T> {
    pub(crate) fn new(fut: impl Future<Output = Result<T, Error>> + Send + 'static) -> Self {
        Connecting { inner: Box::pin(fut) }
    }
}

impl<T> Future for Connecting<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> fmt::Debug for Connecting<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connecting")
    }
}
