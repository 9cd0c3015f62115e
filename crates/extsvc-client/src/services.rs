//! [`ExternalServices`]: the five service clients, built once.

use std::fmt;
use std::sync::Arc;

use extsvc_config::{PerService, ServiceKind};
use extsvc_resolve::{Resolution, ResolvedService};
use extsvc_tls::{build_service_tls, CertificateStore, ReloadReport, ServiceTls, TlsError, TlsOptions};

use crate::client::ServiceClient;
use crate::stream::StreamConnector;

/// Building a service's client failed; there is no fallback to a client without
/// its TLS material.
///
/// Its message includes the TLS error's; it has no `source()` (the crate's one rule,
/// see [`Error`](crate::Error)).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the {service} client: {cause}")]
#[non_exhaustive]
pub struct BuildError {
    /// The service.
    pub service: ServiceKind,
    /// Why its TLS configuration failed.
    pub cause: TlsError,
}

/// The clients of all five services and the storage stream connector; cheap to clone.
#[derive(Clone)]
pub struct ExternalServices {
    clients: PerService<ServiceClient>,
    storage: StreamConnector,
    /// Each service's TLS material, for [`ExternalServices::reload`].
    tls: PerService<ServiceTls>,
    warnings: Arc<[String]>,
    /// tyk.conf's `storage` section and the connector its Redis connections use (the
    /// storage service's, or one with the section's own TLS keys), for
    /// [`ExternalServices::storage_redis`].
    #[cfg_attr(
        not(feature = "redis"),
        allow(dead_code, reason = "read by ExternalServices::storage_redis")
    )]
    storage_section: Arc<(extsvc_config::StorageSettings, StreamConnector)>,
    /// The storage service's settings, for [`ExternalServices::redis`].
    #[cfg_attr(not(feature = "redis"), allow(dead_code, reason = "read by ExternalServices::redis"))]
    storage_service: Arc<ResolvedService>,
}

impl fmt::Debug for ExternalServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clients.values()).finish()
    }
}

impl ExternalServices {
    /// Builds every service's TLS configuration (from files and `store`) and client.
    /// Any service whose TLS fails fails the whole build, naming the service.
    pub async fn build(
        resolution: &Resolution,
        store: Option<Arc<dyn CertificateStore>>,
        options: &TlsOptions,
    ) -> Result<ExternalServices, BuildError> {
        let mut parts = Vec::with_capacity(5);
        for service in resolution.services().values() {
            // An unusable standard proxy variable this service reaches: no client that
            // would connect directly instead (SPEC section 2).
            if let Some(error) = service.proxy.errors.first() {
                return Err(BuildError {
                    service: service.kind,
                    cause: TlsError::Config {
                        service: service.kind,
                        key_path: error.path().to_owned(),
                        cause: error.clone(),
                    },
                });
            }
            let tls = build_service_tls(service, store.clone(), options)
                .await
                .map_err(|cause| BuildError {
                    service: service.kind,
                    cause,
                })?;
            parts.push((service.clone(), tls));
        }
        Ok(ExternalServices::from_parts(parts))
    }

    /// From already built parts, one per service (for tests and callers that build
    /// the TLS configurations themselves); a later entry of a kind replaces an earlier.
    ///
    /// # Panics
    /// When a service kind is missing from `parts`.
    pub fn from_parts(parts: impl IntoIterator<Item = (ResolvedService, ServiceTls)>) -> ExternalServices {
        let mut slots: PerService<Option<(ResolvedService, ServiceTls)>> = PerService::default();
        for (service, tls) in parts {
            let kind = service.kind;
            slots[kind] = Some((service, tls));
        }
        let parts = slots.map(|slot| slot.expect("ExternalServices::from_parts needs all five services"));
        let (storage, storage_service) = {
            let (service, tls) = &parts[ServiceKind::Storage];
            let service = Arc::new(service.clone());
            let connector = StreamConnector::new(service.clone(), tls.target.clone(), tls.proxy.clone());
            (connector, service)
        };
        let section = (
            extsvc_config::StorageSettings::default(),
            storage.clone().with_timeout(extsvc_config::DEFAULT_STORAGE_TIMEOUT),
        );
        let tls = parts.each_ref().map(|(_, tls)| tls.clone());
        let clients = parts.map(|(service, tls)| ServiceClient::new(service, &tls));
        ExternalServices {
            clients,
            storage,
            tls,
            storage_service,
            storage_section: Arc::new(section),
            warnings: Arc::new([]),
        }
    }

    /// With tyk.conf's `storage` section, and the connector for its Redis (`None`: the
    /// storage service's); each command gets the section's `timeout`.
    pub(crate) fn with_storage_section(
        mut self,
        settings: extsvc_config::StorageSettings,
        connector: Option<StreamConnector>,
    ) -> ExternalServices {
        let connector = connector
            .unwrap_or_else(|| self.storage.clone())
            .with_timeout(settings.timeout());
        self.storage_section = Arc::new((settings, connector));
        self
    }

    pub(crate) fn with_warnings(mut self, warnings: Vec<String>) -> ExternalServices {
        self.warnings = warnings.into();
        self
    }

    /// The warnings of loading and resolving the configuration (unknown variables,
    /// assumed schemes, disabled verification, …), each starting with the key path or
    /// variable it is about; empty when not built by [`ExternalServices::builder`].
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The client of one service (a clone sharing its pool).
    pub fn client(&self, kind: ServiceKind) -> ServiceClient {
        self.clients[kind].clone()
    }

    /// Reads every service's TLS files and store entries again now (for a gateway's own
    /// reload signal) and swaps what changed for new connections; pooled connections keep
    /// their handshake. One report per service, in [`ServiceKind`] order: what changed,
    /// what failed (a failure keeps the material in use). See [`ServiceTls::reload`].
    pub async fn reload(&self) -> Vec<ReloadReport> {
        let mut reports = Vec::with_capacity(ServiceKind::ALL.len());
        for tls in self.tls.values() {
            reports.push(tls.reload().await);
        }
        reports
    }

    /// The connector of one service's client — the same route rules, TLS material and
    /// rotation — for hyper-util's legacy client, so a gateway that has its own client
    /// composes it without loading, resolving or building TLS a second time:
    ///
    /// ```no_run
    /// use extsvc::{EnvSnapshot, ExternalServices, ServiceKind};
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::TokioExecutor;
    ///
    /// # async fn start() -> Result<(), Box<dyn std::error::Error>> {
    /// let services = ExternalServices::builder().env(EnvSnapshot::empty()).build().await?;
    /// let client: Client<_, http_body_util::Empty<extsvc::Bytes>> =
    ///     Client::builder(TokioExecutor::new()).build(services.connector(ServiceKind::Oauth));
    /// let response = client.get("https://idp.example.com/jwks.json".parse()?).await?;
    /// # drop(response);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// hyper-util needs its `client-legacy`, `http1` and `tokio` features.
    pub fn connector(&self, kind: ServiceKind) -> crate::HyperConnector {
        crate::HyperConnector::new(self.clients[kind].connector())
    }

    /// The stream connector of `storage` (Redis), sharing nothing but configuration.
    pub fn storage_connector(&self) -> StreamConnector {
        self.storage.clone()
    }

    /// The gateway's Redis as tyk.conf's `storage` section describes it (SPEC section 7):
    /// one node, Redis Cluster (`enable_cluster`) or Sentinel (`master_name`), through the
    /// storage service's proxy and TLS, each command under the section's `timeout`. Each
    /// call makes a handle with its own connections: make one and clone it. See
    /// [`StorageRedis`](crate::StorageRedis).
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use extsvc::redis::AsyncCommands;
    ///
    /// let services = extsvc::ExternalServices::builder().tyk_conf("/opt/tyk-gateway/tyk.conf").build().await?;
    /// let mut redis = services.storage_redis()?;
    /// redis.set::<_, _, ()>("greeting", "hello").await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn storage_redis(&self) -> Result<crate::StorageRedis, crate::Error> {
        let (settings, connector) = &*self.storage_section;
        crate::StorageRedis::new(settings, connector.clone(), self.storage_service.pool)
    }

    /// The `storage` section this was built with (defaults when not built by
    /// [`ExternalServices::builder`]).
    pub fn storage_settings(&self) -> &extsvc_config::StorageSettings {
        &self.storage_section.0
    }

    /// A Redis client for `url` (`redis://[[user]:password@]host[:port][/db]` or
    /// `rediss://…`) through the storage service: its proxy rules, TLS and deadline, and a
    /// multiplexed connection kept (see [`RedisClient`](crate::RedisClient)). Each call makes a client
    /// with its own connections: make one per target and clone it. The error for a bad
    /// URL never repeats it (it may hold a password).
    #[cfg(feature = "redis")]
    pub fn redis(&self, url: &str) -> Result<crate::RedisClient, crate::Error> {
        crate::RedisClient::new(self.storage.clone(), &self.storage_service, url)
    }
}
