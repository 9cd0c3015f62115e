//! Per-service HTTP clients for a gateway's outbound connections, and the connectors
//! they are made of.
//!
//! `extsvc-resolve` decides what each service uses (proxy, bypass list, pool sizes,
//! timeout); `extsvc-tls` builds its rustls configurations; this crate turns them
//! into connections:
//!
//! - [`ExternalServices::builder`]: from a tyk.conf (or a configuration set in code) and
//!   an environment to all five clients in one call;
//! - [`ServiceClient`]: a `tower::Service<http::Request<B>>` with one deadline per
//!   request, errors that say which [`Phase`] failed, a tracing span per request, a pool
//!   under a hard connection cap; [`ServiceClient::from_parts`] documents the layer order;
//!   [`RequestBuilder`] (`client.post(url).json(&v).await`) and what Go's `http.Client`
//!   does for Tyk: redirects ([`RedirectPolicy`](extsvc_resolve::RedirectPolicy)), gzip,
//!   a response body limit, a `User-Agent`;
//! - [`trace`]: an opt-in record of how a connection was set up (`extsvc probe -v`);
//! - metrics through the `metrics` facade, named after OpenTelemetry's HTTP semantic
//!   conventions ([`instruments`], `docs/observability.md`);
//! - [`StreamConnector`] for non-HTTP clients (Redis) with the same proxy and TLS rules;
//! - [`connect`]: the connectors, each a `tower::Service<Uri>` over an inner one
//!   ([`TcpConnector`](connect::TcpConnector), [`ProxyConnector`](connect::ProxyConnector),
//!   [`Tunnel`](connect::Tunnel), [`TlsConnector`](connect::TlsConnector)), to compose
//!   into other clients.
//! - `RedisClient` (cargo feature `redis`): redis-rs over the storage
//!   [`StreamConnector`], one multiplexed connection kept per target;
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
//!   requires; so connections are hyper's `client::conn::http1` under our own pool. The
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
//! - **reqwest cannot take them**: `ClientBuilder::connector_layer` wraps reqwest's own
//!   connector (a `Service` over reqwest's unnameable request type, answering its `Conn`),
//!   so a layer cannot make the connection itself. A `reqwest::Proxy::custom` bridge
//!   would choose the right proxy, but reqwest connects to an `https://` proxy with the
//!   TLS configuration that holds the target's client certificate, handing it to the
//!   proxy. Use [`ServiceClient`], or hyper-util's client with the connectors
//!   (`docs/architecture.md`).

mod builder;
mod client;
pub mod connect;
mod deadline;
mod error;
mod host;
mod hyper_connector;
#[doc(hidden)] // metric names: docs/observability.md is their reference
pub mod instruments;
mod io;
mod phase;
mod pool;
#[cfg(feature = "redis")]
mod redis;
mod route;
mod services;
mod stream;
#[doc(hidden)] // what `extsvc probe -v` prints; public later if users ask
pub mod trace;

pub use builder::{ExternalServicesBuilder, SetupError};
pub use client::{ClientStats, RequestBuilder, RequestTimeout, ResponseBody, ResponseFuture, ServiceClient};
pub use deadline::MAX_TIMEOUT;
pub use error::{BoxError, Error, ErrorKind, Phase};
pub use hyper_connector::HyperConnector;
/// How the CLI and the request span name a negotiated TLS version (`TLSv1.3`).
#[doc(hidden)]
pub use io::tls_version_name;
pub use io::{Connected, ConnectionInfo, Hop};
#[cfg(feature = "redis")]
pub use redis::{RedisClient, StorageRedis, StorageTopologyCounts};
pub use services::{BuildError, ExternalServices};
pub use stream::StreamConnector;
