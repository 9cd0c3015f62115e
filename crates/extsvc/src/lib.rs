//! extsvc: how an API gateway makes its *own* outbound connections — to OAuth/JWKS
//! providers, Redis storage, webhook targets, health checks and service discovery —
//! through forward proxies, with mutual TLS, with per-service pools and timeouts.
//!
//! It implements the `external_services` section of Tyk Gateway's `tyk.conf` (and the
//! `TYK_GW_EXTERNAL_SERVICES_*` variables). This facade holds no logic: one module per
//! sub-crate, in the order a request meets them.
//!
//! - [`config`]: load a tyk.conf and an explicit environment snapshot into validated,
//!   sourced values.
//! - [`resolve`]: apply the precedence rules per service and field; route decisions.
//! - [`tls`]: certificates from files or a certificate store, rustls configurations.
//! - [`client`]: the per-service clients and the tower layers they are made of.
//!
//! ```
//! use extsvc::config::{load_str, EnvSnapshot, LoadOptions, ServiceKind};
//! use extsvc::resolve::{resolve, Route, TargetScheme};
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

//! From a tyk.conf to a request, the way a gateway does it at start-up:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use extsvc::client::ExternalServices;
//! use extsvc::config::{load_file, LoadOptions, ServiceKind};
//! use extsvc::tls::{DirectoryStore, TlsOptions};
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! // 1. Read the file and the environment once (the only read of the process environment).
//! let env = extsvc::from_process_env();
//! let loaded = load_file(Some("/opt/tyk-gateway/tyk.conf".as_ref()), &env, &LoadOptions::default())?;
//! for warning in &loaded.warnings {
//!     eprintln!("warning: {warning}");
//! }
//! // 2. Decide what every service uses, and why.
//! let resolution = extsvc::resolve::resolve(&loaded.config, &env);
//! // 3. Build all five clients once: certificates are loaded and checked now, and a
//! //    broken one fails here, never falling back to a connection without mTLS.
//! let store = Arc::new(DirectoryStore::new("/opt/tyk-gateway/certs"));
//! let services = ExternalServices::build(&resolution, Some(store), &TlsOptions::default()).await?;
//! // 4. Hand out cheap clones; each shares its service's pool and connection cap.
//! let oauth = services.client(ServiceKind::Oauth);
//! let jwks = oauth
//!     .request(http::Request::get("https://idp.example.com/.well-known/jwks.json").body(String::new())?)
//!     .await?;
//! println!("{}", jwks.status());
//! # Ok(())
//! # }
//! ```

//! Redis through the storage service — its proxy (here squid, with `CONNECT`), TLS with
//! the client certificate, its deadline — with redis-rs's commands on a kept, multiplexed
//! connection (`examples/redis_through_squid.rs` runs this against addresses you give):
//!
//! ```no_run
//! use extsvc::client::ExternalServices;
//! use extsvc::config::{load_str, EnvSnapshot, LoadOptions};
//! use extsvc::redis::AsyncCommands;
//! use extsvc::tls::TlsOptions;
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! let env = EnvSnapshot::empty();
//! let loaded = load_str(
//!     r#"{"external_services": {"storage": {
//!         "proxy": {"enabled": true, "https_proxy": "http://squid.internal:3128"},
//!         "mtls": {"enabled": true, "ca_file": "/etc/tyk/ca.pem",
//!                  "cert_file": "/etc/tyk/gw.pem", "key_file": "/etc/tyk/gw-key.pem"}
//!     }}}"#,
//!     "tyk.conf",
//!     &env,
//!     &LoadOptions::default(),
//! )?;
//! let resolution = extsvc::resolve::resolve(&loaded.config, &env);
//! let services = ExternalServices::build(&resolution, None, &TlsOptions::default()).await?;
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

#[doc(no_inline)]
pub use http;
#[doc(no_inline)]
pub use redis;
#[doc(no_inline)]
pub use rustls;
#[doc(no_inline)]
pub use tower;

/// Reads the process environment into an [`EnvSnapshot`](config::EnvSnapshot): the one
/// place in the library that touches it. Everything else takes the snapshot.
pub fn from_process_env() -> config::EnvSnapshot {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}
