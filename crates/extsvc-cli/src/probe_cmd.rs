//! `extsvc probe`: real requests through one service's client, summarised.
//!
//! `http(s)://` URLs get `GET` through the service's [`ServiceClient`]; `redis(s)://`
//! URLs (storage) get a `PING` through a [`RedisClient`] over the storage
//! [`StreamConnector`] (its kept, multiplexed connections), expecting `+PONG`.
//! Only the probed service's TLS material is built, so a broken certificate elsewhere
//! does not stop an operator from probing this one.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use extsvc::client::trace::ExchangeTrace;
use extsvc::client::{RedisClient, ServiceClient, StorageRedis, StreamConnector};
use extsvc::config::{EnvSnapshot, ServiceKind};
use extsvc::resolve::{ResolvedService, Route};
use extsvc::tls::{build_service_tls, CertificateStore, TlsOptions};
use extsvc::{http, rustls};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use crate::args::{parse_duration, parse_service, ConfigArgs, Format, EXIT_USAGE};
use crate::cert_store::CertStoreArgs;
use crate::load::load_and_resolve;
use crate::output::{config_errors, print_json, print_stdout, print_warnings};
use crate::probe_load::{self, Latencies};
use crate::probe_verbose::{self, ResponseSeen};
use crate::route_cmd::parse_target;

/// What to probe and how hard.
#[derive(Debug, clap::Args)]
pub(crate) struct ProbeArgs {
    /// The service whose client makes the requests.
    #[arg(long, value_parser = parse_service, required_unless_present = "storage", conflicts_with = "storage")]
    pub(crate) service: Option<ServiceKind>,
    /// The target: http(s)://… (GET) or, for storage, redis(s)://… (PING).
    #[arg(required_unless_present = "storage", conflicts_with = "storage")]
    pub(crate) url: Option<String>,
    /// Probe the gateway's Redis as tyk.conf's `storage` section describes it (one node,
    /// Cluster or Sentinel; SPEC section 7): each request PINGs every primary and does
    /// SET/GET/DEL of a probe key of its own.
    #[arg(long)]
    pub(crate) storage: bool,
    /// Number of requests in all.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub(crate) concurrency: u64,
    /// Pause of each worker between its requests, e.g. `100ms`, `1s`.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) interval: Option<Duration>,
    /// Per-request deadline instead of the service's built-in timeout, e.g. `2s`.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
    /// Threads sending the requests (default 1, enough for hundreds of requests a
    /// second). Raise it when a high --concurrency against a fast remote target keeps
    /// one CPU core busy; it changes nothing about the route, the proxy or TLS.
    #[arg(long, default_value_t = probe_load::DEFAULT_THREADS, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub(crate) threads: u64,
    /// Show how the first request went, like `curl -v`, on stderr: the route and its
    /// rule, DNS, TCP connect, the proxy's CONNECT exchange (or SOCKS5 reply), each TLS
    /// handshake (certificates, client certificate presented), time to first byte, the
    /// response head and, for a status of 400 or more, the start of the body. Secrets
    /// are shown as ***.
    #[arg(short = 'v', long)]
    pub(crate) verbose: bool,
    #[command(flatten)]
    pub(crate) pool: PoolControlArgs,
}

/// The pool controls of the library (`PoolSettings`), to try them on a real target;
/// http(s) only (the Redis probe keeps one multiplexed connection, not the HTTP pool).
#[derive(Debug, clap::Args)]
pub(crate) struct PoolControlArgs {
    /// Cap on open connections per host, beside the service's total cap.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_connections_per_host: Option<u64>,
    /// Most requests waiting for a connection; past it a request fails at once (`pool_full`).
    #[arg(long, value_name = "N")]
    pub(crate) max_pending: Option<usize>,
    /// Age after which a pooled connection is closed instead of reused, e.g. `30s`.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub(crate) max_connection_lifetime: Option<Duration>,
    /// Print the client's metrics in Prometheus text format after the run (with
    /// `--format json`: as the string `"metrics"`).
    #[arg(long)]
    pub(crate) metrics: bool,
}

impl PoolControlArgs {
    /// `pool` with the controls given on the command line.
    fn apply(&self, mut pool: extsvc::PoolSettings) -> extsvc::PoolSettings {
        if let Some(max) = self.max_connections_per_host {
            pool = pool.with_max_connections_per_host(usize::try_from(max).unwrap_or(usize::MAX));
        }
        if let Some(max) = self.max_pending {
            pool = pool.with_max_pending(max);
        }
        if let Some(lifetime) = self.max_connection_lifetime {
            pool = pool.with_max_connection_lifetime(lifetime);
        }
        pool
    }

    fn any_pool_control(&self) -> bool {
        self.max_connections_per_host.is_some() || self.max_pending.is_some() || self.max_connection_lifetime.is_some()
    }
}

/// Installs a Prometheus recorder as the process's recorder, before the client is built
/// (the client registers its metric handles with the recorder installed then).
fn install_prometheus() -> Result<metrics_exporter_prometheus::PrometheusHandle, String> {
    // Buckets for seconds: 1 ms to 30 s (the longest service timeout).
    let buckets = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&buckets)
        .map_err(|e| e.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
    Ok(handle)
}

/// The Prometheus recorder when `--metrics` asks for one; the exit status when it cannot
/// be installed.
fn prometheus_if(metrics: bool) -> Result<Option<metrics_exporter_prometheus::PrometheusHandle>, ExitCode> {
    if !metrics {
        return Ok(None);
    }
    install_prometheus().map(Some).map_err(|message| {
        eprintln!("error: cannot install the metrics recorder: {message}");
        ExitCode::FAILURE
    })
}

/// What a target answered: an HTTP status, or Redis's `+PONG`. Counted per kind in
/// the summary's `status` map (`"200"`, `"PONG"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    Http(u16),
    Pong,
}

impl Answer {
    fn is_ok(self) -> bool {
        match self {
            Answer::Http(status) => status < 400,
            Answer::Pong => true,
        }
    }

    fn key(self) -> String {
        match self {
            Answer::Http(status) => status.to_string(),
            Answer::Pong => "PONG".to_owned(),
        }
    }
}

/// How one request ended.
enum Outcome {
    /// A response: the HTTP status, or `+PONG`.
    Response {
        status: Answer,
        tls_version: Option<rustls::ProtocolVersion>,
        /// Body bytes received.
        bytes: u64,
    },
    /// A reply that is not success (status ≥ 400 is a Response; this is e.g. `-NOAUTH`).
    BadReply(String),
    /// The client failed, after receiving `bytes` of body.
    Failed { kind: String, message: String, bytes: u64 },
}

/// Everything one worker records, merged with the others' at the end.
#[derive(Default)]
struct Tally {
    latencies: Latencies,
    ok: u64,
    status: BTreeMap<Answer, u64>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    tls_version: Option<rustls::ProtocolVersion>,
    /// Response body bytes received, over every request.
    bytes: u64,
}

impl Tally {
    /// Records one request; true when it succeeded.
    fn record(&mut self, outcome: Outcome, elapsed: Duration) -> bool {
        self.latencies.record(elapsed);
        match outcome {
            Outcome::Response {
                status,
                tls_version,
                bytes,
            } => {
                self.bytes = self.bytes.saturating_add(bytes);
                *self.status.entry(status).or_default() += 1;
                self.tls_version = self.tls_version.or(tls_version);
                if status.is_ok() {
                    self.ok += 1;
                    return true;
                }
                self.first_error
                    .get_or_insert_with(|| format!("status {}", status.key()));
            }
            Outcome::BadReply(reply) => {
                *self.errors.entry("bad_reply".to_owned()).or_default() += 1;
                self.first_error.get_or_insert(reply);
            }
            Outcome::Failed { kind, message, bytes } => {
                self.bytes = self.bytes.saturating_add(bytes);
                *self.errors.entry(kind).or_default() += 1;
                self.first_error.get_or_insert(message);
            }
        }
        false
    }

    /// Adds another worker's tally (its first error counts only if this one has none).
    fn merge(&mut self, other: Tally) {
        self.latencies.merge(other.latencies);
        self.ok += other.ok;
        for (status, n) in other.status {
            *self.status.entry(status).or_default() += n;
        }
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.tls_version = self.tls_version.or(other.tls_version);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

/// What the progress line reads while workers run: counters, no lock.
#[derive(Default)]
struct Progress {
    done: AtomicU64,
    ok: AtomicU64,
}

#[derive(Clone)]
enum Prober {
    Http(ServiceClient),
    Redis(RedisClient),
    Storage(StorageRedis),
}

impl Prober {
    /// One request. `timeout` overrides the HTTP client's deadline per request; the Redis
    /// client was built with it. With `verbose` (the first request of `probe -v`), how it
    /// went is printed to stderr.
    async fn once(&self, url: &http::Uri, timeout: Option<Duration>, verbose: Option<&str>) -> Outcome {
        let Some(route) = verbose else {
            return match self {
                Prober::Http(client) => http_once(client, url, timeout, None).await.0,
                Prober::Redis(client) => redis_once(client.clone()).await,
                Prober::Storage(redis) => storage_once(redis.clone()).await,
            };
        };
        let trace = ExchangeTrace::new();
        let (outcome, response, request_line) = match self {
            Prober::Http(client) => {
                let (outcome, seen) = http_once(client, url, timeout, Some(&trace)).await;
                let target = url.path_and_query().map_or("/", |pq| pq.as_str());
                (
                    outcome,
                    seen,
                    format!("GET {} HTTP/1.1", extsvc::config::escaped(target)),
                )
            }
            Prober::Redis(client) => (trace.record(redis_once(client.clone())).await, None, "PING".to_owned()),
            Prober::Storage(redis) => (
                trace.record(storage_once(redis.clone())).await,
                None,
                "PING every primary, SET/GET/DEL".to_owned(),
            ),
        };
        let summary = match &outcome {
            Outcome::Response { status, .. } => format!("answered {}", status.key()),
            Outcome::BadReply(reply) => reply.clone(),
            Outcome::Failed { message, .. } => format!("failed: {message}"),
        };
        eprintln!(
            "{}",
            probe_verbose::render(route, &request_line, &trace, response.as_ref(), &summary)
        );
        outcome
    }
}

async fn http_once(
    client: &ServiceClient,
    url: &http::Uri,
    timeout: Option<Duration>,
    trace: Option<&ExchangeTrace>,
) -> (Outcome, Option<ResponseSeen>) {
    let mut request = http::Request::get(url.clone())
        .body(String::new())
        .expect("a GET with a parsed URI is valid");
    if let Some(timeout) = timeout {
        request.extensions_mut().insert(extsvc::client::RequestTimeout(timeout));
    }
    if let Some(trace) = trace {
        request.extensions_mut().insert(trace.clone());
    }
    let failed_after = |e: extsvc::client::Error, bytes: u64| Outcome::Failed {
        kind: e.kind().to_string(),
        message: e.to_string(),
        bytes,
    };
    let failed = |e: extsvc::client::Error| failed_after(e, 0);
    let response = match client.request(request).await {
        Ok(response) => response,
        Err(e) => return (failed(e), None),
    };
    let status = response.status().as_u16();
    let tls_version = response.body().connected().tls_version;
    let mut seen = trace.map(|_| ResponseSeen {
        status,
        headers: response.headers().clone(),
        first_byte: Instant::now(),
        body_start: Vec::new(),
    });
    // The body is drained and counted, never kept (but the start of an error body for
    // `-v`): memory stays flat whatever the target sends, and the client's deadline and
    // body limit (carried by the body) end an endless one.
    let mut body = std::pin::pin!(response.into_body());
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                let data = frame.data_ref().map_or(&[][..], |data| &data[..]);
                bytes += data.len() as u64;
                if let Some(seen) = seen.as_mut().filter(|s| s.status >= 400) {
                    let room = probe_verbose::BODY_SHOWN - seen.body_start.len();
                    seen.body_start.extend_from_slice(&data[..room.min(data.len())]);
                }
            }
            Err(e) => return (failed_after(e, bytes), seen),
        }
    }
    let outcome = Outcome::Response {
        status: Answer::Http(status),
        tls_version,
        bytes,
    };
    (outcome, seen)
}

/// `PING` on one of the client's kept connections (opened on first use: proxy, TLS,
/// `AUTH`, `SELECT`), under the storage deadline.
async fn redis_once(mut client: RedisClient) -> Outcome {
    match redis::cmd("PING").query_async::<String>(&mut client).await {
        Ok(pong) if pong == "PONG" => Outcome::Response {
            status: Answer::Pong,
            tls_version: client.tls_version(),
            bytes: 0,
        },
        Ok(other) => Outcome::BadReply(format!(
            "redis answered {:?} instead of +PONG",
            extsvc::config::escaped(&other).to_string()
        )),
        Err(e) => redis_failed(&e),
    }
}

/// A Redis failure as an outcome: extsvc's error with its kind, else redis-rs's.
fn redis_failed(e: &redis::RedisError) -> Outcome {
    match RedisClient::error_of(e) {
        // Either may quote the server's reply: capped and escaped, as all peer text.
        Some(ours) => Outcome::Failed {
            kind: ours.kind().as_str().to_owned(),
            message: extsvc::config::escaped(&ours.to_string()).to_string(),
            bytes: 0,
        },
        None => Outcome::Failed {
            kind: "redis".to_owned(),
            message: format!("redis exchange failed: {}", extsvc::config::escaped(&e.to_string())),
            bytes: 0,
        },
    }
}

/// One `probe --storage` request: `PING` to every primary, then `SET`/`GET`/`DEL` of a key
/// of this request's own (`extsvc-probe:<pid>:<n>`, expiring after a minute should the
/// `DEL` not arrive).
async fn storage_once(mut redis: StorageRedis) -> Outcome {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    // A primary that fails makes the client ask the topology again: a long probe follows
    // a failover.
    if let Err(e) = redis.ping_primaries().await {
        return redis_failed(&e);
    }
    let key = format!(
        "extsvc-probe:{}:{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    let exchange = async {
        redis::cmd("SET")
            .arg(&key)
            .arg("1")
            .arg("EX")
            .arg(60)
            .query_async::<()>(&mut redis)
            .await?;
        let got: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut redis).await?;
        let deleted: u64 = redis::cmd("DEL").arg(&key).query_async(&mut redis).await?;
        Ok::<_, redis::RedisError>((got, deleted))
    };
    match exchange.await {
        Ok((Some(value), 1)) if value == "1" => Outcome::Response {
            status: Answer::Pong,
            tls_version: None,
            bytes: 0,
        },
        Ok((got, deleted)) => Outcome::BadReply(format!(
            "SET/GET/DEL of {key}: GET answered {:?}, DEL removed {deleted}",
            got.map(|g| extsvc::config::escaped(&g).to_string())
        )),
        Err(e) => redis_failed(&e),
    }
}

/// The client for `service`; for a Redis `url` a Redis client whose deadline is `timeout`
/// when given (the HTTP client takes it per request).
async fn build_prober(
    service: &ResolvedService,
    store: Option<Arc<dyn CertificateStore>>,
    redis_url: Option<&str>,
    timeout: Option<Duration>,
    tls_options: &TlsOptions,
) -> Result<Prober, String> {
    let tls = build_service_tls(service, store, tls_options)
        .await
        .map_err(|e| e.to_string())?;
    Ok(if let Some(url) = redis_url {
        let connector = StreamConnector::new(Arc::new(service.clone()), tls.target.clone(), tls.proxy);
        let connector = match timeout {
            Some(timeout) => connector.with_timeout(timeout),
            None => connector,
        };
        Prober::Redis(RedisClient::new(connector, service, url).map_err(|e| e.to_string())?)
    } else {
        Prober::Http(ServiceClient::new(service.clone(), &tls))
    })
}

pub(crate) fn run(
    args: &ConfigArgs,
    store_args: &CertStoreArgs,
    env: &EnvSnapshot,
    probe: &ProbeArgs,
    format: Format,
) -> ExitCode {
    let usage = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(EXIT_USAGE)
    };
    if probe.storage {
        return run_storage(args, store_args, env, probe, format);
    }
    let (Some(service_kind), Some(url)) = (probe.service, probe.url.as_deref()) else {
        return usage("give --service and a URL, or --storage".to_owned());
    };
    let target = match parse_target(url, service_kind) {
        Ok(target) => target,
        Err(message) => return usage(message),
    };
    if target.redis.is_none() && url.split_once("://").is_some_and(|(_, rest)| rest.contains('@')) {
        return usage("the URL carries credentials (user:***@): extsvc probe sends none to a target".to_owned());
    }
    // For Redis the URL's only use below is to be carried around: the Redis client takes
    // the URL with its credentials and keeps them out of every message.
    let uri: http::Uri = match target
        .redis
        .as_ref()
        .map_or_else(|| url.parse(), |r| r.without_credentials().parse())
    {
        Ok(uri) => uri,
        Err(e) => return usage(format!("invalid URL \"{}\": {e}", extsvc::config::shown(url))),
    };
    let loaded = match load_and_resolve(args, env) {
        Ok(loaded) => loaded,
        Err(errors) => return config_errors(&errors),
    };
    print_warnings(&loaded.warnings);
    let mut service = loaded.resolution.service(service_kind).clone();
    service.pool = probe.pool.apply(service.pool);
    if target.redis.is_some() && probe.pool.any_pool_control() {
        eprintln!("warning: the pool flags apply to http(s) probes only; a Redis probe uses no pool");
    }
    let prometheus = match prometheus_if(probe.pool.metrics) {
        Ok(prometheus) => prometheus,
        Err(exit) => return exit,
    };
    let decision = service.route(target.scheme, &target.host, target.port);
    let proxy = match decision.route {
        Route::Direct => None,
        Route::Proxy(url) => Some(url.to_string()),
    };

    let runtime = probe_load::runtime(probe.threads).expect("a tokio runtime starts");
    let store = match store_args.open_with(args, env, &runtime) {
        Ok(store) => store,
        Err(message) => return usage(message),
    };
    let prober = match runtime.block_on(build_prober(
        &service,
        store,
        target.redis.is_some().then_some(url),
        probe.timeout,
        &store_args.tls_options().with_secrets(loaded.secrets),
    )) {
        Ok(prober) => prober,
        Err(message) => {
            eprintln!("error: {}", crate::check_cmd::with_flag_hint(&message));
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let route = match &proxy {
        Some(proxy) => format!("proxy {proxy} ({})", decision.reason),
        None => format!("direct ({})", decision.reason),
    };
    let verbose = probe.verbose.then_some(route);
    let tally = runtime.block_on(drive(prober.clone(), uri, probe, format, verbose));
    let elapsed = started.elapsed();

    let (connections_opened, pool) = match &prober {
        Prober::Http(client) => {
            let stats = client.stats();
            let pool = json!({
                "opened": stats.opened,
                "reused": stats.reused,
                "closed": stats.closed,
                "peak_open": stats.peak_open,
                "peak_waiting": stats.peak_waiting,
            });
            (stats.opened, pool)
        }
        Prober::Redis(client) => (client.connections_opened(), Value::Null),
        Prober::Storage(redis) => (redis.connections_opened(), Value::Null),
    };
    let summary = summary_json(
        service_kind.as_str(),
        Value::from(extsvc::config::shown(url).to_string()),
        proxy,
        &tally,
        elapsed,
        connections_opened,
        pool,
    );
    finish(summary, &decision.reason.to_string(), prometheus, format)
}

/// The JSON summary of a run (SPEC section 5's keys).
fn summary_json(
    service: &str,
    url: Value,
    proxy: Option<String>,
    tally: &Tally,
    elapsed: Duration,
    connections_opened: u64,
    pool: Value,
) -> Value {
    let requests = tally.latencies.len() as u64;
    let status: BTreeMap<String, u64> = tally.status.iter().map(|(k, v)| (k.key(), *v)).collect();
    json!({
        "service": service,
        "url": url,
        "route": if proxy.is_some() { "proxy" } else { "direct" },
        "proxy": proxy,
        "requests": requests,
        "ok": tally.ok,
        "errors": tally.errors,
        "status": status,
        "tls_version": tally.tls_version.map(extsvc::client::tls_version_name),
        "elapsed_secs": elapsed.as_secs_f64(),
        "requests_per_sec": if elapsed.as_secs_f64() > 0.0 { requests as f64 / elapsed.as_secs_f64() } else { 0.0 },
        "latency_us": {
            "p50": tally.latencies.percentile(50.0),
            "p90": tally.latencies.percentile(90.0),
            "p99": tally.latencies.percentile(99.0),
            "max": tally.latencies.max(),
        },
        "connections_opened": connections_opened,
        "pool": pool,
        "bytes": tally.bytes,
        "error": tally.first_error,
    })
}

/// Prints `summary` (with the metrics when recorded); exit 0 when every request was ok.
fn finish(
    mut summary: Value,
    reason: &str,
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
    format: Format,
) -> ExitCode {
    let all_ok = summary["ok"] == summary["requests"];
    let metrics_text = prometheus.map(|handle| handle.render());
    match format {
        Format::Json => {
            if let Some(text) = metrics_text {
                summary["metrics"] = Value::String(text);
            }
            print_json(&summary);
        }
        Format::Text => {
            print_stdout(&summary_text(&summary, reason));
            if let Some(text) = metrics_text {
                print_stdout(&text);
            }
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `probe --storage`: the gateway's Redis from the `storage` section, built as a gateway
/// builds it (every service's TLS, the certificate store), then probed.
fn run_storage(
    args: &ConfigArgs,
    store_args: &CertStoreArgs,
    env: &EnvSnapshot,
    probe: &ProbeArgs,
    format: Format,
) -> ExitCode {
    // `--strict`: a warning of loading or resolving is a configuration error, as for every
    // command.
    if args.strict {
        if let Err(errors) = load_and_resolve(args, env) {
            return config_errors(&errors);
        }
    }
    let runtime = probe_load::runtime(probe.threads).expect("a tokio runtime starts");
    let store = match store_args.open_with(args, env, &runtime) {
        Ok(store) => store,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut loaded = match crate::load::load_config(args, env) {
        Ok(loaded) => crate::load::storage_only(loaded),
        Err(errors) => return config_errors(&errors),
    };
    print_warnings(&loaded.warnings);
    if probe.pool.any_pool_control() {
        eprintln!("warning: the pool flags apply to http(s) probes only; a Redis probe uses no pool");
    }
    if let Some(timeout) = probe.timeout {
        // `--timeout` stands in for the section's `timeout`: each command's deadline.
        loaded.config.storage.timeout = Some(extsvc::config::Sourced::new(timeout, extsvc::config::Source::Default));
    }
    let prometheus = match prometheus_if(probe.pool.metrics) {
        Ok(prometheus) => prometheus,
        Err(exit) => return exit,
    };
    let tls = loaded.config.storage.use_ssl();
    let mut builder = extsvc::ExternalServices::builder()
        .config(loaded)
        .env(env.clone())
        .tls_options(store_args.tls_options());
    if let Some(store) = store {
        builder = builder.cert_store(store);
    }
    let built = runtime.block_on(builder.build()).map_err(|e| e.to_string());
    let built = built.and_then(|services| {
        let redis = services.storage_redis().map_err(|e| e.to_string())?;
        Ok((services, redis))
    });
    let (services, redis) = match built {
        Ok(built) => built,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    // The route of the first address (the node, a seed or a sentinel); every node goes
    // by the same rules.
    let first = format!("{}://{}", if tls { "rediss" } else { "redis" }, redis.addresses()[0]);
    let storage = services.client(ServiceKind::Storage).service().clone();
    let (proxy, reason) = match parse_target(&first, ServiceKind::Storage) {
        Ok(target) => {
            let decision = storage.route(target.scheme, &target.host, target.port);
            let proxy = match decision.route {
                Route::Direct => None,
                Route::Proxy(url) => Some(url.to_string()),
            };
            (proxy, decision.reason.to_string())
        }
        Err(message) => (None, message),
    };
    let uri = http::Uri::from_static("redis://storage");
    let started = Instant::now();
    let verbose = probe.verbose.then(|| match &proxy {
        Some(proxy) => format!("proxy {proxy} ({reason})"),
        None => format!("direct ({reason})"),
    });
    let tally = runtime.block_on(drive(Prober::Storage(redis.clone()), uri, probe, format, verbose));
    let elapsed = started.elapsed();
    let topology = runtime.block_on(redis.topology()).ok();
    let addresses: Vec<String> = redis
        .addresses()
        .iter()
        .map(|a| extsvc::config::shown(a).to_string())
        .collect();
    let mut summary = summary_json(
        ServiceKind::Storage.as_str(),
        Value::from(addresses.join(",")),
        proxy,
        &tally,
        elapsed,
        redis.connections_opened(),
        Value::Null,
    );
    summary["topology"] = match topology {
        Some(t) => json!({ "kind": t.kind.as_str(), "primaries": t.primaries, "replicas": t.replicas }),
        None => json!({ "kind": redis.kind().as_str(), "primaries": null, "replicas": null }),
    };
    finish(summary, &reason, prometheus, format)
}

/// Runs the workers; in text mode a progress line goes to stderr every second.
async fn drive(prober: Prober, uri: http::Uri, probe: &ProbeArgs, format: Format, verbose: Option<String>) -> Tally {
    // The first request to start is the one `-v` shows.
    let verbose = Arc::new(std::sync::Mutex::new(verbose));
    let progress = Arc::new(Progress::default());
    let remaining = Arc::new(AtomicUsize::new(usize::try_from(probe.count).unwrap_or(usize::MAX)));
    let worker_count = probe.concurrency.min(probe.count);
    let mut workers = Vec::new();
    for _ in 0..worker_count {
        let (prober, uri, progress, remaining) = (prober.clone(), uri.clone(), progress.clone(), remaining.clone());
        let verbose = verbose.clone();
        let (interval, timeout) = (probe.interval, probe.timeout);
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut first = true;
            while remaining
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
            {
                if let (Some(interval), false) = (interval, first) {
                    tokio::time::sleep(interval).await;
                }
                first = false;
                let shown = verbose.lock().ok().and_then(|mut v| v.take());
                let started = Instant::now();
                let outcome = prober.once(&uri, timeout, shown.as_deref()).await;
                let elapsed = started.elapsed();
                if tally.record(outcome, elapsed) {
                    progress.ok.fetch_add(1, Ordering::Relaxed);
                }
                progress.done.fetch_add(1, Ordering::Relaxed);
            }
            tally
        }));
    }
    let reporter = (format == Format::Text).then(|| {
        let (progress, total) = (progress.clone(), probe.count);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let done = progress.done.load(Ordering::Relaxed);
                let ok = progress.ok.load(Ordering::Relaxed);
                eprintln!(
                    "probe: {done}/{total} requests, {ok} ok, {} not ok",
                    done.saturating_sub(ok)
                );
            }
        })
    });
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await.expect("probe workers do not panic"));
    }
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    tally
}

fn summary_text(summary: &Value, reason: &str) -> String {
    let route = match summary["proxy"].as_str() {
        Some(proxy) => format!("proxy {proxy}"),
        None => "direct".to_owned(),
    };
    let mut lines = vec![
        format!(
            "{} {} via {route} ({reason})",
            summary["service"].as_str().unwrap_or(""),
            summary["url"].as_str().unwrap_or("")
        ),
        format!(
            "{} requests, {} ok, {:.1} req/s over {:.2}s, {} connections opened, TLS {}",
            summary["requests"],
            summary["ok"],
            summary["requests_per_sec"].as_f64().unwrap_or(0.0),
            summary["elapsed_secs"].as_f64().unwrap_or(0.0),
            summary["connections_opened"],
            summary["tls_version"].as_str().unwrap_or("none"),
        ),
        format!(
            "latency p50 {}us p90 {}us p99 {}us max {}us",
            summary["latency_us"]["p50"],
            summary["latency_us"]["p90"],
            summary["latency_us"]["p99"],
            summary["latency_us"]["max"]
        ),
    ];
    if let Some(status) = summary["status"].as_object().filter(|s| !s.is_empty()) {
        let parts: Vec<String> = status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        lines.push(format!("status {}", parts.join(", ")));
    }
    if let Some(errors) = summary["errors"].as_object().filter(|e| !e.is_empty()) {
        let parts: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        lines.push(format!("errors {}", parts.join(", ")));
    }
    if let Some(error) = summary["error"].as_str() {
        lines.push(format!("first error: {error}"));
    }
    // Last, so the lines before keep their places.
    if summary["pool"].is_object() {
        let pool = &summary["pool"];
        lines.push(format!(
            "pool: {} opened, {} reused, {} closed, peak {} open or connecting, peak {} waiting",
            pool["opened"], pool["reused"], pool["closed"], pool["peak_open"], pool["peak_waiting"]
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            extsvc::config::internal::redact_url_credentials("redis://user:pw@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
    }
}
