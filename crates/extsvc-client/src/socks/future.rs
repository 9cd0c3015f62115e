use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Error;

/// The future of [`Socks5`](super::Socks5).
pub struct Socks5Connecting<IO> {
    inner: Pin<Box<dyn Future<Output = Result<IO, Error>> + Send>>,
}

impl<IO> Socks5Connecting<IO> {
    pub(crate) fn new(fut: impl Future<Output = Result<IO, Error>> + Send + 'static) -> Self {
        Socks5Connecting { inner: Box::pin(fut) }
    }
}

impl<IO> Future for Socks5Connecting<IO> {
    type Output = Result<IO, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<IO> fmt::Debug for Socks5Connecting<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Socks5Connecting")
    }
}
