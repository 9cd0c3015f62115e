use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Error;
use crate::io::ProxyStream;

/// The future of [`ProxyConnector`](super::ProxyConnector).
pub struct ProxyConnecting<IO> {
    inner: Pin<Box<dyn Future<Output = Result<ProxyStream<IO>, Error>> + Send>>,
}

impl<IO> ProxyConnecting<IO> {
    pub(crate) fn new(fut: impl Future<Output = Result<ProxyStream<IO>, Error>> + Send + 'static) -> Self {
        ProxyConnecting { inner: Box::pin(fut) }
    }
}

impl<IO> Future for ProxyConnecting<IO> {
    type Output = Result<ProxyStream<IO>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<IO> fmt::Debug for ProxyConnecting<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProxyConnecting")
    }
}
