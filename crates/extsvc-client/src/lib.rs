//! Tower layers and per-service HTTP clients for a gateway's outbound connections.
//!
//! `extsvc-resolve` decides what each service uses (proxy, bypass list, pool sizes,
//! timeout); `extsvc-tls` builds its rustls configurations; this crate turns them
//! into connections:
//!
//! - connectors, each a `tower::Service<Uri>` over an inner one: [`TcpConnector`]
//!   (DNS + TCP), [`ProxyConnector`] (direct, forwarding proxy or [`Tunnel`] via
//!   `CONNECT`, TLS to `https://` proxies), [`TlsConnector`] (TLS to the target);
//! - [`Pool`] with a hard [`ConnectionCap`] per service;
//! - [`ServiceClient`]: a `tower::Service<http::Request<B>>` with one deadline per
//!   request, errors that say which [`Phase`] failed, a tracing span per request;
//!   [`ServiceClient::from_parts`] documents the layer order;
//! - [`StreamConnector`] for non-HTTP clients (Redis) with the same proxy and TLS rules;
//! - `RedisClient` (cargo feature `redis`): redis-rs over the storage
//!   [`StreamConnector`], one multiplexed connection kept per target;
//! - [`ExternalServices`]: all five clients, built once.
//!
//! HTTP/1.1 only. No automatic retries of failed connections: when a proxy comes back,
//! the next request works without rebuilding anything. The one exception is a
//! keep-alive connection the server closed just as it was reused: the request goes
//! once more on another connection when it provably was not sent, or when it is an
//! idempotent request without a body (see [`ServiceClient::request`]).
//!
//! Request URIs with userinfo (`http://user:password@host/`) are refused: the
//! credentials would end up in `Host`, in a forwarding proxy's request line and in
//! error messages. Send credentials in a header.
//!
//! # Design notes
//!
//! - **Own pool.** hyper-util's legacy client has no cap on open connections and does
//!   not close another host's idle connection to make room, which SPEC section 4
//!   requires; so connections are hyper's `client::conn::http1` under [`Pool`]. The
//!   cap counts slots, and a slot is released when the task driving the connection
//!   ends, so "open" is exact (busy + idle + being set up).
//! - **One error type.** tower puts an `error.rs` beside each middleware; here every
//!   layer returns the same opaque [`Error`] (reqwest style), so one module holds it,
//!   with [`ErrorKind`] for counting and [`Phase`] for "where".
//! - **Phase tracking without allocation.** The deadline wrapper keeps the current
//!   phase in a tokio task-local `Cell` stored inside its own future; the connector
//!   layers mark their phase as they go (a no-op when composed into another client).
//!   For a request with a body, the body tells when hyper asked past its last frame,
//!   which separates [`Phase::Request`] from [`Phase::ResponseHeaders`] (one `Arc`
//!   per request with a body, none otherwise).
//! - **Composing the connectors into hyper-util's legacy client** works (see the
//!   example on [`ServiceClient::from_parts`]): a forwarding hop reports
//!   `Connected::proxy(true)`, so it sends absolute form. It does not add
//!   `Proxy-Authorization` itself, and it has no connection cap: that is what
//!   [`ServiceClient`] adds.

mod client;
mod error;
mod host;
mod io;
mod phase;
pub mod pool;
mod proxy;
#[cfg(feature = "redis")]
mod redis;
mod services;
mod stream;
mod tcp;
mod tls;
mod tunnel;

pub use client::{
    ClientStats, HttpConnection, RequestBody, RequestTimeout, ResponseBody, ResponseFuture, ServiceClient,
    ServiceConnector, ServiceStream,
};
pub use error::{BoxError, Error, ErrorKind, Phase};
pub use io::{tls_version_name, Connected, ConnectionInfo, Hop, MaybeTlsStream, PrefixedStream, ProxyStream};
pub use pool::{ConnectionCap, Pool};
pub use proxy::{ProxyConnecting, ProxyConnector, ProxyConnectorLayer};
#[cfg(feature = "redis")]
pub use redis::RedisClient;
pub use services::{BuildError, ExternalServices};
pub use stream::{StreamConnecting, StreamConnector};
pub use tcp::{TcpConnecting, TcpConnector};
pub use tls::{http1_tls_config, TlsConnecting, TlsConnector, TlsConnectorLayer};
pub use tunnel::{Tunnel, TunnelLayer, Tunneling, MAX_RESPONSE_HEAD};
