//! [`HyperConnector`]: a service's own connector, as hyper-util's legacy client takes it
//! ([`ExternalServices::connector`](crate::ExternalServices::connector)).

use std::fmt;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::rt::TokioIo;

use crate::connect::Connecting;
use crate::connect::{ServiceConnector, ServiceStream};
use crate::error::Error;

/// A service's connector stack (route → TCP → proxy/`CONNECT`/SOCKS5 → TLS to the
/// target), sharing the service client's TLS material and its rotation, with hyper's I/O
/// traits on its streams: ready for
/// `hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector)`.
///
/// It has what the connectors have and not what [`ServiceClient`](crate::ServiceClient)
/// adds: no connection cap, no deadline over the exchange, no redirects or gzip, and no
/// `Proxy-Authorization` on forwarded `http://` requests (use a proxy without
/// credentials for those, or add the header yourself).
#[derive(Clone)]
pub struct HyperConnector {
    inner: ServiceConnector,
}

impl HyperConnector {
    pub(crate) fn new(inner: ServiceConnector) -> HyperConnector {
        HyperConnector { inner }
    }

    /// The connector it wraps (tokio I/O streams).
    pub fn into_inner(self) -> ServiceConnector {
        self.inner
    }
}

impl tower::Service<Uri> for HyperConnector {
    type Response = TokioIo<ServiceStream>;
    type Error = Error;
    type Future = Connecting<TokioIo<ServiceStream>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        tower::Service::<Uri>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = tower::Service::<Uri>::call(&mut self.inner, dst);
        Connecting::new(async move { connecting.await.map(TokioIo::new) })
    }
}

impl fmt::Debug for HyperConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HyperConnector")
    }
}
