use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Error;
use crate::io::PrefixedStream;

/// The future of [`Tunnel`](super::Tunnel): connects to the proxy, then `CONNECT`.
pub struct Tunneling<IO> {
    inner: Pin<Box<dyn Future<Output = Result<PrefixedStream<IO>, Error>> + Send>>,
}

impl<IO> Tunneling<IO> {
    pub(crate) fn new(fut: impl Future<Output = Result<PrefixedStream<IO>, Error>> + Send + 'static) -> Self {
        Tunneling { inner: Box::pin(fut) }
    }
}

impl<IO> Future for Tunneling<IO> {
    type Output = Result<PrefixedStream<IO>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<IO> fmt::Debug for Tunneling<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tunneling")
    }
}
