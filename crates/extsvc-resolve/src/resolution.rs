//! [`resolve`]: what each of the five services uses, from the configuration and the
//! standard proxy variables.

use std::time::Duration;

use extsvc_config::{EncodingSecret, EnvSnapshot, ExternalServicesConfig, PerService, ServiceKind, Sourced};

use crate::bypass::BypassList;
use crate::defaults::{self, PoolSettings, RedirectPolicy, DEFAULT_BODY_LIMIT};
use crate::mtls::{self, encoding_secret, ResolvedMtls, SystemRoots};
use crate::proxy::{self, ResolvedProxy};

/// What one service uses: proxy, TLS material, pool, timeout, redirects and body limit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedService {
    /// Which service.
    pub kind: ServiceKind,
    /// Proxy settings after precedence.
    pub proxy: ResolvedProxy,
    /// TLS settings after precedence.
    pub mtls: ResolvedMtls,
    /// Connection pool sizes: the seed's table, or what [`Tuning::pool`] gave.
    pub pool: PoolSettings,
    /// Deadline for a whole exchange: the seed's table, or what [`Tuning::timeout`] gave.
    pub timeout: Duration,
    /// How many redirects a request follows: Go's 10, or what
    /// [`Tuning::redirect_policy`] gave.
    pub redirect: RedirectPolicy,
    /// The most bytes of a response body the client reads, counted after gzip
    /// decompression: [`DEFAULT_BODY_LIMIT`], or what [`Tuning::max_response_body`] gave.
    pub max_response_body: u64,
}

/// Settings no configuration key reaches, given in code: a service's pool sizes, timeout,
/// redirect policy and response body limit in place of the built-in ones (what
/// `ExternalServicesBuilder::pool`, `::timeout`, `::redirect_policy` and
/// `::max_response_body` collect). [`resolve_with`] applies them as it resolves, so a
/// resolution is never patched afterwards, nor a client after it is built.
///
/// ```
/// # use std::time::Duration;
/// use extsvc::config::{EnvSnapshot, ExternalServicesConfig, ServiceKind};
/// use extsvc::resolve::{resolve_with, PoolSettings, RedirectPolicy, Tuning};
///
/// let tuning = Tuning::default()
///     .pool(ServiceKind::Webhooks, PoolSettings::new(8, 2, Duration::from_secs(30)))
///     .timeout(ServiceKind::Webhooks, Duration::from_secs(7))
///     .redirect_policy(ServiceKind::Webhooks, RedirectPolicy::none());
/// let resolution = resolve_with(&ExternalServicesConfig::default(), &EnvSnapshot::empty(), &tuning);
/// let webhooks = resolution.service(ServiceKind::Webhooks);
/// assert_eq!(webhooks.pool.max_connections, 8);
/// assert_eq!(webhooks.timeout, Duration::from_secs(7));
/// assert_eq!(webhooks.redirect, RedirectPolicy::none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tuning {
    pool: PerService<Option<PoolSettings>>,
    timeout: PerService<Option<Duration>>,
    redirect: PerService<Option<RedirectPolicy>>,
    max_response_body: PerService<Option<u64>>,
}

impl Tuning {
    /// `kind` uses `pool` in place of its built-in pool sizes.
    #[must_use]
    pub fn pool(mut self, kind: ServiceKind, pool: PoolSettings) -> Tuning {
        self.pool[kind] = Some(pool);
        self
    }

    /// `kind` uses `timeout` (the deadline of a whole exchange) in place of its built-in one.
    #[must_use]
    pub fn timeout(mut self, kind: ServiceKind, timeout: Duration) -> Tuning {
        self.timeout[kind] = Some(timeout);
        self
    }

    /// `kind` follows redirects by `policy` in place of Go's 10.
    #[must_use]
    pub fn redirect_policy(mut self, kind: ServiceKind, policy: RedirectPolicy) -> Tuning {
        self.redirect[kind] = Some(policy);
        self
    }

    /// `kind` reads at most `bytes` of a response body (after gzip decompression) in
    /// place of [`DEFAULT_BODY_LIMIT`].
    #[must_use]
    pub fn max_response_body(mut self, kind: ServiceKind, bytes: u64) -> Tuning {
        self.max_response_body[kind] = Some(bytes);
        self
    }
}

/// The resolution of all five services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    services: PerService<ResolvedService>,
    encoding_secret: Option<Sourced<EncodingSecret>>,
    /// Warnings from resolution (e.g. a malformed `NO_PROXY` entry skipped).
    pub warnings: Vec<String>,
}

impl Resolution {
    /// One service.
    pub fn service(&self, kind: ServiceKind) -> &ResolvedService {
        &self.services[kind]
    }

    /// All five services, indexed by [`ServiceKind`] (`iter` and `values` in
    /// [`ServiceKind::ALL`] order).
    pub fn services(&self) -> &PerService<ResolvedService> {
        &self.services
    }

    /// Every configuration error the resolution carries (each service's
    /// [`ResolvedMtls::errors`]): empty for a configuration the loader returned; for one
    /// built in code, what the loader would have refused. Building fails on any of them.
    pub fn errors(&self) -> impl Iterator<Item = &extsvc_config::ConfigError> {
        self.services
            .values()
            .iter()
            .flat_map(|service| service.proxy.errors.iter().chain(&service.mtls.errors))
    }

    /// The errors of [`Resolution::errors`] that concern the proxy settings (a standard
    /// variable that a service reached and cannot use), each once, whichever services
    /// reached it. The facade's builder and the `extsvc` command fail with them.
    pub fn proxy_errors(&self) -> Vec<&extsvc_config::ConfigError> {
        let mut errors: Vec<&extsvc_config::ConfigError> = Vec::new();
        for error in self.services.values().iter().flat_map(|service| &service.proxy.errors) {
            if !errors.contains(&error) {
                errors.push(error);
            }
        }
        errors
    }

    /// The certificate store's encoding secret and where it came from, by Tyk's rule (SPEC
    /// sections 1 and 3): `security.private_certificate_encoding_secret` when set and not
    /// empty, else the top-level `secret` when set and not empty, else none. Every
    /// service's [`ResolvedMtls::encoding_secret`] is this one.
    pub fn encoding_secret(&self) -> Option<&Sourced<EncodingSecret>> {
        self.encoding_secret.as_ref()
    }
}

/// Resolves every service from the validated configuration and the standard proxy
/// variables (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY` and their lower-case forms) of `env`.
///
/// `REQUEST_METHOD` (a CGI process) stops upper-case `HTTP_PROXY` from being read, and a
/// set `ALL_PROXY` / `all_proxy` is only warned about; both warnings, like those about bad
/// values in the standard variables, appear only when some service proxies.
pub fn resolve(config: &ExternalServicesConfig, env: &EnvSnapshot) -> Resolution {
    resolve_with(config, env, &Tuning::default())
}

/// [`resolve`], with the pool sizes, timeouts, redirect policies and body limits of
/// `tuning` in place of the built-in ones where it gives them.
pub fn resolve_with(config: &ExternalServicesConfig, env: &EnvSnapshot, tuning: &Tuning) -> Resolution {
    let mut warnings = Vec::new();
    let mut standard_warnings = Vec::new();
    let standard = proxy::StandardProxyEnv::read(env, &mut standard_warnings);
    let system_roots = SystemRoots::from_env(env);
    // Indexed once for every service that inherits it.
    let global_bypass = config
        .global
        .bypass_proxy
        .as_ref()
        .map(|entries| entries.clone().map(BypassList::new));
    let services = PerService::from_fn(|kind| ResolvedService {
        kind,
        proxy: proxy::resolve_proxy(config, kind, &standard, &global_bypass, &mut warnings),
        mtls: mtls::resolve_mtls(config, kind, &system_roots, &mut warnings),
        pool: tuning.pool[kind].unwrap_or_else(|| PoolSettings::for_service(kind)),
        timeout: tuning.timeout[kind].unwrap_or_else(|| defaults::timeout_for(kind)),
        redirect: tuning.redirect[kind].unwrap_or_default(),
        max_response_body: tuning.max_response_body[kind].unwrap_or(DEFAULT_BODY_LIMIT as u64),
    });
    // SPEC section 2: without proxying the standard variables are ignored, so a bad
    // value in them (set for other programs on the host) is no concern of ours.
    if services.values().iter().any(|s| s.proxy.enabled) {
        warnings.append(&mut standard_warnings);
    }
    warn_empty_legacy_proxies(config, &mut warnings);
    Resolution {
        services,
        encoding_secret: encoding_secret(config),
        warnings,
    }
}

/// SPEC sections 1 and 2: a legacy top-level `http_proxy` / `https_proxy` that is set, even
/// to `""`, turns global proxying on when `global.enabled` is unset. An empty one then
/// proxies nothing itself but lets `HTTP_PROXY` / `HTTPS_PROXY` in: say so, since a config
/// written out with empty defaults would otherwise start proxying without a word.
fn warn_empty_legacy_proxies(config: &ExternalServicesConfig, warnings: &mut Vec<String>) {
    if config.global.enabled.is_some() {
        return;
    }
    let legacy = &config.legacy;
    for (name, value) in [("http_proxy", &legacy.http_proxy), ("https_proxy", &legacy.https_proxy)] {
        if let Some(empty) = value.as_ref().filter(|v| v.value.is_none()) {
            warnings.push(format!(
                "{name} is set but empty ({}): it turns global proxying on, so services fall back to \
                 HTTP_PROXY / HTTPS_PROXY; remove it, or set external_services.global.enabled",
                empty.source
            ));
        }
    }
}
