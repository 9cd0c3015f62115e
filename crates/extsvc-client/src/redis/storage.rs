//! [`StorageRedis`]: the gateway's Redis as tyk.conf's `storage` section describes it —
//! one node, Redis Cluster or Sentinel — behind one handle that takes redis-rs commands.

use std::fmt;
use std::sync::Arc;

use ::redis::aio::ConnectionLike;
use ::redis::{Cmd, Pipeline, RedisConnectionInfo, RedisError, RedisFuture, Value};
use extsvc_config::{StorageKind, StorageSettings};
use extsvc_resolve::PoolSettings;
use extsvc_tls::resp::DEFAULT_MAX_REPLY_BYTES;

use super::cluster::{Budget, Cluster};
use super::nodes::Nodes;
use super::sentinel::Sentinel;
use super::RedisClient;
use crate::error::Error;
use crate::stream::StreamConnector;

/// How many primaries and replicas a topology has now (`extsvc probe --storage`).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageTopologyCounts {
    /// Standalone, Cluster or Sentinel.
    pub kind: StorageKind,
    /// Primaries: 1 for one node or a Sentinel master, the shards' primaries of a cluster.
    pub primaries: usize,
    /// Replicas: of the cluster's shards, or those the sentinels know (0 for one node).
    pub replicas: usize,
}

/// The gateway's Redis from tyk.conf's `storage` section
/// ([`ExternalServices::storage_redis`](crate::ExternalServices::storage_redis)): one
/// node, Redis Cluster (`enable_cluster`) or Sentinel (`master_name`), whichever the
/// section describes; cheap to clone (clones share connections and topology).
///
/// It implements redis-rs's [`ConnectionLike`], so every redis-rs command
/// (`AsyncCommands`) and pipeline runs on it, whatever the topology:
/// - Cluster: each command goes to the primary of its key's slot (multi-key commands
///   must keep their keys in one slot, with hash tags, as in Tyk's client), `MOVED` and
///   `ASK` are followed, and the slot map is asked again when a node fails or a slot
///   moves, so that once the cluster promotes a replica its slots are served again;
/// - Sentinel: commands go to the master the sentinels name (asked in turn; one that is
///   down is skipped), asked again after a failure that a failover causes.
///
/// Every connection — to a node, a shard, a sentinel, the master a sentinel names, a node
/// a `MOVED` points to — goes through the storage service's connector (proxy, TLS with
/// the client certificate), one kept multiplexed connection per node. Each command has
/// the section's `timeout` (5 s by default). `Debug` never shows a password.
#[derive(Clone)]
pub struct StorageRedis {
    inner: Arc<Inner>,
}

struct Inner {
    /// The deadline of each command, redirections and asking the sentinels included.
    timeout: std::time::Duration,
    kind: StorageKind,
    addresses: Vec<String>,
    database: i64,
    route: Route,
}

enum Route {
    Standalone(RedisClient),
    Cluster(Arc<Cluster>),
    Sentinel(Arc<Sentinel>),
}

impl fmt::Debug for StorageRedis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageRedis")
            .field("kind", &self.inner.kind)
            .field(
                "addresses",
                &self
                    .inner
                    .addresses
                    .iter()
                    .map(|a| extsvc_config::shown(a).to_string())
                    .collect::<Vec<_>>(),
            )
            .field("database", &self.inner.database)
            .finish_non_exhaustive()
    }
}

/// The credentials and database of every node: the one place the section's `username`,
/// `password` and `database` are read into a connection (a `vault://…` reference would be
/// resolved here). `""` is no password, as in Tyk. A cluster has only database 0.
fn node_info(settings: &StorageSettings, kind: StorageKind) -> RedisConnectionInfo {
    let database = if kind == StorageKind::Cluster {
        0
    } else {
        i64::from(settings.database())
    };
    let mut info = RedisConnectionInfo::default().set_db(database);
    if let Some(user) = settings.username.as_ref().filter(|u| !u.value.is_empty()) {
        info = info.set_username(&user.value);
    }
    if let Some(password) = settings.password.as_ref().filter(|p| !p.value.is_empty()) {
        info = info.set_password(password.value.expose());
    }
    info
}

/// The credentials of the sentinels: `sentinel_password` (read here only).
fn sentinel_info(settings: &StorageSettings) -> RedisConnectionInfo {
    let info = RedisConnectionInfo::default();
    match settings.sentinel_password.as_ref().filter(|p| !p.value.is_empty()) {
        Some(password) => info.set_password(password.value.expose()),
        None => info,
    }
}

impl StorageRedis {
    /// For `settings` through `connector` (its deadline is each command's), with the
    /// storage service's pool settings. Connects nothing yet; fails only for an address
    /// that cannot be one (the loader refuses those, a configuration set in code may not).
    pub(crate) fn new(
        settings: &StorageSettings,
        connector: StreamConnector,
        pool: PoolSettings,
    ) -> Result<StorageRedis, Error> {
        let topology = settings.topology();
        let kind = topology.kind.value;
        let addresses = topology.addresses.value;
        let tls = settings.use_ssl();
        let nodes = Nodes::new(
            connector.clone(),
            tls,
            node_info(settings, kind),
            pool,
            DEFAULT_MAX_REPLY_BYTES,
        );
        let route = match kind {
            StorageKind::Cluster => {
                Route::Cluster(Arc::new(Cluster::new(nodes.coalescing_writes(), addresses.clone())))
            }
            StorageKind::Sentinel => {
                let sentinels = Nodes::new(connector, tls, sentinel_info(settings), pool, DEFAULT_MAX_REPLY_BYTES);
                let name = settings
                    .master_name
                    .as_ref()
                    .map(|m| m.value.clone())
                    .unwrap_or_default();
                Route::Sentinel(Arc::new(Sentinel::new(nodes, sentinels, addresses.clone(), name)))
            }
            // Tyk's one-node client takes the first address.
            _ => Route::Standalone(nodes.get(&addresses[0])?),
        };
        Ok(StorageRedis {
            inner: Arc::new(Inner {
                timeout: settings.timeout(),
                kind,
                addresses,
                database: i64::from(settings.database()),
                route,
            }),
        })
    }

    /// Standalone, Cluster or Sentinel.
    pub fn kind(&self) -> StorageKind {
        self.inner.kind
    }

    /// The node, the cluster's seeds or the sentinels (`host:port`).
    pub fn addresses(&self) -> &[String] {
        &self.inner.addresses
    }

    /// Connects now: the node (one node), the slot map (Cluster), the master (Sentinel),
    /// so that a proxy, TLS, `AUTH` or topology problem shows at start-up.
    pub async fn connect(&self) -> Result<(), Error> {
        match &self.inner.route {
            Route::Standalone(client) => client.connect().await,
            Route::Cluster(cluster) => cluster.current_map().await.map(drop),
            Route::Sentinel(sentinel) => sentinel.master().await?.connect().await,
        }
    }

    /// A client for each primary: the node, the cluster's primaries (from its slot map),
    /// the master the sentinels name. A command sent on one of them directly is not seen by
    /// the topology (a failure there does not make it ask again): to check the primaries,
    /// use [`StorageRedis::ping_primaries`].
    pub async fn primaries(&self) -> Result<Vec<RedisClient>, Error> {
        match &self.inner.route {
            Route::Standalone(client) => Ok(vec![client.clone()]),
            Route::Cluster(cluster) => {
                let map = cluster.current_map().await?;
                map.primaries().iter().map(|a| cluster.nodes().get(a)).collect()
            }
            Route::Sentinel(sentinel) => Ok(vec![sentinel.master().await?]),
        }
    }

    /// `PING`s every primary (the node, each cluster primary, the master the sentinels
    /// name) under one deadline, and answers how many said `+PONG`. A primary that fails
    /// makes the topology be asked again, as a failed command does, so that a long-running
    /// health check follows a failover.
    pub async fn ping_primaries(&self) -> ::redis::RedisResult<usize> {
        let ping = ::redis::cmd("PING");
        let answer = async {
            match &self.inner.route {
                Route::Standalone(client) => {
                    let value = client.clone().req_packed_command(&ping).await?;
                    super::cluster::expect_pong(value.extract_error()?).map(|()| 1)
                }
                Route::Cluster(cluster) => cluster.ping_primaries().await,
                Route::Sentinel(sentinel) => {
                    let value = sentinel.command(&ping).await?;
                    super::cluster::expect_pong(value.extract_error()?).map(|()| 1)
                }
            }
        };
        self.within(answer).await
    }

    /// How many primaries and replicas the topology has now.
    pub async fn topology(&self) -> Result<StorageTopologyCounts, Error> {
        let (primaries, replicas) = match &self.inner.route {
            Route::Standalone(_) => (1, 0),
            Route::Cluster(cluster) => {
                let map = cluster.current_map().await?;
                (map.primaries().len(), map.replicas().len())
            }
            Route::Sentinel(sentinel) => {
                sentinel.master().await?;
                (1, sentinel.replicas().await)
            }
        };
        Ok(StorageTopologyCounts {
            kind: self.inner.kind,
            primaries,
            replicas,
        })
    }

    /// Connections opened so far, to every node and sentinel (through the proxy too).
    pub fn connections_opened(&self) -> u64 {
        match &self.inner.route {
            Route::Standalone(client) => client.connections_opened(),
            Route::Cluster(cluster) => cluster.nodes().opened(),
            Route::Sentinel(sentinel) => sentinel.nodes().opened() + sentinel.sentinel_nodes().opened(),
        }
    }

    /// The extsvc [`Error`] inside a [`RedisError`] this handle returned, as
    /// [`RedisClient::error_of`].
    pub fn error_of(e: &RedisError) -> Option<&Error> {
        RedisClient::error_of(e)
    }
}

impl StorageRedis {
    /// `answer` under the section's `timeout`: one deadline for the whole command, however
    /// many nodes it took (a redirection, the sentinels asked).
    async fn within<T>(
        &self,
        answer: impl std::future::Future<Output = ::redis::RedisResult<T>>,
    ) -> ::redis::RedisResult<T> {
        match tokio::time::timeout(self.inner.timeout, answer).await {
            Ok(answered) => answered,
            Err(_) => Err(super::into_redis_error(Error::timeout(
                crate::error::Phase::ResponseHeaders,
                self.inner.timeout,
            ))),
        }
    }
}

impl StorageRedis {
    /// The deadline of a command starting now, for the cluster's redirections.
    fn budget(&self) -> Budget {
        Budget {
            deadline: crate::deadline::deadline_after(self.inner.timeout),
            timeout: self.inner.timeout,
        }
    }
}

/// Each command within the section's `timeout`: one node's answer has that node's
/// deadline (the same timeout: the node clients' connector has it), kept without a
/// timer per command; only what goes beyond (a cluster's redirection or map refresh, the
/// sentinels asked) runs under a timer for the whole command.
impl ConnectionLike for StorageRedis {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            match &self.inner.route {
                Route::Standalone(client) => client.clone().req_packed_command(cmd).await,
                Route::Cluster(cluster) => cluster.command(cmd, self.budget()).await,
                Route::Sentinel(sentinel) => self.within(sentinel.command(cmd)).await,
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            match &self.inner.route {
                Route::Standalone(client) => client.clone().req_packed_commands(pipeline, offset, count).await,
                Route::Cluster(cluster) => cluster.pipeline(pipeline, offset, count, self.budget()).await,
                Route::Sentinel(sentinel) => self.within(sentinel.pipeline(pipeline, offset, count)).await,
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.database
    }
}
