//! The kept connections of one [`RedisClient`](super::RedisClient): a few multiplexed
//! connections to one target, opened on demand through the storage [`StreamConnector`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, RedisConnectionInfo, RedisError};
use extsvc_resolve::PoolSettings;
use extsvc_tls::resp::{reply_too_large_in, BoundedReplies, ServerWords, DEFAULT_MAX_REPLY_BYTES};
use http::Uri;
use tokio::time::Instant;

use crate::connect::rustls_error;
use crate::error::{Error, ErrorKind, Phase};
use crate::instruments::RedisInstruments;
use crate::io::ConnectionInfo;
use crate::stream::StreamConnector;

use super::coalesce::Coalescing;
use super::watch::Watch;

/// The most connections one target gets: each is multiplexed (redis-rs pipelines every
/// caller's commands onto it), so a handful carries any concurrency a gateway has;
/// more only spreads the same load over more sockets.
pub(super) const MAX_KEPT: usize = 1;

/// How many connections to keep for a service's pool settings: [`MAX_KEPT`], or fewer
/// when the row allows fewer open or idle connections (never zero).
pub(super) fn kept_connections(pool: &PoolSettings) -> usize {
    MAX_KEPT.min(pool.max_connections).min(pool.max_idle_per_host).max(1)
}

/// A connection in use: the clone of a kept connection and its [`Watch`] (the commands'
/// deadline, and what tells the set that it broke).
pub(super) struct Lease {
    pub(super) connection: MultiplexedConnection,
    pub(super) watch: Arc<Watch>,
}

/// One kept connection: the multiplexed handle, its watch (closed when its driver task
/// ends: the server or the proxy closed it, it broke, or a command on it got no answer
/// in time), and when it was last used.
struct Kept {
    connection: MultiplexedConnection,
    watch: Arc<Watch>,
    last_used: Instant,
}

#[derive(Default)]
struct Slot {
    kept: Mutex<Option<Kept>>,
    /// Held while the slot's connection is being opened, so that concurrent callers wait
    /// for that one rather than each opening their own.
    opening: tokio::sync::Mutex<()>,
}

impl Slot {
    /// A clone of the kept connection when it is alive and was used within `idle_timeout`;
    /// otherwise the slot is emptied (dropping the last handle closes the connection once
    /// its commands in flight are answered).
    fn live(&self, now: Instant, idle_timeout: Duration) -> Option<Lease> {
        let mut kept = self.kept.lock().expect("a slot's lock is never held across a panic");
        match kept.as_mut() {
            Some(k) if !k.watch.is_closed() && now.saturating_duration_since(k.last_used) <= idle_timeout => {
                k.last_used = k.last_used.max(now);
                Some(Lease {
                    connection: k.connection.clone(),
                    watch: k.watch.clone(),
                })
            }
            _ => {
                *kept = None;
                None
            }
        }
    }
}

/// The kept connections to one target.
pub(super) struct Connections {
    connector: StreamConnector,
    /// `redis://host:port` or `rediss://host:port`: never credentials.
    target: Uri,
    /// The same, for messages (without the `/` that `Uri` shows).
    target_name: String,
    /// Credentials and database for the setup of each connection. Never printed.
    info: RedisConnectionInfo,
    slots: Box<[Slot]>,
    next: AtomicUsize,
    idle_timeout: Duration,
    opened: AtomicU64,
    /// The TLS version of the last connection opened to a `rediss://` target.
    tls_version: Mutex<Option<rustls::ProtocolVersion>>,
    /// The largest reply a connection reads ([`BoundedReplies`]).
    max_reply_bytes: AtomicUsize,
    /// Concurrent commands share writes ([`Coalescing`]): a cluster's nodes.
    coalesce_writes: std::sync::atomic::AtomicBool,
    /// Metrics of this node (`docs/observability.md`).
    pub(super) instruments: RedisInstruments,
}

impl Connections {
    pub(super) fn new(
        connector: StreamConnector,
        target: Uri,
        info: RedisConnectionInfo,
        pool: &PoolSettings,
    ) -> Connections {
        let instruments = RedisInstruments::new(target.authority().map_or("", |a| a.as_str()));
        Connections {
            connector,
            target_name: format!(
                "{}://{}",
                target.scheme_str().unwrap_or("redis"),
                target.authority().map_or("", |a| a.as_str())
            ),
            target,
            info,
            slots: (0..kept_connections(pool)).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
            idle_timeout: pool.idle_timeout,
            opened: AtomicU64::new(0),
            tls_version: Mutex::new(None),
            max_reply_bytes: AtomicUsize::new(DEFAULT_MAX_REPLY_BYTES),
            coalesce_writes: std::sync::atomic::AtomicBool::new(false),
            instruments,
        }
    }

    /// `redis://host:port` or `rediss://host:port`.
    pub(super) fn target(&self) -> &str {
        &self.target_name
    }

    pub(super) fn database(&self) -> i64 {
        self.info.db()
    }

    /// The deadline of one exchange (the storage service's timeout).
    pub(super) fn timeout(&self) -> Duration {
        self.connector.timeout()
    }

    pub(super) fn max_reply_bytes(&self) -> usize {
        self.max_reply_bytes.load(Ordering::Relaxed)
    }

    /// Connections opened from now on read replies of at most `limit` bytes.
    pub(super) fn set_max_reply_bytes(&self, limit: usize) {
        self.max_reply_bytes.store(limit, Ordering::Relaxed);
    }

    /// Connections opened from now on let concurrent commands share writes.
    pub(super) fn coalesce_writes(&self) {
        self.coalesce_writes.store(true, Ordering::Relaxed);
    }

    pub(super) fn kept(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    pub(super) fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        *self.tls_version.lock().expect("never held across a panic")
    }

    /// A connection for one command that started at `started`, round robin over the
    /// slots; an empty, closed or long-idle slot gets a new connection first, all of it
    /// within the command's deadline.
    pub(super) async fn lease(&self, started: Instant) -> Result<Lease, Error> {
        let slot = match self.slots.len() {
            1 => &self.slots[0],
            n => &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % n],
        };
        if let Some(lease) = slot.live(started, self.idle_timeout) {
            return Ok(lease);
        }
        let timeout = self.connector.timeout();
        let deadline = crate::deadline::deadline_from(started, timeout);
        let _opening = tokio::time::timeout_at(deadline, slot.opening.lock())
            .await
            .map_err(|_| Error::timeout(Phase::PoolWait, timeout).with_target(&self.target_name))?;
        if let Some(lease) = slot.live(Instant::now(), self.idle_timeout) {
            return Ok(lease);
        }
        let (connection, watch) = self.open(deadline).await?;
        let mut kept = slot.kept.lock().expect("a slot's lock is never held across a panic");
        *kept = Some(Kept {
            connection: connection.clone(),
            watch: watch.clone(),
            last_used: Instant::now(),
        });
        Ok(Lease { connection, watch })
    }

    /// Opens one connection: the stream through the connector (proxy, TLS), then
    /// redis-rs's setup (`AUTH`, `SELECT`) and a `PING`. The `PING` completes the
    /// handshake: with TLS 1.3 a server refuses the client certificate only after the
    /// client's side of the handshake is done, so the refusal arrives on the first read
    /// and is reported here as a `tls` error, not later as a broken pipe.
    async fn open(&self, deadline: Instant) -> Result<(MultiplexedConnection, Arc<Watch>), Error> {
        let timeout = self.connector.timeout();
        let remaining = deadline.saturating_duration_since(Instant::now());
        let stream = self
            .connector
            .clone()
            .with_timeout(remaining)
            .connect(self.target.clone())
            .await
            .inspect_err(|e| {
                // Opened all the same when it failed after the TCP connect (proxy TLS,
                // CONNECT, TLS).
                if e.connected_before_failing() {
                    self.opened.fetch_add(1, Ordering::Relaxed);
                }
            })?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        if let Some(version) = stream.connected().tls_version {
            *self.tls_version.lock().expect("never held across a panic") = Some(version);
        }
        let watch = Arc::new(Watch::new(timeout));
        let coalescing = Coalescing::new(stream, watch.clone(), self.coalesce_writes.load(Ordering::Relaxed));
        let stream = BoundedReplies::new(coalescing, self.max_reply_bytes());
        let words = stream.server_words();
        let setup = async {
            // The deadline is ours (the watch's, per command); redis-rs's own timeouts,
            // a timer per command, stay off.
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(None)
                .set_response_timeout(None);
            let (mut connection, driver) = MultiplexedConnection::new_with_config(&self.info, stream, config).await?;
            let watched = watch.clone();
            let closed_counter = self.instruments.closed.clone();
            tokio::spawn(async move {
                // A late command ends the connection: its driver (and the stream) is
                // dropped, and every command on it fails.
                tokio::select! {
                    () = driver => {}
                    () = watched.until_a_command_is_late() => {}
                }
                watched.close();
                closed_counter.increment(1);
            });
            ::redis::cmd("PING").query_async::<()>(&mut connection).await?;
            Ok::<_, RedisError>((connection, watch))
        };
        match tokio::time::timeout_at(deadline, setup).await {
            Ok(Ok(opened)) => {
                self.instruments.opened.increment(1);
                Ok(opened)
            }
            Ok(Err(e)) => Err(setup_error(e, &words).with_target(&self.target_name)),
            Err(_) => Err(Error::timeout(Phase::ResponseHeaders, timeout).with_target(&self.target_name)),
        }
    }

    /// After a command on `lease` failed in a way that leaves its connection unusable
    /// (closed, broken, or silent past the deadline): empty its slot, so that the next
    /// command opens a new connection. The failed command is not sent again.
    pub(super) fn forget(&self, lease: &Lease) {
        lease.watch.close();
    }
}

/// The setup of a connection failed: a TLS alert (the server refused the client
/// certificate), or Redis refused `AUTH`/`SELECT` (or refused the client at once, as
/// protected mode does: `words` then holds its answer, which a "broken pipe" would hide),
/// a reply past the limit, or the connection broke.
fn setup_error(e: RedisError, words: &ServerWords) -> Error {
    if let Some(alert) = tls_alert_in(&e) {
        let message = if crate::connect::refuses_client_certificate(alert) {
            format!(
                "the Redis server ended the TLS session with alert {alert:?}; with TLS 1.3 this is how \
                 a server refuses the client certificate (check the storage service's mTLS cert_file / cert_id)"
            )
        } else {
            format!("the Redis server ended the TLS session with alert {alert:?}")
        };
        return Error::new(ErrorKind::Tls, message)
            .with_phase(Phase::Tls)
            .with_source(e);
    }
    if let Some(too_large) = reply_too_large_in(&e) {
        return Error::new(ErrorKind::Redis, too_large.to_string());
    }
    if e.is_io_error() || e.is_connection_dropped() {
        if let Some(said) = words.get() {
            return Error::new(
                ErrorKind::Redis,
                format!(
                    "the Redis connection setup failed: the connection broke after the server answered: {}",
                    extsvc_config::escaped(&said)
                ),
            );
        }
    }
    // The server's words, capped and escaped like all peer text; not kept as the source,
    // whose Display would append them raw.
    Error::new(
        ErrorKind::Redis,
        format!(
            "the Redis connection setup (AUTH, SELECT, PING) failed: {}",
            extsvc_config::escaped(&e.to_string())
        ),
    )
}

/// The TLS alert the server sent, when that is what ended the setup.
fn tls_alert_in(e: &RedisError) -> Option<rustls::AlertDescription> {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(rustls::Error::AlertReceived(alert)) = as_io_error(cause).and_then(rustls_error) {
            return Some(*alert);
        }
        source = cause.source();
    }
    None
}

/// `cause` as an I/O error: redis-rs keeps its causes in an `Arc<dyn Error>`, which is
/// what its `source()` gives.
pub(super) fn as_io_error<'e>(cause: &'e (dyn std::error::Error + 'static)) -> Option<&'e std::io::Error> {
    type Shared = Arc<dyn std::error::Error + Send + Sync>;
    cause.downcast_ref::<std::io::Error>().or_else(|| {
        cause
            .downcast_ref::<Shared>()
            .and_then(|inner| inner.downcast_ref::<std::io::Error>())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storage_row_keeps_max_kept_connections_and_never_zero() {
        let storage = PoolSettings::for_service(extsvc_config::ServiceKind::Storage);
        assert_eq!(
            (storage.max_connections, storage.max_idle_per_host, storage.idle_timeout),
            (50, 15, Duration::from_secs(90))
        );
        assert_eq!(kept_connections(&storage), MAX_KEPT);
        let small = PoolSettings::new(50, 1, storage.idle_timeout);
        assert_eq!(kept_connections(&small), 1);
        let none = PoolSettings::new(0, 0, storage.idle_timeout);
        assert_eq!(kept_connections(&none), 1);
    }
}
