//! Precedence resolution for `external_services`, per service and per field.
//!
//! `extsvc-config` says what the file and environment *set*; this crate decides what
//! each of the five services *uses*, and why: every resolved value carries its
//! [`Source`](extsvc_config::Source). It also owns the bypass-list index ([`BypassList`]) and the route
//! decision ([`ResolvedService::route`]) that the client's connector asks per request.
//!
//! Pure functions over an [`ExternalServicesConfig`](extsvc_config::ExternalServicesConfig) and an
//! [`EnvSnapshot`](extsvc_config::EnvSnapshot): no I/O.

mod bypass;
mod defaults;
mod mtls;
mod proxy;
mod resolution;
mod route;
mod scheme;

pub use bypass::BypassList;
pub use defaults::{PoolSettings, RedirectPolicy, DEFAULT_BODY_LIMIT};
pub use mtls::{CaSource, ClientCertificateSource, ResolvedMtls, SystemRoots};
pub use proxy::ResolvedProxy;
pub use resolution::{resolve, resolve_with, Resolution, ResolvedService, Tuning};
pub use route::{Route, RouteDecision, RouteReason};
pub use scheme::TargetScheme;
