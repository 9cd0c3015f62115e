//! The node clients of one storage topology: one [`RedisClient`] (one kept multiplexed
//! connection) per `host:port`, made on first use, every one through the same
//! [`StreamConnector`] (proxy, TLS, the storage section's deadline).

use std::collections::HashMap;
use std::sync::RwLock;

use ::redis::RedisConnectionInfo;
use extsvc_resolve::PoolSettings;

use super::RedisClient;
use crate::error::{Error, ErrorKind};
use crate::stream::StreamConnector;

/// The most node clients one topology keeps: a cluster has at most a few hundred nodes;
/// addresses that a hostile `MOVED` or `CLUSTER SLOTS` names beyond that are refused.
const MAX_NODES: usize = 1024;

pub(super) struct Nodes {
    connector: StreamConnector,
    /// `rediss` with `use_ssl`, else `redis`.
    scheme: &'static str,
    /// Credentials and database of every node. Never printed.
    info: RedisConnectionInfo,
    pool: PoolSettings,
    max_reply_bytes: usize,
    /// The node clients let concurrent commands share writes (a cluster's).
    coalesce_writes: bool,
    /// Read on every command (a cluster's), written when a node is first named.
    clients: RwLock<HashMap<String, RedisClient>>,
    /// Connections opened by clients that were dropped (their count stays in the total).
    opened_before: std::sync::atomic::AtomicU64,
}

impl Nodes {
    pub(super) fn new(
        connector: StreamConnector,
        tls: bool,
        info: RedisConnectionInfo,
        pool: PoolSettings,
        max_reply_bytes: usize,
    ) -> Nodes {
        Nodes {
            connector,
            scheme: if tls { "rediss" } else { "redis" },
            info,
            pool,
            max_reply_bytes,
            coalesce_writes: false,
            clients: RwLock::new(HashMap::new()),
            opened_before: Default::default(),
        }
    }

    /// Node clients made from now on let concurrent commands share writes.
    pub(super) fn coalescing_writes(mut self) -> Nodes {
        self.coalesce_writes = true;
        self
    }

    /// The client of the node at `address` (`host:port`), made on first use.
    pub(super) fn get(&self, address: &str) -> Result<RedisClient, Error> {
        if let Some(client) = self.clients.read().unwrap_or_else(|e| e.into_inner()).get(address) {
            return Ok(client.clone());
        }
        let mut clients = self.clients.write().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(address) {
            return Ok(client.clone());
        }
        if clients.len() >= MAX_NODES {
            return Err(Error::new(
                ErrorKind::Redis,
                format!(
                    "more than {MAX_NODES} Redis nodes named; refusing {}",
                    extsvc_config::shown(address)
                ),
            ));
        }
        let target = format!("{}://{address}", self.scheme).parse().map_err(|_| {
            Error::new(
                ErrorKind::InvalidRequest,
                format!("\"{}\" is not a valid Redis address", extsvc_config::shown(address)),
            )
        })?;
        let mut client = RedisClient::for_node(self.connector.clone(), target, self.info.clone(), &self.pool)
            .with_max_reply_bytes(self.max_reply_bytes);
        if self.coalesce_writes {
            client = client.with_coalesced_writes();
        }
        clients.insert(address.to_owned(), client.clone());
        Ok(client)
    }

    /// Forgets the clients of addresses `keep` refuses (their connections close once
    /// their commands are answered).
    pub(super) fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut clients = self.clients.write().unwrap_or_else(|e| e.into_inner());
        clients.retain(|address, client| {
            let kept = keep(address);
            if !kept {
                self.opened_before
                    .fetch_add(client.connections_opened(), std::sync::atomic::Ordering::Relaxed);
            }
            kept
        });
    }

    /// Connections opened so far by every node client.
    pub(super) fn opened(&self) -> u64 {
        let clients = self.clients.read().unwrap_or_else(|e| e.into_inner());
        self.opened_before.load(std::sync::atomic::Ordering::Relaxed)
            + clients.values().map(RedisClient::connections_opened).sum::<u64>()
    }
}

/// True when `e` says the node is gone or cannot serve as it did (connection lost or
/// refused, a deadline, or one of the server errors `others` names): what a failover
/// looks like from a client, after which the topology is asked again.
pub(super) fn lost_node(e: &::redis::RedisError, others: &[::redis::ServerErrorKind]) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
        || matches!(e.kind(), ::redis::ErrorKind::Server(kind) if others.contains(&kind))
}
