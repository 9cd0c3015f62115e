use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Error;
use crate::io::MaybeTlsStream;

/// The future of [`TlsConnector`](super::TlsConnector).
pub struct TlsConnecting<IO> {
    inner: Pin<Box<dyn Future<Output = Result<MaybeTlsStream<IO>, Error>> + Send>>,
}

impl<IO> TlsConnecting<IO> {
    pub(crate) fn new(fut: impl Future<Output = Result<MaybeTlsStream<IO>, Error>> + Send + 'static) -> Self {
        TlsConnecting { inner: Box::pin(fut) }
    }
}

impl<IO> Future for TlsConnecting<IO> {
    type Output = Result<MaybeTlsStream<IO>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<IO> fmt::Debug for TlsConnecting<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConnecting")
    }
}
