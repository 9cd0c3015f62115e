//! extsvc: how an API gateway makes its *own* outbound connections — to OAuth/JWKS
//! providers, Redis storage, webhook targets, health checks and service discovery —
//! through forward proxies, with mutual TLS, with per-service pools and timeouts.
//!
//! It implements the `external_services` section of Tyk Gateway's `tyk.conf` (and the
//! `TYK_GW_EXTERNAL_SERVICES_*` variables). One builder call turns a tyk.conf and an
//! environment into a client per service:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use extsvc::{DirectoryStore, EnvSnapshot, ExternalServices, ServiceKind};
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! let services = ExternalServices::builder()
//!     .tyk_conf("/opt/tyk-gateway/tyk.conf") // or .tyk_conf_str(text, "name"), or .config(..)
//!     .env(EnvSnapshot::from_iter([("NO_PROXY", "localhost")])) // default: the process environment, read once
//!     .cert_store(Arc::new(DirectoryStore::new("/opt/tyk-gateway/certs"))) // optional
//!     .build()
//!     .await?; // every configuration problem with its key path; a broken certificate fails here
//! for warning in services.warnings() {
//!     eprintln!("warning: {warning}");
//! }
//! let oauth = services.client(ServiceKind::Oauth); // a cheap clone sharing the service's pool
//! let jwks = oauth.get("https://idp.example.com/jwks.json").await?; // or .request(extsvc::http::Request)
//! let bytes = jwks.into_body().bytes().await?; // under the same deadline
//! # drop(bytes);
//! # Ok(())
//! # }
//! ```
//!
//! # The five services
//!
//! | [`ServiceKind`] | what goes through it |
//! |---|---|
//! | `oauth` | OAuth/OIDC providers, JWKS endpoints |
//! | `health` | upstream health checks |
//! | `storage` | Redis: [`ExternalServices::storage_redis`] from tyk.conf's `storage` section (one node, Cluster or Sentinel), [`ExternalServices::redis`] for one URL — redis-rs commands on kept connections; [`ExternalServices::storage_connector`] for other stream clients |
//! | `discovery` | service discovery (Consul, etcd, …) |
//! | `webhooks` | webhook targets |
//!
//! Each has its own proxy settings (over `global` and `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`),
//! its own mTLS settings, pool and timeout.
//!
//! Certificates and CAs from files or a store are reloaded every minute
//! ([`TlsOptions`]'s refresh interval) and on demand with [`ExternalServices::reload`],
//! e.g. on the gateway's own reload signal; new handshakes use the new material.
//!
//! # Modules
//!
//! This facade holds no logic: one module per sub-crate, in the order a request meets
//! them, and the types of the front door at its root.
//!
//! - [`config`]: load a tyk.conf (or set the same keys in code,
//!   [`ExternalServicesConfig::builder`]) and an explicit environment snapshot into
//!   validated, sourced values.
//! - [`resolve`]: the precedence rules per service and field; route decisions.
//! - [`tls`]: certificates from files or a [`CertificateStore`], rustls configurations.
//! - [`client`]: the per-service clients and the connectors they are made of
//!   (`tower::Service<Uri>`s, to compose into other clients).
//!
//! A route decision, without any I/O:
//!
//! ```
//! use extsvc::config::{load_str, LoadOptions};
//! use extsvc::resolve::{resolve, Route, TargetScheme};
//! use extsvc::{EnvSnapshot, ServiceKind};
//!
//! let env = EnvSnapshot::from_iter([("NO_PROXY", "localhost")]);
//! let loaded = load_str(
//!     r#"{"external_services": {"global": {"enabled": true, "https_proxy": "http://proxy:3128"}}}"#,
//!     "tyk.conf",
//!     &env,
//!     &LoadOptions::default(),
//! )
//! .expect("valid configuration");
//! let resolution = resolve(&loaded.config, &env);
//! let oauth = resolution.service(ServiceKind::Oauth);
//! let decision = oauth.route(TargetScheme::Https, "idp.example.com", 443);
//! assert!(matches!(decision.route, Route::Proxy(p) if p.to_string() == "http://proxy:3128"));
//! ```
//!
//! # Redis
//!
//! Redis through the storage service — its proxy (here squid, with `CONNECT`), TLS with
//! the client certificate, its deadline — with redis-rs's commands on a kept, multiplexed
//! connection (`examples/redis_through_squid.rs` runs this against addresses you give):
//!
//! ```no_run
//! use extsvc::redis::AsyncCommands;
//! use extsvc::{EnvSnapshot, ExternalServices};
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! let services = ExternalServices::builder()
//!     .tyk_conf_str(
//!         r#"{"external_services": {"storage": {
//!             "proxy": {"enabled": true, "https_proxy": "http://squid.internal:3128"},
//!             "mtls": {"enabled": true, "ca_file": "/etc/tyk/ca.pem",
//!                      "cert_file": "/etc/tyk/gw.pem", "key_file": "/etc/tyk/gw-key.pem"}
//!         }}}"#,
//!         "tyk.conf",
//!     )
//!     .env(EnvSnapshot::empty())
//!     .build()
//!     .await?;
//! // One client per Redis target, cloned wherever it is needed.
//! let mut redis = services.redis("rediss://gateway:s3cret@redis.internal:6380/1")?;
//! redis.set::<_, _, ()>("session:42", "alive").await?;
//! let session: Option<String> = redis.get("session:42").await?;
//! assert_eq!(session.as_deref(), Some("alive"));
//! # Ok(())
//! # }
//! ```

#[doc(inline)]
pub use extsvc_client as client;
#[doc(inline)]
pub use extsvc_config as config;
#[doc(inline)]
pub use extsvc_resolve as resolve;
#[doc(inline)]
pub use extsvc_tls as tls;

// The front door's types at the root, for short imports; documented once, in their
// module (`#[doc(no_inline)]`), so no name appears twice in the docs.
#[doc(no_inline)]
pub use extsvc_client::{
    BuildError, ClientStats, Error, ErrorKind, ExternalServices, ExternalServicesBuilder, HyperConnector, Phase,
    RequestBuilder, RequestTimeout, ResponseBody, ServiceClient, SetupError,
};
#[cfg(feature = "redis")]
#[doc(no_inline)]
pub use extsvc_client::{RedisClient, StorageRedis};
#[doc(no_inline)]
pub use extsvc_config::{
    ConfigError, ConfigErrors, EnvSnapshot, ExternalServicesConfig, Loaded, ServiceKind, StorageKind, StorageSettings,
};
#[doc(no_inline)]
pub use extsvc_resolve::{PoolSettings, RedirectPolicy};
#[cfg(feature = "redis")]
#[doc(no_inline)]
pub use extsvc_tls::RedisStore;
#[doc(no_inline)]
pub use extsvc_tls::{CertificateStore, DirectoryStore, MemoryStore, TlsError, TlsOptions};

#[doc(no_inline)]
pub use bytes::Bytes;
#[doc(no_inline)]
pub use http;
#[cfg(feature = "redis")]
#[doc(no_inline)]
pub use redis;
#[doc(no_inline)]
pub use rustls;
#[doc(no_inline)]
pub use tower;
