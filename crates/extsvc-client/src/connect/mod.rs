//! The connectors a [`ServiceClient`](crate::ServiceClient) is made of, each a
//! `tower::Service<Uri>` wrapping an inner one, to compose into other clients.
//!
//! - [`TcpConnector`]: DNS and TCP;
//! - [`ProxyConnector`]: per request, direct or to the service's proxy (TLS to an
//!   `https://` proxy, with the proxy's own configuration), then a [`Tunnel`]
//!   (`CONNECT`) for `https://` targets;
//! - [`Tunnel`]: `CONNECT` through a known proxy, on its own;
//! - [`Socks5`]: a SOCKS5 proxy (`socks5://`, `socks5h://`), on its own;
//! - [`TlsConnector`]: TLS to the target, with the service's client certificate.
//!
//! Each yields a stream that reports what it knew ([`Connected`](crate::Connected)
//! through hyper-util's `Connection` trait), through one future type, [`Connecting`]
//! (a boxed future, one per connection set up). The stack of a service client is
//! `TlsConnector<ProxyConnector<TcpConnector>>`; see
//! [`ServiceClient::from_parts`](crate::ServiceClient::from_parts) for composing it into
//! hyper-util's legacy client, and the crate documentation for reqwest.

mod future;
mod proxy;
mod socks;
mod stack;
mod tcp;
mod tls;
mod tunnel;

pub use self::future::Connecting;
pub use self::proxy::ProxyConnector;
pub use self::socks::Socks5;
pub use self::stack::{ServiceConnector, ServiceStream};
pub use self::tcp::TcpConnector;
pub use self::tls::{http1_tls_config, TlsConnector};
pub use self::tunnel::Tunnel;
/// The fuzz target of the tunnel's response reader checks this bound; not for users.
#[doc(hidden)]
pub use self::tunnel::MAX_RESPONSE_HEAD;
pub use crate::io::{MaybeTlsStream, PrefixedStream, ProxyStream};

pub(crate) use self::stack::service_connector;
pub(crate) use self::tls::{refuses_client_certificate, rustls_error};
pub(crate) use self::tunnel::proxy_auth_required;
