//! `extsvc probe`: real requests through one service's client, summarised.
//!
//! `http(s)://` URLs get `GET` through the service's [`ServiceClient`]; `redis(s)://`
//! URLs (storage) get a `PING` over the storage [`StreamConnector`], expecting `+PONG`.
//! Only the probed service's TLS material is built, so a broken certificate elsewhere
//! does not stop an operator from probing this one.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use extsvc_client::{Connected, ConnectionInfo, ServiceClient, StreamConnector};
use extsvc_config::{EnvSnapshot, ServiceKind};
use extsvc_resolve::{ResolvedService, Route};
use extsvc_tls::{build_service_tls, redis_command, CertificateStore, RedisReply, RedisUrl, TlsOptions};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio::io::BufReader;

use crate::cert_store::CertStoreArgs;
use crate::load::load_and_resolve;
use crate::output::{config_errors, print_json, print_stdout, print_warnings};
use crate::probe_load::{self, Latencies};
use crate::route_cmd::parse_target;
use crate::{ConfigArgs, Format, EXIT_USAGE};

/// What to probe and how hard.
#[derive(Debug, clap::Args)]
pub(crate) struct ProbeArgs {
    /// The service whose client makes the requests.
    #[arg(long, value_parser = crate::parse_service)]
    pub(crate) service: ServiceKind,
    /// The target: http(s)://… (GET) or, for storage, redis(s)://… (PING).
    pub(crate) url: String,
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
    /// Runtime threads driving the requests. The default, 1 (like `wrk -t1`): against a
    /// server on the same 2-core machine, 2 were no faster and spread more (measured,
    /// docs/performance.md), and 1 leaves a core to the server. More can help when the
    /// server is elsewhere and one core cannot keep up.
    #[arg(long, default_value_t = probe_load::DEFAULT_THREADS, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub(crate) threads: u64,
}

/// Parses `250ms`, `2s`, `1m` (a number and a unit).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 100ms, 1s, 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("invalid duration {text:?}: the unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// How one request ended.
enum Outcome {
    /// A response: the HTTP status, or 200 for `+PONG`.
    Response {
        status: u16,
        tls_version: Option<rustls::ProtocolVersion>,
    },
    /// A reply that is not success (status ≥ 400 is a Response; this is e.g. `-NOAUTH`).
    BadReply(String),
    /// The client failed.
    Failed { kind: String, message: String },
}

/// Everything one worker records, merged with the others' at the end.
#[derive(Default)]
struct Tally {
    latencies: Latencies,
    ok: u64,
    status: BTreeMap<u16, u64>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    tls_version: Option<rustls::ProtocolVersion>,
    redis_connections: u64,
}

impl Tally {
    /// Records one request; true when it succeeded.
    fn record(&mut self, outcome: Outcome, elapsed: Duration) -> bool {
        self.latencies.record(elapsed);
        match outcome {
            Outcome::Response { status, tls_version } => {
                *self.status.entry(status).or_default() += 1;
                self.tls_version = self.tls_version.or(tls_version);
                if status < 400 {
                    self.ok += 1;
                    return true;
                }
                self.first_error.get_or_insert_with(|| format!("status {status}"));
            }
            Outcome::BadReply(reply) => {
                *self.errors.entry("bad_reply".to_owned()).or_default() += 1;
                self.first_error.get_or_insert(reply);
            }
            Outcome::Failed { kind, message } => {
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
        self.redis_connections += other.redis_connections;
    }
}

/// What the progress line reads while workers run: counters, no lock.
#[derive(Default)]
struct Progress {
    done: AtomicU64,
    ok: AtomicU64,
}

/// The probe's transport: the HTTP client, or the storage stream connector for Redis.
#[derive(Clone)]
enum Prober {
    Http(ServiceClient),
    Redis(StreamConnector, RedisUrl),
}

impl Prober {
    /// One request; for Redis also whether a connection was opened (the HTTP client
    /// counts its own connections). `timeout` overrides the HTTP client's deadline per
    /// request; the Redis connector was built with it.
    async fn once(&self, url: &http::Uri, timeout: Option<Duration>) -> (Outcome, bool) {
        match self {
            Prober::Http(client) => (http_once(client, url, timeout).await, false),
            Prober::Redis(connector, redis) => {
                let connected = AtomicBool::new(false);
                let outcome = redis_once(connector, redis, &connected).await;
                (outcome, connected.load(Ordering::Relaxed))
            }
        }
    }
}

async fn http_once(client: &ServiceClient, url: &http::Uri, timeout: Option<Duration>) -> Outcome {
    let mut request = http::Request::get(url.clone())
        .body(String::new())
        .expect("a GET with a parsed URI is valid");
    if let Some(timeout) = timeout {
        request.extensions_mut().insert(extsvc_client::RequestTimeout(timeout));
    }
    let failed = |e: extsvc_client::Error| Outcome::Failed {
        kind: e.kind().to_string(),
        message: e.to_string(),
    };
    let response = match client.request(request).await {
        Ok(response) => response,
        Err(e) => return failed(e),
    };
    let status = response.status().as_u16();
    let tls_version = response.extensions().get::<Connected>().and_then(|c| c.tls_version);
    match response.into_body().collect().await {
        Ok(_) => Outcome::Response { status, tls_version },
        Err(e) => failed(e),
    }
}

/// Connects through the storage connector (which never sees the password), then sends
/// `AUTH` when the URL has credentials and `PING`; the connector's deadline covers all of
/// it (a timeout while connecting names its phase). `connected` is set once a TCP
/// connection is up, whatever happens after.
async fn redis_once(connector: &StreamConnector, url: &RedisUrl, connected: &AtomicBool) -> Outcome {
    let failed = |kind: &str, message: String| Outcome::Failed {
        kind: kind.to_owned(),
        message,
    };
    let target: http::Uri = match url.without_credentials().parse() {
        Ok(target) => target,
        Err(e) => return failed("invalid_request", format!("invalid Redis address: {e}")),
    };
    let timeout = connector.timeout();
    let deadline = tokio::time::Instant::now() + timeout;
    let stream = match connector.connect(target).await {
        Ok(stream) => stream,
        Err(e) => {
            // A connection that failed after its TCP connect (proxy TLS, CONNECT, TLS,
            // a timeout in one of them) was opened all the same.
            if e.connected_before_failing() {
                connected.store(true, Ordering::Relaxed);
            }
            return failed(e.kind().as_str(), e.to_string());
        }
    };
    connected.store(true, Ordering::Relaxed);
    let exchange = async {
        let tls_version = stream.connected().tls_version;
        let mut connection = BufReader::new(stream);
        let redis_error = |e: std::io::Error| failed("redis", format!("redis exchange failed: {e}"));
        if let Some(password) = &url.password {
            let mut auth: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &url.user {
                auth.push(user.as_bytes());
            }
            auth.push(password.as_bytes());
            match redis_command(&mut connection, &auth).await.map_err(redis_error)? {
                RedisReply::Status(_) => {}
                RedisReply::Error(message) => return Ok(Outcome::BadReply(format!("AUTH failed: {message}"))),
                other => return Ok(Outcome::BadReply(format!("unexpected reply to AUTH: {other:?}"))),
            }
        }
        Ok(
            match redis_command(&mut connection, &[b"PING"]).await.map_err(redis_error)? {
                RedisReply::Status(pong) if pong == "PONG" => Outcome::Response {
                    status: 200,
                    tls_version,
                },
                other => Outcome::BadReply(format!("redis answered {other:?} instead of +PONG")),
            },
        )
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Ok(Ok(outcome) | Err(outcome)) => outcome,
        Err(_) => failed("timeout", format!("timed out after {timeout:?} waiting for +PONG")),
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The client for `service`; for Redis a stream connector whose deadline is `timeout`
/// when given (the HTTP client takes it per request).
async fn build_prober(
    service: &ResolvedService,
    store: Option<Arc<dyn CertificateStore>>,
    redis: Option<RedisUrl>,
    timeout: Option<Duration>,
) -> Result<Prober, String> {
    let tls = build_service_tls(service, store, &TlsOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(if let Some(redis) = redis {
        let connector = StreamConnector::new(Arc::new(service.clone()), tls.target.clone(), tls.proxy.clone());
        let connector = match timeout {
            Some(timeout) => connector.with_timeout(timeout),
            None => connector,
        };
        Prober::Redis(connector, redis)
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
    let target = match parse_target(&probe.url, probe.service) {
        Ok(target) => target,
        Err(message) => return usage(message),
    };
    if target.redis.is_none() && probe.url.split_once("://").is_some_and(|(_, rest)| rest.contains('@')) {
        return usage("the URL carries credentials (user:***@): extsvc probe sends none to a target".to_owned());
    }
    // For Redis the URL's only use below is to be carried around: the connector gets the
    // address without credentials, and AUTH uses the parsed RedisUrl.
    let uri: http::Uri = match target
        .redis
        .as_ref()
        .map_or_else(|| probe.url.parse(), |r| r.without_credentials().parse())
    {
        Ok(uri) => uri,
        Err(e) => {
            return usage(format!(
                "invalid URL {:?}: {e}",
                extsvc_config::redact_url_credentials(&probe.url)
            ))
        }
    };
    let store = match store_args.open() {
        Ok(store) => store,
        Err(message) => return usage(message),
    };
    let loaded = match load_and_resolve(args, env) {
        Ok(loaded) => loaded,
        Err(errors) => return config_errors(&errors),
    };
    print_warnings(&loaded.warnings);
    let service = loaded.resolution.service(probe.service).clone();
    let decision = service.route(target.scheme, &target.host, target.port);
    let proxy = match decision.route {
        Route::Direct => None,
        Route::Proxy(url) => Some(url.to_string()),
    };

    let runtime = probe_load::runtime(probe.threads).expect("a tokio runtime starts");
    let prober = match runtime.block_on(build_prober(&service, store, target.redis.clone(), probe.timeout)) {
        Ok(prober) => prober,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let tally = runtime.block_on(drive(prober.clone(), uri, probe, format));
    let elapsed = started.elapsed();

    let connections_opened = match &prober {
        Prober::Http(client) => client.stats().opened,
        Prober::Redis(..) => tally.redis_connections,
    };
    let requests = tally.latencies.len() as u64;
    let status: BTreeMap<String, u64> = tally.status.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let sorted = tally.latencies.into_sorted();
    let all_ok = tally.ok == requests;
    let summary = json!({
        "service": probe.service.as_str(),
        "url": extsvc_config::redact_url_credentials(&probe.url),
        "route": if proxy.is_some() { "proxy" } else { "direct" },
        "proxy": proxy,
        "requests": requests,
        "ok": tally.ok,
        "errors": tally.errors,
        "status": status,
        "tls_version": tally.tls_version.map(extsvc_client::tls_version_name),
        "elapsed_secs": elapsed.as_secs_f64(),
        "requests_per_sec": if elapsed.as_secs_f64() > 0.0 { requests as f64 / elapsed.as_secs_f64() } else { 0.0 },
        "latency_us": {
            "p50": percentile(&sorted, 50.0),
            "p90": percentile(&sorted, 90.0),
            "p99": percentile(&sorted, 99.0),
            "max": sorted.last().copied().unwrap_or(0),
        },
        "connections_opened": connections_opened,
        "error": tally.first_error,
    });
    match format {
        Format::Json => print_json(&summary),
        Format::Text => print_stdout(&summary_text(&summary, &decision.reason.to_string())),
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs the workers; in text mode a progress line goes to stderr every second.
///
/// Each worker keeps its own [`Tally`] (latencies preallocated for its share of the
/// requests); they are merged once the workers end.
async fn drive(prober: Prober, uri: http::Uri, probe: &ProbeArgs, format: Format) -> Tally {
    let progress = Arc::new(Progress::default());
    let remaining = Arc::new(AtomicUsize::new(probe.count as usize));
    let worker_count = probe.concurrency.min(probe.count);
    let share = probe_load::share(probe.count, worker_count);
    let mut workers = Vec::new();
    for _ in 0..worker_count {
        let (prober, uri, progress, remaining) = (prober.clone(), uri.clone(), progress.clone(), remaining.clone());
        let (interval, timeout) = (probe.interval, probe.timeout);
        workers.push(tokio::spawn(async move {
            let mut tally = Tally {
                latencies: Latencies::with_capacity(share),
                ..Tally::default()
            };
            let mut first = true;
            while remaining
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
            {
                if let (Some(interval), false) = (interval, first) {
                    tokio::time::sleep(interval).await;
                }
                first = false;
                let started = Instant::now();
                let (outcome, opened_connection) = prober.once(&uri, timeout).await;
                let elapsed = started.elapsed();
                tally.redis_connections += u64::from(opened_connection);
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
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(
            (
                percentile(&sorted, 50.0),
                percentile(&sorted, 99.0),
                percentile(&sorted, 100.0)
            ),
            (50, 99, 100)
        );
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            extsvc_config::redact_url_credentials("redis://user:pw@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
    }
}
