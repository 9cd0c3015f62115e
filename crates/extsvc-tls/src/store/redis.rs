//! `RedisStore`: certificates in Redis, as Tyk keeps its certificate store.
//!
//! Key `<prefix>raw-<id>` holds the PEM bundle (CERTIFICATE blocks, and a PRIVATE KEY for a
//! client certificate). The prefix is `cert-` by default, as in a Tyk gateway's own store
//! ([`DEFAULT_KEY_PREFIX`], [`RedisStore::with_key_prefix`]).
//!
//! redis-rs speaks the protocol (its `MultiplexedConnection`: `AUTH`, `SELECT`, `GET`) over a
//! connection that a [`RedisConnector`] opens, so that it can go through a proxy or TLS
//! connector; [`TcpRedisConnector`] is a plain TCP connection. One connection per lookup: lookups
//! happen at build time and once per refresh interval. (extsvc-client's `RedisClient` keeps
//! connections; this crate sits below it, so the store takes any connector instead.)

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, RedisConnectionInfo, RedisError};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};

use super::certificate_store::{check_id, CertificateStore, StoreFuture};
use crate::error::StoreError;
use crate::pem::{parse_certificates, ClientCertificate};
use crate::resp::{reply_too_large_in, BoundedReplies};

/// The key prefix of a Tyk gateway's certificate store: id `X` lives at `cert-raw-X`.
#[doc(hidden)]
pub const DEFAULT_KEY_PREFIX: &str = "cert-";

/// The largest entry read: 1 MiB, as for certificate files
/// ([`extsvc_config::internal::PEM_FILE_LIMIT`]).
const ENTRY_LIMIT: usize = extsvc_config::internal::PEM_FILE_LIMIT as usize;

/// Room for the framing of a `GET` reply (and of the setup's replies) around an entry.
const REPLY_FRAMING: usize = 4096;

/// How long one answer (to `AUTH`, `SELECT` or `GET`) may take; callers bound the whole
/// lookup with their own deadline too.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a connection to Redis. Implemented for [`TcpRedisConnector`] and for any
/// `Fn() -> impl Future<Output = io::Result<S>>` closure.
pub trait RedisConnector: Send + Sync + 'static {
    /// The connection.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Opens a connection.
    fn connect(&self) -> Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send + '_>>;

    /// Where it connects, for messages (`redis 127.0.0.1:6379`).
    fn describe(&self) -> String;
}

/// A plain TCP connection to `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRedisConnector {
    address: String,
}

impl TcpRedisConnector {
    /// Connects to `address` (`host:port`).
    pub fn new(address: impl Into<String>) -> Self {
        TcpRedisConnector {
            address: address.into(),
        }
    }
}

impl RedisConnector for TcpRedisConnector {
    type Stream = tokio::net::TcpStream;

    fn connect(&self) -> Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send + '_>> {
        Box::pin(tokio::net::TcpStream::connect(self.address.as_str()))
    }

    fn describe(&self) -> String {
        format!("redis {}", self.address)
    }
}

impl<F, Fut, S> RedisConnector for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<S>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = S;

    fn connect(&self) -> Pin<Box<dyn Future<Output = io::Result<S>> + Send + '_>> {
        Box::pin(self())
    }

    fn describe(&self) -> String {
        "redis (custom connector)".to_owned()
    }
}

/// A client that redis-rs commands run on, shared by every lookup (the gateway's own
/// storage client, for instance): a fresh handle per lookup.
type SharedConnection = std::sync::Arc<dyn Fn() -> Box<dyn ConnectionLike + Send> + Send + Sync>;

/// Where lookups go: a connection of their own each, or a shared client.
enum Backend<C> {
    Connector(C),
    Shared(SharedConnection),
}

/// Credentials for `AUTH`. Debug shows the user only.
#[derive(Clone)]
struct Auth {
    user: Option<String>,
    password: String,
}

/// A certificate store in Redis, as Tyk keeps its certificate store.
///
/// Key `<prefix>raw-<id>` holds the PEM bundle (CERTIFICATE blocks, and a PRIVATE KEY for a
/// client certificate); the prefix is `cert-` by default, as Tyk's gateway keeps its store
/// (id `X` at `cert-raw-X`; [`RedisStore::with_key_prefix`] changes it, `""` for none).
/// redis-rs (`AUTH`, `SELECT`, `GET`) talks over connections that a
/// [`RedisConnector`] opens — plain TCP by default, or anything `AsyncRead + AsyncWrite`
/// (TLS, a proxy tunnel) through [`RedisStore::with_connector`]. One connection per lookup.
pub struct RedisStore<C: RedisConnector = TcpRedisConnector> {
    backend: Backend<C>,
    auth: Option<Auth>,
    database: Option<u32>,
    key_prefix: String,
}

impl<C: RedisConnector> fmt::Debug for RedisStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("connector", &self.describe())
            .field("user", &self.auth.as_ref().and_then(|a| a.user.as_deref()))
            .field("password", &self.auth.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

impl RedisStore<TcpRedisConnector> {
    /// A store over a plain TCP connection to `address` (`host:port`).
    pub fn new(address: impl Into<String>) -> Self {
        RedisStore::with_connector(TcpRedisConnector::new(address))
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]` (see [`RedisUrl`]).
    /// `rediss://` needs a TLS connection: use [`RedisStore::with_connector`].
    pub fn from_url(url: &str) -> Result<Self, InvalidRedisUrl> {
        let url = RedisUrl::parse(url)?;
        if url.tls {
            return Err(InvalidRedisUrl {
                reason: "rediss:// needs a TLS connector (RedisStore::with_connector)",
            });
        }
        let mut store = RedisStore::new(url.address());
        if let Some(password) = &url.password {
            store = store.with_auth(url.user.as_deref(), password);
        }
        store.database = url.database;
        Ok(store)
    }
}

/// A parsed `redis://[[user]:password@]host[:port][/db]` or `rediss://…` URL.
///
/// Credentials are percent-decoded; `Debug` shows the password as `***`. The port
/// defaults to 6379. Shared by [`RedisStore::from_url`] and `extsvc probe`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisUrl {
    /// `rediss://`: TLS to the server.
    pub tls: bool,
    /// The host as written (IPv6 literals in brackets).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The user name (Redis 6 ACL), if any.
    pub user: Option<String>,
    /// The password, if any.
    pub password: Option<String>,
    /// The database number (`/db`), if any.
    pub database: Option<u32>,
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisUrl")
            .field("tls", &self.tls)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .finish()
    }
}

impl RedisUrl {
    /// Parses the URL. The userinfo is everything before the *last* `@`, so a password
    /// may contain `/`, `:` or `@`.
    pub fn parse(url: &str) -> Result<RedisUrl, InvalidRedisUrl> {
        let invalid = |reason: &'static str| InvalidRedisUrl { reason };
        let (tls, rest) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("redis") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("rediss") => (true, rest),
            _ => return Err(invalid("expected redis://host[:port][/db] or rediss://…")),
        };
        let (credentials, after) = match rest.rsplit_once('@') {
            Some((credentials, after)) => (Some(credentials), after),
            None => (None, rest),
        };
        let (host_port, path) = after.split_once('/').unwrap_or((after, ""));
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let (addr, tail) = v6.split_once(']').ok_or_else(|| invalid("unterminated IPv6 address"))?;
            let port = match tail {
                "" => None,
                _ => Some(
                    tail.strip_prefix(':')
                        .ok_or_else(|| invalid("unexpected text after the IPv6 address"))?,
                ),
            };
            (format!("[{addr}]"), port)
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (host_port.to_owned(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(invalid("no host"));
        }
        // A host is a name, an IPv4 address or a bracketed IPv6 address; anything else
        // (e.g. a password typed where the host belongs, `redis://:s3cret`) is refused
        // with fixed words, so no part of the URL is ever echoed.
        let host_chars_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '%')),
            None => host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')),
        };
        if !host_chars_ok {
            return Err(invalid("the host has characters a host name cannot have"));
        }
        let port = match port {
            None => 6379,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port != 0 => port,
                _ => return Err(invalid("the port must be a number from 1 to 65535")),
            },
        };
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| invalid("the credentials are not UTF-8 after percent-decoding"))
        };
        let (user, password) = match credentials {
            None => (None, None),
            Some(credentials) => {
                let (user, password) = credentials.split_once(':').unwrap_or(("", credentials));
                let user = (!user.is_empty()).then(|| decode(user)).transpose()?;
                (user, Some(decode(password)?))
            }
        };
        let path = path.trim_end_matches('/');
        let database = if path.is_empty() {
            None
        } else {
            Some(path.parse().map_err(|_| invalid("the database must be a number"))?)
        };
        Ok(RedisUrl {
            tls,
            host,
            port,
            user,
            password,
            database,
        })
    }

    /// `host:port`, to connect to.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The URL without credentials or database (`redis://host:port`), e.g. for a
    /// connector that must never see the password.
    pub fn without_credentials(&self) -> String {
        format!(
            "{}://{}:{}",
            if self.tls { "rediss" } else { "redis" },
            self.host,
            self.port
        )
    }
}

/// A `redis://` URL that [`RedisStore::from_url`] cannot use. The message never repeats
/// the URL (it may hold a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Redis URL: {reason}")]
pub struct InvalidRedisUrl {
    reason: &'static str,
}

impl<C: RedisConnector> RedisStore<C> {
    /// A store over connections that `connector` opens (through a proxy, over TLS, …).
    pub fn with_connector(connector: C) -> Self {
        RedisStore {
            backend: Backend::Connector(connector),
            auth: None,
            database: None,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
        }
    }

    /// Sends `AUTH [user] password` on each connection.
    pub fn with_auth(mut self, user: Option<&str>, password: &str) -> Self {
        self.auth = Some(Auth {
            user: user.map(str::to_owned),
            password: password.to_owned(),
        });
        self
    }

    /// Sends `SELECT database` on each connection.
    pub fn with_database(mut self, database: u32) -> Self {
        self.database = Some(database);
        self
    }

    /// Sets the prefix of every key (default [`DEFAULT_KEY_PREFIX`], `cert-`: id `x` is read
    /// from `cert-raw-x`); `""` reads `raw-x`.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The key that holds `id`.
    pub fn key_of(&self, id: &str) -> String {
        format!("{}raw-{id}", self.key_prefix)
    }

    /// Where lookups go, for messages.
    fn describe(&self) -> String {
        match &self.backend {
            Backend::Connector(connector) => connector.describe(),
            Backend::Shared(_) => "redis (the storage client)".to_owned(),
        }
    }

    /// The PEM bundle under `id`.
    async fn get(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        check_id(id)?;
        let connector = match &self.backend {
            Backend::Connector(connector) => connector,
            Backend::Shared(connection) => return self.get_shared(id, connection().as_mut()).await,
        };
        let io_error = |source: io::Error| StoreError::Io {
            id: id.to_owned(),
            location: connector.describe(),
            cause: source,
        };
        let backend = |message: String| StoreError::Backend {
            id: id.to_owned(),
            message,
        };
        let stream = connector.connect().await.map_err(io_error)?;
        // Entries are capped like certificate files; the framing of the reply around the
        // value needs a little more.
        let stream = BoundedReplies::new(stream, ENTRY_LIMIT + REPLY_FRAMING);
        let words = stream.server_words();
        let mut info = RedisConnectionInfo::default().set_db(self.database.map_or(0, i64::from));
        if let Some(auth) = &self.auth {
            if let Some(user) = &auth.user {
                info = info.set_username(user);
            }
            info = info.set_password(&auth.password);
        }
        let config = AsyncConnectionConfig::new().set_response_timeout(Some(ANSWER_TIMEOUT));
        let too_large = || StoreError::TooLarge {
            id: id.to_owned(),
            limit: ENTRY_LIMIT,
        };
        let redis_error = |what: &str, e: RedisError| {
            if let Some(refused) = reply_too_large_in(&e) {
                if refused.is_size() {
                    too_large()
                } else {
                    backend(format!("{what} failed: {refused}"))
                }
            } else if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                match words.get() {
                    // What the server said before the connection broke (protected mode's
                    // `-DENIED …`, then close) is the cause that "broken pipe" hides.
                    Some(said) if !e.is_timeout() => backend(format!(
                        "{what} failed: the connection broke after the server answered: {said}"
                    )),
                    _ => io_error(io::Error::other(e)),
                }
            } else {
                backend(format!("{what} failed: {e}"))
            }
        };
        let setup = if self.auth.is_some() { "AUTH" } else { "SELECT" };
        let (mut connection, driver) = MultiplexedConnection::new_with_config(&info, stream, config)
            .await
            .map_err(|e| redis_error(setup, e))?;
        // The connection's reader and writer; it ends when `connection` is dropped.
        tokio::spawn(driver);
        let key = self.key_of(id);
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .map_err(|e| redis_error(&format!("GET {key}"), e))?;
        let value = value.ok_or_else(|| StoreError::NotFound { id: id.to_owned() })?;
        if value.len() as u64 > ENTRY_LIMIT as u64 {
            return Err(too_large());
        }
        Ok(value)
    }
}

impl<C: RedisConnector> RedisStore<C> {
    /// The PEM bundle under `id` through a shared client: `EXISTS` and `GETRANGE` of at
    /// most one byte past the limit, in one round trip, so an entry over 1 MiB is refused
    /// without being read (the client's own reply limit bounds the rest).
    async fn get_shared(&self, id: &str, connection: &mut (dyn ConnectionLike + Send)) -> Result<Vec<u8>, StoreError> {
        let key = self.key_of(id);
        let mut pipe = redis::pipe();
        pipe.cmd("EXISTS")
            .arg(&key)
            .cmd("GETRANGE")
            .arg(&key)
            .arg(0)
            .arg(ENTRY_LIMIT);
        let answered = connection.req_packed_commands(&pipe, 0, 2).await.and_then(|values| {
            let [exists, value]: [redis::Value; 2] = values
                .try_into()
                .map_err(|_| RedisError::from(io::Error::other("not two answers to two commands")))?;
            let exists = <u64 as redis::FromRedisValue>::from_redis_value(exists.extract_error()?)?;
            let value = <Vec<u8> as redis::FromRedisValue>::from_redis_value(value.extract_error()?)?;
            Ok((exists, value))
        });
        let (exists, value) = answered.map_err(|e| {
            if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                StoreError::Io {
                    id: id.to_owned(),
                    location: self.describe(),
                    cause: io::Error::other(e),
                }
            } else {
                StoreError::Backend {
                    id: id.to_owned(),
                    message: format!("GET {key} failed: {e}"),
                }
            }
        })?;
        if exists == 0 {
            return Err(StoreError::NotFound { id: id.to_owned() });
        }
        if value.len() > ENTRY_LIMIT {
            return Err(StoreError::TooLarge {
                id: id.to_owned(),
                limit: ENTRY_LIMIT,
            });
        }
        Ok(value)
    }
}

impl RedisStore<TcpRedisConnector> {
    /// A store whose lookups run on `connection`, a redis-rs client shared with other
    /// users — the gateway's own storage client (`ExternalServices::storage_redis()`), so
    /// that a Cluster or Sentinel deployment's certificates load through the same
    /// topology, proxy and TLS. Credentials and database are the client's.
    pub fn with_connection<K>(connection: K) -> RedisStore
    where
        K: ConnectionLike + Clone + Send + Sync + 'static,
    {
        RedisStore {
            backend: Backend::Shared(std::sync::Arc::new(move || Box::new(connection.clone()))),
            auth: None,
            database: None,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
        }
    }
}

impl<C: RedisConnector> CertificateStore for RedisStore<C> {
    fn client_certificate<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ClientCertificate> {
        Box::pin(async move {
            let pem = self.get(id).await?;
            ClientCertificate::from_pem(&pem).map_err(|source| StoreError::InvalidEntry {
                id: id.to_owned(),
                cause: source,
            })
        })
    }

    fn ca_certificates<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<CertificateDer<'static>>> {
        Box::pin(async move {
            let pem = self.get(id).await?;
            parse_certificates(&pem).map_err(|source| StoreError::InvalidEntry {
                id: id.to_owned(),
                cause: source,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_that_cannot_be_one_is_refused_without_echoing_it() {
        for url in [
            "redis://:s3cret",
            "redis://:s3cret:6379",
            "redis://pa ss:6379",
            "redis://[::1x]:6379",
        ] {
            let error = RedisUrl::parse(url).unwrap_err().to_string();
            assert!(!error.contains("s3cret") && !error.contains("pa ss"), "{url}: {error}");
        }
        for ok in [
            "redis://redis.internal:6379",
            "rediss://10.0.0.1",
            "redis://[::1]:6380/2",
            "redis://my_host",
        ] {
            assert!(RedisUrl::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn urls_parse_and_never_show_the_password() {
        let store = RedisStore::from_url("redis://:s3cret@127.0.0.1:6390/2").unwrap();
        let debug = format!("{store:?}");
        assert!(debug.contains("127.0.0.1:6390") && debug.contains("Some(2)"), "{debug}");
        assert!(!debug.contains("s3cret"), "{debug}");
        let store = RedisStore::from_url("redis://user:pw@localhost").unwrap();
        assert!(format!("{store:?}").contains("localhost:6379"));
        assert_eq!(store.auth.as_ref().unwrap().user.as_deref(), Some("user"));
        assert!(RedisStore::from_url("rediss://h").is_err());
        assert!(RedisStore::from_url("http://h").is_err());
        let error = RedisStore::from_url("redis://:pw@h/x").unwrap_err();
        assert!(!error.to_string().contains("pw"));
        assert_eq!(
            RedisStore::new("h:1").with_key_prefix("cert-").key_of("abc"),
            "cert-raw-abc"
        );
    }

    #[test]
    fn urls_keep_passwords_with_slashes_and_at_signs_whole() {
        let url = RedisUrl::parse("redis://gw:p%2Fa@ss/w@redis.internal:6380/2").unwrap();
        assert_eq!(
            (url.tls, url.host.as_str(), url.port, url.user.as_deref(), url.database),
            (false, "redis.internal", 6380, Some("gw"), Some(2))
        );
        assert_eq!(url.password.as_deref(), Some("p/a@ss/w"));
        assert!(!format!("{url:?}").contains("ss/w"));
        assert_eq!(url.without_credentials(), "redis://redis.internal:6380");

        let url = RedisUrl::parse("rediss://:secret@[::1]").unwrap();
        assert_eq!(
            (url.tls, url.host.as_str(), url.port, url.user.clone()),
            (true, "[::1]", 6379, None)
        );
        assert_eq!(url.address(), "[::1]:6379");

        for bad in [
            "http://h",
            "redis://",
            "redis://h:notaport",
            "redis://h/x",
            "redis://[::1",
            "redis://h:0",
            "redis://[::1]junk",
        ] {
            let err = RedisUrl::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid Redis URL: "), "{bad}: {err}");
        }
        assert!(RedisStore::from_url("rediss://h").is_err());
    }
}
