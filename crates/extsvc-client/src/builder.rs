//! [`ExternalServices::builder`]: from a tyk.conf (or a configuration set in code) and an
//! environment to all five clients, in one call.
//!
//! The steps are the three a gateway would otherwise write itself: load and validate the
//! configuration (`extsvc-config`), resolve every service with the pool and timeout given
//! in code (`extsvc-resolve`'s `resolve_with` and `Tuning`), build every service's TLS
//! (`extsvc-tls`) and client ([`ExternalServices::build`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use extsvc_config::{
    load_env, load_file, load_str, ConfigError, ConfigErrors, EnvSnapshot, LoadOptions, Loaded, ServiceKind,
};
use extsvc_resolve::{resolve_with, PoolSettings, Tuning};
use extsvc_tls::{CertificateStore, SecretSource, SecretSources, TlsOptions};

use crate::services::{BuildError, ExternalServices};
use extsvc_resolve::RedirectPolicy;

/// Setting up [`ExternalServices`] with [`ExternalServices::builder`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The configuration is invalid (or its file unreadable): every problem, each naming
    /// its key path, variable or file position.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// A service's TLS material failed; there is no client without it.
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// Where the configuration comes from.
#[derive(Default)]
enum ConfigInput {
    /// No file: only the environment configures.
    #[default]
    Empty,
    File(PathBuf),
    Text {
        text: String,
        origin: String,
    },
    Set(Box<Loaded>),
}

impl std::fmt::Debug for ConfigInput {
    /// Never the text: a tyk.conf may hold proxy passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigInput::Empty => f.write_str("Empty"),
            ConfigInput::File(path) => f.debug_tuple("File").field(path).finish(),
            ConfigInput::Text { origin, .. } => f.debug_struct("Text").field("origin", origin).finish_non_exhaustive(),
            // The model's proxy URLs redact their credentials.
            ConfigInput::Set(loaded) => f.debug_tuple("Set").field(loaded).finish(),
        }
    }
}

/// Builds [`ExternalServices`]; see [`ExternalServices::builder`].
#[derive(Default)]
#[must_use = "a builder does nothing until .build().await"]
pub struct ExternalServicesBuilder {
    config: ConfigInput,
    env: Option<EnvSnapshot>,
    options: LoadOptions,
    store: Option<Arc<dyn CertificateStore>>,
    tls: TlsOptions,
    tuning: Tuning,
    secret_stores: Vec<(String, Arc<dyn SecretSource>)>,
}

impl std::fmt::Debug for ExternalServicesBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalServicesBuilder")
            .field("config", &self.config)
            .field("env_given", &self.env.is_some())
            .field("env_prefix", &self.options.env_prefix)
            .field("cert_store", &self.store.is_some())
            .field("tls_options", &self.tls)
            .finish_non_exhaustive()
    }
}

impl ExternalServices {
    /// One call from a configuration to every client.
    ///
    /// Without [`tyk_conf`](ExternalServicesBuilder::tyk_conf),
    /// [`tyk_conf_str`](ExternalServicesBuilder::tyk_conf_str) or
    /// [`config`](ExternalServicesBuilder::config), only the environment configures.
    /// Without [`env`](ExternalServicesBuilder::env), the process environment is read
    /// once, at [`build`](ExternalServicesBuilder::build)
    /// ([`EnvSnapshot::from_process_env`]).
    ///
    /// ```no_run
    /// use extsvc::client::ExternalServices;
    /// use extsvc::config::{EnvSnapshot, ServiceKind};
    ///
    /// # async fn start() -> Result<(), Box<dyn std::error::Error>> {
    /// let services = ExternalServices::builder()
    ///     .tyk_conf("/opt/tyk-gateway/tyk.conf")
    ///     .env(EnvSnapshot::from_iter([("NO_PROXY", "localhost")]))
    ///     .build()
    ///     .await?;
    /// let jwks = services.client(ServiceKind::Oauth).get("https://idp.example.com/jwks.json").await?;
    /// let bytes = jwks.into_body().bytes().await?;
    /// # drop(bytes);
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> ExternalServicesBuilder {
        ExternalServicesBuilder::default()
    }
}

impl ExternalServicesBuilder {
    /// Reads the configuration from a tyk.conf at [`build`](Self::build).
    pub fn tyk_conf(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = ConfigInput::File(path.into());
        self
    }

    /// Takes the configuration as tyk.conf text; `origin` names it in errors.
    pub fn tyk_conf_str(mut self, text: impl Into<String>, origin: impl Into<String>) -> Self {
        self.config = ConfigInput::Text {
            text: text.into(),
            origin: origin.into(),
        };
        self
    }

    /// Takes a configuration already loaded or set in code
    /// ([`ExternalServicesConfig::builder`](extsvc_config::ExternalServicesConfig::builder)), with its warnings when it is a [`Loaded`].
    /// Tyk's `TYK_GW_` variables are not applied to it again; the standard proxy
    /// variables of [`env`](Self::env) still are, at resolution.
    pub fn config(mut self, config: impl Into<Loaded>) -> Self {
        self.config = ConfigInput::Set(Box::new(config.into()));
        self
    }

    /// The environment: Tyk's variables (over a tyk.conf) and `HTTP_PROXY`,
    /// `HTTPS_PROXY`, `NO_PROXY`. Default: the process environment, read once.
    pub fn env(mut self, env: EnvSnapshot) -> Self {
        self.env = Some(env);
        self
    }

    /// The prefix of Tyk's variables, `TYK_GW_` by default.
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.options.env_prefix = prefix.into();
        self
    }

    /// Every warning is an error ([`LoadOptions::strict`]): what Tyk accepts and extsvc
    /// reads with a warning (keys in another case, duplicates, unknown keys, TLS 1.0/1.1
    /// minimums, where Tyk's merge routes differently, …) fails the build instead.
    pub fn strict(mut self, strict: bool) -> Self {
        self.options.strict = strict;
        self
    }

    /// A store of secrets for references (SPEC section 6) whose store is `name`:
    /// `vault://…` (`"vault"`), `consul://…` (`"consul"`) or `kv://<name>/…`. The built-in
    /// `env` (`TYK_SECRET_<NAME>`) and `secrets` (tyk.conf's `secrets` map) are always
    /// there; a store given here under one of their names replaces it. References are
    /// resolved at build, at every refresh and on `reload()`, each lookup under
    /// [`TlsOptions::store_timeout`]; this replaces [`TlsOptions::secrets`].
    pub fn secret_source(mut self, name: impl Into<String>, source: Arc<dyn SecretSource>) -> Self {
        self.secret_stores.push((name.into(), source));
        self
    }

    /// The certificate store for `cert_id` / `ca_cert_ids`.
    pub fn cert_store(mut self, store: Arc<dyn CertificateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Certificate refresh and store options.
    pub fn tls_options(mut self, options: TlsOptions) -> Self {
        self.tls = options;
        self
    }

    /// Replaces the built-in pool sizes of one service. Like every override below, it goes
    /// into the resolution (a [`Tuning`]), so the client is built with it.
    pub fn pool(mut self, kind: ServiceKind, pool: PoolSettings) -> Self {
        self.tuning = self.tuning.pool(kind, pool);
        self
    }

    /// Replaces the built-in timeout (the deadline of a whole exchange) of one service.
    pub fn timeout(mut self, kind: ServiceKind, timeout: Duration) -> Self {
        self.tuning = self.tuning.timeout(kind, timeout);
        self
    }

    /// How many redirects one service's requests follow; default
    /// [`RedirectPolicy::default`] (10, as Go).
    pub fn redirect_policy(mut self, kind: ServiceKind, policy: RedirectPolicy) -> Self {
        self.tuning = self.tuning.redirect_policy(kind, policy);
        self
    }

    /// The most bytes of a response body one service's client reads, counted after gzip
    /// decompression; default [`DEFAULT_BODY_LIMIT`](extsvc_resolve::DEFAULT_BODY_LIMIT) (32 MiB).
    pub fn max_response_body(mut self, kind: ServiceKind, bytes: usize) -> Self {
        self.tuning = self
            .tuning
            .max_response_body(kind, u64::try_from(bytes).unwrap_or(u64::MAX));
        self
    }

    /// Loads and validates the configuration, resolves every service, builds every
    /// service's TLS and client. Fails with every configuration problem at once, or with
    /// the service whose TLS material failed; warnings are in
    /// [`ExternalServices::warnings`].
    pub async fn build(self) -> Result<ExternalServices, SetupError> {
        let env = self.env.unwrap_or_else(EnvSnapshot::from_process_env);
        let loaded = match self.config {
            ConfigInput::Empty => load_env(&env, &self.options)?,
            ConfigInput::File(path) => load_file(&path, &env, &self.options)?,
            ConfigInput::Text { text, origin } => load_str(&text, &origin, &env, &self.options)?,
            ConfigInput::Set(loaded) => *loaded,
        };
        let resolution = resolve_with(&loaded.config, &env, &self.tuning);
        // Fail closed (SPEC section 2): a standard proxy variable a service reaches and
        // cannot use is a configuration error, never a direct connection.
        let proxy_errors: Vec<_> = resolution.proxy_errors().into_iter().cloned().collect();
        if !proxy_errors.is_empty() {
            return Err(SetupError::Config(ConfigErrors(proxy_errors)));
        }
        if self.options.strict && !resolution.warnings.is_empty() {
            let strict = resolution
                .warnings
                .iter()
                .map(|warning| ConfigError::Strict {
                    warning: warning.clone(),
                })
                .collect();
            return Err(SetupError::Config(ConfigErrors(strict)));
        }
        let mut warnings = loaded.warnings;
        warnings.extend(resolution.warnings.iter().cloned());
        let mut secrets = SecretSources::from_config(&env, &loaded.config).map_err(|message| {
            let (path, message) = message.split_once(": ").unwrap_or(("kv", message.as_str()));
            ConfigErrors(vec![ConfigError::Invalid {
                path: path.to_owned(),
                message: message.to_owned(),
            }])
        })?;
        for (name, source) in self.secret_stores {
            secrets = secrets.with(name, source);
        }
        let mut tls = self.tls;
        tls.secrets = secrets;
        // Logged as well as returned: a gateway that never reads `warnings()` still shows
        // them in its log.
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        let storage_connector =
            storage_section_connector(&loaded.config, &env, &self.tuning, self.store.clone(), &tls).await?;
        let services = ExternalServices::build(&resolution, self.store, &tls).await?;
        let storage = storage_with_secrets(loaded.config.storage.clone(), &tls.secrets).await?;
        Ok(services
            .with_storage_section(storage, storage_connector)
            .with_warnings(warnings))
    }
}

/// The `storage` section with its passwords resolved when they are references
/// (`storage.password` / `storage.sentinel_password` as `vault://…`, `env://…`, …; SPEC
/// section 6): the one place they are read before a connection uses them. An error names
/// the key and the reference, never a value.
async fn storage_with_secrets(
    mut storage: extsvc_config::StorageSettings,
    secrets: &SecretSources,
) -> Result<extsvc_config::StorageSettings, SetupError> {
    for (key, secret) in [
        ("storage.password", &mut storage.password),
        ("storage.sentinel_password", &mut storage.sentinel_password),
    ] {
        let Some(sourced) = secret.as_mut() else { continue };
        let text = secrets.resolve_value(sourced.value.expose()).await.map_err(|e| {
            SetupError::Config(ConfigErrors(vec![ConfigError::Invalid {
                path: key.to_owned(),
                message: e.to_string(),
            }]))
        })?;
        sourced.value = extsvc_config::StorageSecret::new(text.expose());
    }
    Ok(storage)
}

/// The connector of the `storage` section's Redis when its TLS is not the storage
/// service's (SPEC section 7: `use_ssl` with the section's own TLS keys when
/// `external_services.storage.mtls` is not enabled, `ssl_insecure_skip_verify`): the
/// storage service resolved again with that block, its TLS built like every service's.
/// `None`: the storage service's connector serves.
async fn storage_section_connector(
    config: &extsvc_config::ExternalServicesConfig,
    env: &EnvSnapshot,
    tuning: &Tuning,
    store: Option<Arc<dyn CertificateStore>>,
    tls: &TlsOptions,
) -> Result<Option<crate::StreamConnector>, BuildError> {
    let Some(block) = config.storage_mtls() else {
        return Ok(None);
    };
    let mut with_block = config.clone();
    with_block.service_mut(ServiceKind::Storage).mtls = block;
    // The library-level overrides of the storage service apply here too.
    let service = resolve_with(&with_block, env, tuning)
        .service(ServiceKind::Storage)
        .clone();
    let built = extsvc_tls::build_service_tls(&service, store, tls)
        .await
        .map_err(|cause| BuildError {
            service: ServiceKind::Storage,
            cause,
        })?;
    Ok(Some(crate::StreamConnector::new(
        Arc::new(service),
        built.target,
        built.proxy,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_configuration_text_or_a_proxy_password() {
        let text = r#"{"external_services": {"global": {"https_proxy": "http://gw:s3cret-pw@proxy:3128"}}}"#;
        let builder = ExternalServices::builder().tyk_conf_str(text, "gw.conf");
        let shown = format!("{builder:?}");
        assert!(shown.contains("gw.conf") && !shown.contains("s3cret-pw"), "{shown}");

        let loaded = load_str(text, "gw.conf", &EnvSnapshot::empty(), &LoadOptions::default()).unwrap();
        let shown = format!("{:?}", ExternalServices::builder().config(loaded));
        assert!(shown.contains("proxy:3128") && !shown.contains("s3cret-pw"), "{shown}");
    }

    #[tokio::test]
    async fn storage_passwords_given_by_reference_are_resolved_at_build() {
        let services = ExternalServices::builder()
            .tyk_conf_str(
                r#"{"secrets": {"redis": "from-secrets"}, "storage": {"password": "secrets://redis", "sentinel_password": "env://sentinel"}}"#,
                "gw.conf",
            )
            .env(EnvSnapshot::from_iter([("TYK_SECRET_SENTINEL", "from-env")]))
            .build()
            .await
            .unwrap();
        let storage = services.storage_settings();
        assert_eq!(storage.password.as_ref().unwrap().value.expose(), "from-secrets");
        assert_eq!(storage.sentinel_password.as_ref().unwrap().value.expose(), "from-env");
        let err = ExternalServices::builder()
            .tyk_conf_str(r#"{"storage": {"password": "secrets://missing"}}"#, "gw.conf")
            .env(EnvSnapshot::empty())
            .build()
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("storage.password: "), "{err}");
    }

    #[tokio::test]
    async fn overrides_reach_only_their_service() {
        let pool = PoolSettings::new(2, 1, Duration::from_secs(3)).with_max_pending(4);
        let services = ExternalServices::builder()
            .env(EnvSnapshot::empty())
            .pool(ServiceKind::Health, pool)
            .timeout(ServiceKind::Discovery, Duration::from_millis(1500))
            .redirect_policy(ServiceKind::Health, RedirectPolicy::none())
            .max_response_body(ServiceKind::Health, 1024)
            .build()
            .await
            .unwrap();
        let health = services.client(ServiceKind::Health);
        assert_eq!(health.service().pool, pool);
        // Resolved with the override, so the client is built with it.
        assert_eq!(health.redirect_policy(), RedirectPolicy::none());
        assert_eq!(
            (health.max_response_body(), health.service().max_response_body),
            (1024, 1024)
        );
        assert_eq!(
            services.client(ServiceKind::Discovery).service().timeout,
            Duration::from_millis(1500)
        );
        let oauth = services.client(ServiceKind::Oauth);
        assert_eq!(oauth.service().pool, PoolSettings::for_service(ServiceKind::Oauth));
        assert_ne!(oauth.service().timeout, Duration::from_millis(1500));
        assert_eq!(oauth.redirect_policy(), RedirectPolicy::default());
        assert_eq!(oauth.max_response_body(), extsvc_resolve::DEFAULT_BODY_LIMIT as u64);
        assert!(services.warnings().is_empty(), "{:?}", services.warnings());
    }

    /// Kept, and logged too: a gateway that never reads `warnings()` sees them in its log.
    #[tokio::test]
    async fn warnings_of_loading_and_resolving_are_kept_and_logged() {
        let logs = extsvc_test_support::LogCapture::new();
        let _guard = tracing::subscriber::set_default(logs.subscriber(tracing::Level::WARN));
        let services = ExternalServices::builder()
            .tyk_conf_str(
                r#"{"external_services": {"global": {"enabled": true, "http_proxy": "proxy:3128"}}}"#,
                "gw.conf",
            )
            .env(EnvSnapshot::from_iter([("NO_PROXY", "10.0.0.0/33")]))
            .build()
            .await
            .unwrap();
        let warnings = services.warnings().join("\n");
        assert!(
            warnings.contains("external_services.global.http_proxy: no scheme"),
            "{warnings}"
        );
        assert!(
            warnings.contains("NO_PROXY: skipped entry"),
            "the resolution's warning is missing: {warnings}"
        );
        let logged = logs.text();
        for warning in services.warnings() {
            assert!(logged.contains(warning.as_str()), "not logged: {warning}\n{logged}");
        }
    }

    /// SPEC section 2: an unusable standard proxy variable that a service reaches fails
    /// the build naming it (Go fails the request): never a direct connection.
    #[tokio::test]
    async fn an_unusable_standard_proxy_that_a_service_reaches_fails_the_build() {
        let build = |strict: bool| {
            ExternalServices::builder()
                .tyk_conf_str(r#"{"external_services": {"global": {"enabled": true}}}"#, "gw.conf")
                .env(EnvSnapshot::from_iter([("HTTPS_PROXY", "http://proxy:99999")]))
                .strict(strict)
                .build()
        };
        let error = build(false).await.unwrap_err().to_string();
        assert!(error.starts_with("HTTPS_PROXY: invalid proxy URL"), "{error}");
        // A warning of resolution is an error under strict.
        let error = ExternalServices::builder()
            .tyk_conf_str("{}", "gw.conf")
            .env(EnvSnapshot::from_iter([("TYK_GW_JWTSSLINSECURESKIPVERIFY", "true")]))
            .strict(true)
            .build()
            .await
            .unwrap_err()
            .to_string();
        assert!(error.ends_with("(an error in strict mode)"), "{error}");
    }

    #[tokio::test]
    async fn the_env_prefix_and_the_certificate_store_reach_the_build() {
        let env = EnvSnapshot::from_iter([
            ("MYGW_EXTERNAL_SERVICES_OAUTH_MTLS_ENABLED", "true"),
            ("MYGW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_ID", "gw-client"),
        ]);
        // Without a store: the cert_id set under the prefix cannot be loaded.
        let err = ExternalServices::builder()
            .env(env.clone())
            .env_prefix("MYGW_")
            .build()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no certificate store given"), "{err}");
        // With a store that lacks the id: the store was asked.
        let err = ExternalServices::builder()
            .env(env.clone())
            .env_prefix("MYGW_")
            .cert_store(Arc::new(extsvc_tls::MemoryStore::new()))
            .build()
            .await
            .unwrap_err();
        let SetupError::Build(build) = &err else {
            panic!("{err}")
        };
        assert_eq!(build.service, ServiceKind::Oauth);
        assert!(err.to_string().contains("gw-client"), "{err}");
        assert!(!err.to_string().contains("no certificate store given"), "{err}");
        // Under the default prefix the variables mean nothing: every client builds.
        assert!(ExternalServices::builder().env(env).build().await.is_ok());
    }
}
