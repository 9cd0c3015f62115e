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

#[doc(inline)]
pub use extsvc_config as config;
#[doc(inline)]
pub use extsvc_resolve as resolve;
#[doc(inline)]
pub use extsvc_tls as tls;
#[doc(inline)]
pub use extsvc_client as client;

/// Reads the process environment into an [`EnvSnapshot`](config::EnvSnapshot): the one
/// place in the library that touches it. Everything else takes the snapshot.
pub fn from_process_env() -> config::EnvSnapshot {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}
