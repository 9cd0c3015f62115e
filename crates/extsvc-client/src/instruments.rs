//! The client's metrics, through the `metrics` crate facade: their names (OpenTelemetry's
//! HTTP semantic conventions, plus `extsvc.pool.*`), their label sets, and the handles
//! the pool and the client record into.
//!
//! Label sets are built once per pool key (`KeyInstruments`) and registered with the
//! recorder then; a request records into handles it already has (the request-duration
//! handle of a (method, status or error) pair is registered the first time the pair is
//! seen on that key, then found in a short list read without a lock). Handles are registered on first use,
//! during requests, on whatever thread runs them: install a global recorder
//! (`metrics::set_global_recorder`) before the first request, e.g. before building the
//! clients; a scoped one (`metrics::with_local_recorder`) records only where it is in place
//! when a host or a (method, status) pair is first seen.
//!
//! Cardinality is bounded: `extsvc.service` (5 values), `extsvc.route` (`direct` or one
//! of the service's two proxies), `server.address` (the first
//! [`MAX_SERVER_ADDRESSES`] target hosts of a client, then `_OTHER`), method (the nine
//! standard ones, else `_OTHER`), status code (the 62 of [`LABELLED_STATUS_CODES`], else
//! `_OTHER`), `error.type` (the client's error kinds or a status code label ≥ 400),
//! `extsvc.close_reason` (`peer_closed`, `idle_timeout`, `lifetime`, `evicted`,
//! `idle_limit`, `not_reusable`, `rotated`). See `docs/observability.md`.
//!
//! The metric names are constants here; the label names are the strings above (their
//! constants are hidden: they serve the workspace's own tests, not a user's code).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use extsvc_config::ProxyUrl;
use metrics::{Counter, Gauge, Histogram, Label, SharedString, Unit};

use crate::pool::key::PoolKey;
use crate::route::RouteKey;

/// `http.client.open_connections`: gauge, connections now, by `http.connection.state`.
pub const OPEN_CONNECTIONS: &str = "http.client.open_connections";
/// `http.client.connection.duration`: histogram, seconds from set up to closed.
pub const CONNECTION_DURATION: &str = "http.client.connection.duration";
/// `http.client.request.duration`: histogram, seconds from the call to the response
/// headers (or the error).
pub const REQUEST_DURATION: &str = "http.client.request.duration";
/// `extsvc.pool.wait.duration`: histogram, seconds a request waited for a connection or
/// a slot (0 when one was free).
pub const POOL_WAIT_DURATION: &str = "extsvc.pool.wait.duration";
/// `extsvc.pool.connections.opened`: counter, connections set up and handed to the pool.
pub const CONNECTIONS_OPENED: &str = "extsvc.pool.connections.opened";
/// `extsvc.pool.connections.closed`: counter, connections closed, by `extsvc.close_reason`.
pub const CONNECTIONS_CLOSED: &str = "extsvc.pool.connections.closed";

/// `db.client.operation.duration`: histogram, seconds of one Redis command or pipeline
/// (connecting included when it had to), by `db.system.name`, `server.address` (the node)
/// and, on failure, `error.type`. OpenTelemetry's database client convention.
pub const DB_OPERATION_DURATION: &str = "db.client.operation.duration";
/// `extsvc.redis.connections.opened`: counter, connections to a Redis node set up
/// (through the proxy, TLS, `AUTH`, `SELECT`, `PING`), by `db.system.name` and
/// `server.address`.
pub const REDIS_CONNECTIONS_OPENED: &str = "extsvc.redis.connections.opened";
/// `extsvc.redis.connections.closed`: counter, connections to a Redis node that ended
/// (closed by the peer, broken, or dropped after an idle timeout or a failure).
pub const REDIS_CONNECTIONS_CLOSED: &str = "extsvc.redis.connections.closed";
/// Label of the Redis metrics: `redis`.
pub const LABEL_DB_SYSTEM: &str = "db.system.name";

/// Label: the service (`oauth`, `health`, `storage`, `discovery`, `webhooks`).
#[doc(hidden)]
pub const LABEL_SERVICE: &str = "extsvc.service";
/// Label: `direct`, or the proxy's `host:port` (never its credentials).
#[doc(hidden)]
pub const LABEL_ROUTE: &str = "extsvc.route";
/// Label: the target host (bounded, see [`MAX_SERVER_ADDRESSES`]).
#[doc(hidden)]
pub const LABEL_SERVER_ADDRESS: &str = "server.address";
/// Label of [`OPEN_CONNECTIONS`]: `idle` or `active`.
#[doc(hidden)]
pub const LABEL_CONNECTION_STATE: &str = "http.connection.state";
/// Label of [`REQUEST_DURATION`]: the request method.
#[doc(hidden)]
pub const LABEL_METHOD: &str = "http.request.method";
/// Label of [`REQUEST_DURATION`]: the response status, when there was a response.
#[doc(hidden)]
pub const LABEL_STATUS_CODE: &str = "http.response.status_code";
/// Label of [`REQUEST_DURATION`]: the error kind, or the status code when ≥ 400.
#[doc(hidden)]
pub const LABEL_ERROR_TYPE: &str = "error.type";
/// Label of [`CONNECTIONS_CLOSED`]: why the pool closed the connection.
#[doc(hidden)]
pub const LABEL_CLOSE_REASON: &str = "extsvc.close_reason";

/// How many distinct target hosts one client labels by name; later hosts share
/// `server.address="_OTHER"`, so a service that calls many hosts (webhooks) cannot
/// grow the number of series without bound.
#[doc(hidden)]
pub const MAX_SERVER_ADDRESSES: usize = 64;

/// The Redis nodes labelled by name so far, process-wide (at most
/// [`MAX_SERVER_ADDRESSES`]; later ones are `_OTHER`), so that a cluster whose `MOVED`
/// replies name ever new nodes cannot grow the number of series without bound.
#[cfg(feature = "redis")]
static REDIS_ADDRESSES: Mutex<Option<ServerAddresses>> = Mutex::new(None);

/// The handles of one Redis node client, registered once when the client is made.
#[cfg(feature = "redis")]
#[derive(Clone)]
pub(crate) struct RedisInstruments {
    pub(crate) ok: Histogram,
    pub(crate) failed: Histogram,
    pub(crate) timed_out: Histogram,
    pub(crate) opened: Counter,
    pub(crate) closed: Counter,
}

#[cfg(feature = "redis")]
impl RedisInstruments {
    /// For the node `address` (`host:port`, capped as above).
    pub(crate) fn new(address: &str) -> RedisInstruments {
        let server = {
            let mut named = REDIS_ADDRESSES.lock().unwrap_or_else(|e| e.into_inner());
            named.get_or_insert_with(ServerAddresses::default).label(address)
        };
        let labels = vec![
            Label::new(LABEL_DB_SYSTEM, SharedString::const_str("redis")),
            Label::new(LABEL_SERVER_ADDRESS, server),
        ];
        let with_error = |error: &'static str| {
            let mut labels = labels.clone();
            labels.push(Label::new(LABEL_ERROR_TYPE, SharedString::const_str(error)));
            metrics::histogram!(DB_OPERATION_DURATION, labels)
        };
        describe_redis();
        RedisInstruments {
            ok: metrics::histogram!(DB_OPERATION_DURATION, labels.clone()),
            failed: with_error("redis"),
            timed_out: with_error("timeout"),
            opened: metrics::counter!(REDIS_CONNECTIONS_OPENED, labels.clone()),
            closed: metrics::counter!(REDIS_CONNECTIONS_CLOSED, labels),
        }
    }
}

#[cfg(feature = "redis")]
fn describe_redis() {
    metrics::describe_histogram!(
        DB_OPERATION_DURATION,
        Unit::Seconds,
        "Duration of Redis commands and pipelines"
    );
    metrics::describe_counter!(REDIS_CONNECTIONS_OPENED, "Connections to Redis nodes set up");
    metrics::describe_counter!(REDIS_CONNECTIONS_CLOSED, "Connections to Redis nodes that ended");
}

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CloseReason {
    /// The peer closed it, or it failed (nothing in the pool decided to close it).
    PeerClosed = 0,
    /// Idle longer than the service's idle timeout.
    IdleTimeout,
    /// Older than `max_connection_lifetime`.
    Lifetime,
    /// Closed to make room under the cap for a waiter of another host.
    Evicted,
    /// Returned while the host already had `max_idle_per_host` idle connections.
    IdleLimit,
    /// Given up by the client: an error, a response body dropped before its end, a
    /// `407`, a `Connection: close` the server then acted on.
    NotReusable,
    /// Made with TLS material (client certificate or CA) that has since rotated: closed
    /// when idle, or after its exchange instead of being reused.
    Rotated,
}

impl CloseReason {
    const ALL: [CloseReason; 7] = [
        CloseReason::PeerClosed,
        CloseReason::IdleTimeout,
        CloseReason::Lifetime,
        CloseReason::Evicted,
        CloseReason::IdleLimit,
        CloseReason::NotReusable,
        CloseReason::Rotated,
    ];

    /// The label value: `peer_closed`, `idle_timeout`, `lifetime`, `evicted`,
    /// `idle_limit`, `not_reusable`, `rotated`.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::Lifetime => "lifetime",
            CloseReason::Evicted => "evicted",
            CloseReason::IdleLimit => "idle_limit",
            CloseReason::NotReusable => "not_reusable",
            CloseReason::Rotated => "rotated",
        }
    }

    pub(crate) fn from_u8(value: u8) -> CloseReason {
        CloseReason::ALL
            .get(usize::from(value))
            .copied()
            .unwrap_or(CloseReason::PeerClosed)
    }
}

/// The labels every metric of one client carries, built once per client: the service
/// and the name of each route.
#[derive(Debug, Clone)]
pub(crate) struct PoolLabels {
    service: SharedString,
    http_proxy: SharedString,
    https_proxy: SharedString,
}

impl Default for PoolLabels {
    /// For a pool outside a service client (tests, other clients): `extsvc.service` is
    /// `none`, proxied routes are `proxy`.
    fn default() -> PoolLabels {
        PoolLabels {
            service: SharedString::const_str("none"),
            http_proxy: SharedString::const_str("proxy"),
            https_proxy: SharedString::const_str("proxy"),
        }
    }
}

impl PoolLabels {
    /// The labels of `service`, whose routes go through these proxies (named by their
    /// `host:port`: a proxy URL's credentials never become a label).
    pub(crate) fn new(
        service: &'static str,
        http_proxy: Option<&ProxyUrl>,
        https_proxy: Option<&ProxyUrl>,
    ) -> PoolLabels {
        let name = |proxy: Option<&ProxyUrl>| match proxy {
            Some(proxy) => SharedString::from(proxy.authority()),
            None => SharedString::const_str("proxy"),
        };
        PoolLabels {
            service: SharedString::const_str(service),
            http_proxy: name(http_proxy),
            https_proxy: name(https_proxy),
        }
    }

    fn route(&self, route: RouteKey) -> SharedString {
        match route {
            RouteKey::Direct => SharedString::const_str("direct"),
            RouteKey::Proxy(extsvc_resolve::TargetScheme::Http) => self.http_proxy.clone(),
            RouteKey::Proxy(extsvc_resolve::TargetScheme::Https) => self.https_proxy.clone(),
        }
    }
}

/// Which target hosts got their own `server.address` so far (at most
/// [`MAX_SERVER_ADDRESSES`]).
#[derive(Debug, Default)]
pub(crate) struct ServerAddresses {
    named: HashSet<Box<str>>,
}

impl ServerAddresses {
    fn label(&mut self, host: &str) -> SharedString {
        let lower = host.to_ascii_lowercase();
        if self.named.contains(lower.as_str()) || self.named.len() < MAX_SERVER_ADDRESSES {
            self.named.insert(lower.clone().into_boxed_str());
            SharedString::from(lower)
        } else {
            SharedString::const_str("_OTHER")
        }
    }
}

/// The handles of one pool key, registered once when the pool first sees the key.
pub(crate) struct KeyInstruments {
    labels: Vec<Label>,
    pub(crate) idle: Gauge,
    pub(crate) active: Gauge,
    pub(crate) wait: Histogram,
    pub(crate) opened: Counter,
    closed: [Counter; 7],
    pub(crate) connection_duration: Histogram,
    /// Request-duration handles by (method, status or 0, error type): the first
    /// [`REQUEST_SLOTS`] pairs seen, filled in order and read without a lock (a request
    /// scans them with one atomic load each); later pairs in `more_requests`.
    requests: [OnceLock<(RequestLabels, Histogram)>; REQUEST_SLOTS],
    /// Taken to register a pair (filling `requests` in order) and for pairs beyond it.
    more_requests: Mutex<Vec<(RequestLabels, Histogram)>>,
}

/// Request-duration handles per key found without a lock: a service's usual
/// (method, status) pairs (a GET and a POST, a 200, a 201, a 401, a timeout…).
const REQUEST_SLOTS: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
struct RequestLabels {
    method: &'static str,
    /// A [`status_label`], `""` without a response.
    status: &'static str,
    error: Option<&'static str>,
}

impl KeyInstruments {
    pub(crate) fn new(labels: &PoolLabels, key: &PoolKey, addresses: &mut ServerAddresses) -> KeyInstruments {
        let base = vec![
            Label::new(LABEL_SERVICE, labels.service.clone()),
            Label::new(LABEL_ROUTE, labels.route(key.route())),
            Label::new(LABEL_SERVER_ADDRESS, addresses.label(key.host())),
        ];
        let with = |key: &'static str, value: SharedString| {
            let mut labels = base.clone();
            labels.push(Label::new(key, value));
            labels
        };
        KeyInstruments {
            idle: metrics::gauge!(OPEN_CONNECTIONS, with(LABEL_CONNECTION_STATE, "idle".into())),
            active: metrics::gauge!(OPEN_CONNECTIONS, with(LABEL_CONNECTION_STATE, "active".into())),
            wait: metrics::histogram!(POOL_WAIT_DURATION, base.clone()),
            opened: metrics::counter!(CONNECTIONS_OPENED, base.clone()),
            closed: CloseReason::ALL.map(|reason| {
                metrics::counter!(
                    CONNECTIONS_CLOSED,
                    with(LABEL_CLOSE_REASON, SharedString::const_str(reason.as_str()))
                )
            }),
            connection_duration: metrics::histogram!(CONNECTION_DURATION, base.clone()),
            requests: Default::default(),
            more_requests: Mutex::new(Vec::new()),
            labels: base,
        }
    }

    /// The counter of connections closed for `reason`.
    pub(crate) fn closed(&self, reason: CloseReason) -> &Counter {
        &self.closed[reason as usize]
    }

    /// Records one request: `status` for a response, else the error's kind.
    /// `method` is a [`method_label`].
    pub(crate) fn record_request(&self, method: &'static str, outcome: Result<u16, &'static str>, elapsed: Duration) {
        let status = outcome.map_or("", status_label);
        let key = RequestLabels {
            method,
            status,
            error: outcome.err(),
        };
        let seconds = elapsed.as_secs_f64();
        // The slots fill in order: the first empty one ends the pairs seen so far.
        for slot in &self.requests {
            match slot.get() {
                Some((k, histogram)) if *k == key => return histogram.record(seconds),
                Some(_) => {}
                None => break,
            }
        }
        let mut more = self
            .more_requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Under the lock: another request may have registered the pair meanwhile.
        let known = self
            .requests
            .iter()
            .filter_map(OnceLock::get)
            .chain(more.iter())
            .find(|(k, _)| *k == key);
        if let Some((_, histogram)) = known {
            return histogram.record(seconds);
        }
        let histogram = self.register_request(key, outcome);
        histogram.record(seconds);
        match self.requests.iter().find(|slot| slot.get().is_none()) {
            // Only filled under the lock, so the slot is still empty.
            Some(slot) => drop(slot.set((key, histogram))),
            None => more.push((key, histogram)),
        }
    }

    /// The request-duration handle of `key`, registered with the recorder in place now.
    fn register_request(&self, key: RequestLabels, outcome: Result<u16, &'static str>) -> Histogram {
        let mut labels = self.labels.clone();
        labels.push(Label::new(LABEL_METHOD, SharedString::const_str(key.method)));
        match outcome {
            Ok(code) => {
                labels.push(Label::new(LABEL_STATUS_CODE, SharedString::const_str(key.status)));
                if code >= 400 {
                    labels.push(Label::new(LABEL_ERROR_TYPE, SharedString::const_str(key.status)));
                }
            }
            Err(kind) => labels.push(Label::new(LABEL_ERROR_TYPE, SharedString::const_str(kind))),
        }
        metrics::histogram!(REQUEST_DURATION, labels)
    }
}

/// The method as a label: the nine standard ones by name, others `_OTHER` (as
/// OpenTelemetry asks, so that a caller's methods cannot grow the series).
pub(crate) fn method_label(method: &http::Method) -> &'static str {
    use http::Method as M;
    match *method {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::DELETE => "DELETE",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        M::PATCH => "PATCH",
        M::TRACE => "TRACE",
        M::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

/// The status codes labelled by number: those of the IANA HTTP status code registry that
/// an HTTP/1.1 client can receive as a final or informational response (RFC 9110, plus
/// 102, 103, 207, 208, 226, 421–429, 431, 451, 506–508, 510, 511). Sorted.
#[doc(hidden)]
pub const LABELLED_STATUS_CODES: [u16; 62] = [
    100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400,
    401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425,
    426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
];

/// The status as a label: a code of [`LABELLED_STATUS_CODES`] by number, any
/// other `_OTHER` — OpenTelemetry's rule for methods applied to codes, so that a target
/// answering arbitrary codes cannot grow the series.
pub(crate) fn status_label(code: u16) -> &'static str {
    // Every code 100..=599 as text, once; indexed by `code - 100`.
    const fn table() -> [[u8; 3]; 500] {
        let mut t = [[0u8; 3]; 500];
        let mut i = 0;
        while i < 500 {
            let n = i + 100;
            t[i] = [
                b'0' + (n / 100) as u8,
                b'0' + (n / 10 % 10) as u8,
                b'0' + (n % 10) as u8,
            ];
            i += 1;
        }
        t
    }
    static TEXT: [[u8; 3]; 500] = table();
    if LABELLED_STATUS_CODES.binary_search(&code).is_err() {
        return "_OTHER";
    }
    std::str::from_utf8(&TEXT[usize::from(code - 100)]).unwrap_or("_OTHER")
}

/// Describes the metrics (unit and help text) to the recorder installed now.
pub(crate) fn describe() {
    metrics::describe_gauge!(
        OPEN_CONNECTIONS,
        Unit::Count,
        "Connections open now, by http.connection.state (idle or active)"
    );
    metrics::describe_histogram!(
        CONNECTION_DURATION,
        Unit::Seconds,
        "How long connections were open, from set up to closed"
    );
    metrics::describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Duration of requests, from the call to the response headers or the error"
    );
    metrics::describe_histogram!(
        POOL_WAIT_DURATION,
        Unit::Seconds,
        "How long requests waited for a pooled connection or a free slot"
    );
    metrics::describe_counter!(CONNECTIONS_OPENED, Unit::Count, "Connections set up");
    metrics::describe_counter!(
        CONNECTIONS_CLOSED,
        Unit::Count,
        "Connections closed, by extsvc.close_reason"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_are_bounded_and_stable() {
        let mut addresses = ServerAddresses::default();
        for n in 0..MAX_SERVER_ADDRESSES {
            assert_eq!(
                &*addresses.label(&format!("host{n}.example")),
                format!("host{n}.example")
            );
        }
        assert_eq!(&*addresses.label("one-too-many.example"), "_OTHER");
        assert_eq!(
            &*addresses.label("HOST0.example"),
            "host0.example",
            "a known host keeps its label"
        );
        assert_eq!(addresses.named.len(), MAX_SERVER_ADDRESSES);
    }

    #[test]
    fn methods_outside_the_standard_nine_share_one_label() {
        assert_eq!(method_label(&http::Method::PATCH), "PATCH");
        let custom = http::Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method_label(&custom), "_OTHER");
    }

    #[test]
    fn any_status_code_a_target_sends_adds_at_most_one_series_beyond_the_registry() {
        let key = PoolKey::new(extsvc_resolve::TargetScheme::Http, "example.com", 80, RouteKey::Direct);
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let instruments = KeyInstruments::new(&PoolLabels::default(), &key, &mut ServerAddresses::default());
            // Every code hyper accepts (100–999), in a scrambled order, twice.
            for n in 0..1_800u32 {
                let code = 100 + u16::try_from(n * 7919 % 900).unwrap();
                instruments.record_request("GET", Ok(code), Duration::from_micros(250));
            }
        });
        let statuses: HashSet<String> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, ..)| key.key().name() == REQUEST_DURATION)
            .map(|(key, ..)| {
                let labels: Vec<_> = key
                    .key()
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                let status = labels.iter().find(|(k, _)| k == LABEL_STATUS_CODE).unwrap().1.clone();
                let error = labels
                    .iter()
                    .find(|(k, _)| k == LABEL_ERROR_TYPE)
                    .map(|(_, v)| v.clone());
                // error.type, when present, is the status label itself.
                assert!(error.is_none_or(|e| e == status), "{labels:?}");
                status
            })
            .collect();
        assert_eq!(statuses.len(), LABELLED_STATUS_CODES.len() + 1, "{statuses:?}");
        assert!(statuses.contains("_OTHER") && statuses.contains("404") && statuses.contains("511"));
        assert!(!statuses.contains("999") && !statuses.contains("299"));
        assert_eq!(status_label(200), "200");
        assert_eq!(status_label(599), "_OTHER");
        assert!(
            LABELLED_STATUS_CODES.windows(2).all(|w| w[0] < w[1]),
            "sorted, for the binary search"
        );
    }

    #[test]
    fn a_proxy_route_label_is_its_host_and_port_without_credentials() {
        let proxy = ProxyUrl::parse("http://gw:hunter2@proxy.internal:3128").unwrap();
        let labels = PoolLabels::new("oauth", Some(&proxy), None);
        let route = labels.route(RouteKey::Proxy(extsvc_resolve::TargetScheme::Http));
        assert_eq!(&*route, "proxy.internal:3128");
        assert_eq!(&*labels.route(RouteKey::Direct), "direct");
    }

    /// The per-request cost of `record_request` (a lookup in the key's short list and a
    /// histogram record), with no recorder and with one.
    /// `cargo test -p extsvc-client --lib measure_ -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a test: prints ns per request"]
    fn measure_the_cost_of_recording_a_request() {
        const N: u32 = 1_000_000;
        let key = PoolKey::new(extsvc_resolve::TargetScheme::Http, "example.com", 80, RouteKey::Direct);
        let run = || {
            let instruments = KeyInstruments::new(&PoolLabels::default(), &key, &mut ServerAddresses::default());
            let started = std::time::Instant::now();
            for n in 0..N {
                let status = if n % 10 == 0 { 503 } else { 200 };
                instruments.record_request("GET", Ok(status), Duration::from_micros(250));
            }
            started.elapsed().as_nanos() as f64 / f64::from(N)
        };
        let without = run();
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let with = metrics::with_local_recorder(&recorder, run);
        eprintln!("record_request: {without:.0} ns without a recorder, {with:.0} ns with DebuggingRecorder");
    }
}
