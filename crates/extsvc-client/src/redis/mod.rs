//! [`RedisClient`]: Redis through the storage service (cargo feature `redis`).
//!
//! redis-rs speaks the protocol and multiplexes commands over a connection
//! ([`MultiplexedConnection`](::redis::aio::MultiplexedConnection)); the streams under
//! it come from the storage [`StreamConnector`], so its proxy rules, target TLS (client
//! certificate and rotation included) and deadline apply. redis-rs's own TLS and
//! connection code are not used.
//!
//! # Kept connections
//!
//! A client keeps one multiplexed connection to its target, opened on first use: every
//! caller's commands are pipelined onto it, so one carries any concurrency, where the
//! HTTP pool needs one connection per request in flight. (The set of kept connections
//! is sized by a constant, capped by the service's `max_connections` and idle-per-host
//! settings; measured, more connections to one single-threaded redis-server only
//! pipeline less deeply — see `docs/performance.md`.) A connection unused for the
//! service's idle timeout (storage: 90 s) is replaced on its next use. The storage row's
//! 50 connections and 15 idle per host are upper bounds this stays far below.
//!
//! Blocking commands (`BLPOP`, `SUBSCRIBE`, …) hold up every command behind them on a
//! multiplexed connection: give them a client of their own (each
//! [`ExternalServices::redis`](crate::ExternalServices::redis) call makes one).
//!
//! # Failures
//!
//! Every command has the storage service's deadline (20 s by default), for opening a
//! connection and for the answer alike. A command that fails is not sent again; when
//! its connection broke (the server or the proxy went away) or stayed silent past the
//! deadline, the connection is dropped and the next command opens a new one, through
//! the proxy again: once the server or proxy is back, commands work again on the same
//! client, without rebuilding anything.
//!
//! The answer's deadline is kept by one timer per connection, not one per command
//! (`watch`): commands count themselves by the tick they started in, and a command
//! still unanswered past its deadline (by at most an eighth of the timeout) ends its
//! connection, failing every command on it with a timeout — Redis answers in order, so
//! those behind it were held up by it anyway.

mod cluster;
mod coalesce;
mod connections;
mod nodes;
mod sentinel;
mod storage;
mod watch;

pub use storage::{StorageRedis, StorageTopologyCounts};

use std::fmt;
use std::sync::Arc;

use ::redis::aio::ConnectionLike;
use ::redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use extsvc_resolve::ResolvedService;
use extsvc_tls::RedisUrl;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Phase};
use crate::stream::StreamConnector;
use connections::{Connections, Lease};

/// A Redis client for one `redis://` or `rediss://` URL through the storage service;
/// cheap to clone (clones share the kept connections).
///
/// It implements redis-rs's [`ConnectionLike`], so every redis-rs command and pipeline
/// runs on it. Failures come back as [`RedisError`]s; when the failure was extsvc's
/// (proxy, TLS, deadline), [`RedisClient::error_of`] gives the [`Error`] with its kind
/// and phase. `Debug` and every error show the URL without its credentials.
///
/// ```no_run
/// # async fn example(services: extsvc_client::ExternalServices) -> Result<(), Box<dyn std::error::Error>> {
/// use redis::AsyncCommands;
///
/// let mut redis = services.redis("rediss://gateway:s3cret@redis.internal:6380/2")?;
/// redis.connect().await?; // optional: fail early on proxy, TLS or AUTH problems
/// redis.set::<_, _, ()>("greeting", "hello").await?;
/// let greeting: String = redis.get("greeting").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisClient {
    connections: Arc<Connections>,
}

impl fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisClient")
            .field("target", &self.connections.target())
            .field("database", &self.connections.database())
            .field("kept_connections", &self.connections.kept())
            .finish_non_exhaustive()
    }
}

impl RedisClient {
    /// A client for `url` (`redis://[[user]:password@]host[:port][/db]` or `rediss://…`)
    /// through `connector`, with `service`'s pool settings (the storage service's, in
    /// [`ExternalServices::redis`](crate::ExternalServices::redis)). Connects nothing yet.
    pub fn new(connector: StreamConnector, service: &ResolvedService, url: &str) -> Result<RedisClient, Error> {
        let url = RedisUrl::parse(url).map_err(|e| Error::new(ErrorKind::InvalidRequest, e.to_string()))?;
        let target = url.without_credentials().parse().map_err(|_| {
            Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "\"{}\" is not a valid Redis address",
                    extsvc_config::shown(&url.without_credentials())
                ),
            )
        })?;
        let mut info = ::redis::RedisConnectionInfo::default().set_db(url.database.map_or(0, i64::from));
        if let Some(user) = &url.user {
            info = info.set_username(user);
        }
        if let Some(password) = &url.password {
            info = info.set_password(password);
        }
        Ok(RedisClient {
            connections: Arc::new(Connections::new(connector, target, info, &service.pool)),
        })
    }

    /// A client for one node of a storage topology: `target` is `redis://host:port` or
    /// `rediss://host:port`, `info` its credentials and database.
    pub(crate) fn for_node(
        connector: StreamConnector,
        target: http::Uri,
        info: ::redis::RedisConnectionInfo,
        pool: &extsvc_resolve::PoolSettings,
    ) -> RedisClient {
        RedisClient {
            connections: Arc::new(Connections::new(connector, target, info, pool)),
        }
    }

    /// `redis://host:port` or `rediss://host:port` this client connects to (never
    /// credentials).
    pub fn target(&self) -> &str {
        self.connections.target()
    }

    /// Opens a connection now, if none is kept: proxy, TLS, `AUTH`, `SELECT` and a `PING`
    /// under the deadline. Tells a proxy, TLS (a refused client certificate included) or
    /// `AUTH` problem at start-up rather than at the first command.
    pub async fn connect(&self) -> Result<(), Error> {
        self.connections.lease(Instant::now()).await.map(drop)
    }

    /// Caps each reply at `limit` bytes for connections opened from now on (default
    /// [`DEFAULT_MAX_REPLY_BYTES`](extsvc_tls::resp::DEFAULT_MAX_REPLY_BYTES), 64 MiB): a
    /// larger reply ends its connection with an error naming the limit, in bounded memory
    /// (see [`extsvc_tls::resp`]). Shared by the clones.
    pub fn with_max_reply_bytes(self, limit: usize) -> RedisClient {
        self.connections.set_max_reply_bytes(limit);
        self
    }

    /// Concurrent commands share writes on connections opened from now on (a cluster's
    /// nodes; see `coalesce`).
    pub(crate) fn with_coalesced_writes(self) -> RedisClient {
        self.connections.coalesce_writes();
        self
    }

    /// The reply limit in force.
    pub fn max_reply_bytes(&self) -> usize {
        self.connections.max_reply_bytes()
    }

    /// How many connections this client (and its clones) opened so far, to the target or
    /// through the proxy.
    pub fn connections_opened(&self) -> u64 {
        self.connections.opened()
    }

    /// The TLS version of the last connection opened to a `rediss://` target (`None`
    /// for `redis://`, or before the first connection).
    pub fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        self.connections.tls_version()
    }

    /// The extsvc [`Error`] inside a [`RedisError`] this client returned, when the failure
    /// was in extsvc's part (proxy, TLS, deadline, connection setup); `None` for Redis's
    /// own replies and errors of a kept connection.
    pub fn error_of(e: &RedisError) -> Option<&Error> {
        let io = connections::as_io_error(std::error::Error::source(e)?)?;
        io.get_ref()?.downcast_ref::<Error>()
    }

    fn connections_timeout(&self) -> std::time::Duration {
        self.connections.timeout()
    }

    /// A kept connection for one exchange that started at `started`.
    async fn lease(&self, started: Instant) -> RedisResult<Lease> {
        self.connections.lease(started).await.map_err(into_redis_error)
    }

    /// `sending`, an exchange on a connection watched by `watch`, within the deadline of
    /// a command that started at `started`: counted by the watch (no timer of its own),
    /// or, on a connection opened after the command started, under a timer from
    /// `started` (the watch would count from the connection's opening).
    async fn within_deadline<T>(
        &self,
        watch: &watch::Watch,
        started: Instant,
        sending: impl std::future::Future<Output = RedisResult<T>>,
    ) -> Result<RedisResult<T>, Late> {
        if watch.opened_after(started) {
            let deadline = crate::deadline::deadline_from(started, self.connections_timeout());
            return tokio::time::timeout_at(deadline, sending).await.map_err(|_| Late);
        }
        let _in_flight = watch.start(started);
        match sending.await {
            Err(_) if watch.expired() => Err(Late),
            answered => Ok(answered),
        }
    }

    /// The outcome of an exchange on `lease`: on a broken or silent connection, drops it
    /// for the next command (this one is not sent again).
    fn settle<T>(&self, lease: &Lease, outcome: Result<RedisResult<T>, Late>) -> RedisResult<T> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if e.is_unrecoverable_error() || e.is_io_error() || e.is_connection_dropped() {
                    self.connections.forget(lease);
                }
                Err(e)
            }
            Err(_) => {
                self.connections.forget(lease);
                Err(into_redis_error(
                    Error::timeout(Phase::ResponseHeaders, self.connections_timeout())
                        .with_target(&self.connections.target()),
                ))
            }
        }
    }
}

/// An exchange got no answer within its deadline.
struct Late;

impl RedisClient {
    /// Records one command's duration (`db.client.operation.duration`): ok, a timeout, or
    /// another failure. A server's error reply (`-ERR …`) is an answer: ok.
    fn record(&self, started: Instant, failure: Option<&RedisError>) {
        let instruments = &self.connections.instruments;
        let histogram = match failure {
            None => &instruments.ok,
            Some(e) if e.is_timeout() => &instruments.timed_out,
            Some(_) => &instruments.failed,
        };
        histogram.record(started.elapsed().as_secs_f64());
    }
}

/// Our error as redis-rs's: an I/O error (kind `TimedOut` for a deadline, so that
/// [`RedisError::is_timeout`] holds) that carries it.
pub(crate) fn into_redis_error(e: Error) -> RedisError {
    let kind = if e.is_timeout() {
        std::io::ErrorKind::TimedOut
    } else {
        std::io::ErrorKind::Other
    };
    RedisError::from(std::io::Error::new(kind, e))
}

impl ConnectionLike for RedisClient {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let started = Instant::now();
            let answered = async {
                let mut lease = self.lease(started).await?;
                let sending = lease.connection.send_packed_command(cmd);
                let outcome = self.within_deadline(&lease.watch, started, sending).await;
                self.settle(&lease, outcome)
            }
            .await;
            self.record(started, answered.as_ref().err());
            answered
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let started = Instant::now();
            let answered = async {
                let mut lease = self.lease(started).await?;
                let sending = lease.connection.send_packed_commands(pipeline, offset, count);
                let outcome = self.within_deadline(&lease.watch, started, sending).await;
                self.settle(&lease, outcome)
            }
            .await;
            self.record(started, answered.as_ref().err());
            answered
        })
    }

    fn get_db(&self) -> i64 {
        self.connections.database()
    }
}
