//! The `redis` scenario: `PING` and `GET` of a 100-byte value against one redis-server
//! on 127.0.0.1, through extsvc's [`RedisClient`] (storage service, direct route) and
//! through redis-rs's own `MultiplexedConnection` on a plain `TcpStream` — the same
//! protocol code without extsvc's connector, kept connections and deadline — interleaved
//! window by window as the HTTP scenarios are; `redis-benchmark`'s figure for the same
//! command and concurrency beside them as the ceiling.

use std::io::{self, Write};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use extsvc_client::{RedisClient, StreamConnector};
use extsvc_config::{load_str, EnvSnapshot, LoadOptions, ServiceKind};
use extsvc_tests::redis::{RedisOptions, RedisServer};
use redis::aio::MultiplexedConnection;
use rustls::ClientConfig;
use serde_json::{json, Map, Value};

use crate::load::median;
use crate::{Method, CONCURRENCIES};

/// The key `GET` reads; it holds [`VALUE_BYTES`] bytes.
pub(crate) const KEY: &str = "bench:value";
pub(crate) const VALUE_BYTES: usize = 100;
/// A worker stops after this many errors in one window.
const MAX_ERRORS_PER_WORKER: u64 = 100;

/// What a worker sends, back to back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Ping,
    Get,
    /// Tyk's sliding-log rate limiter (`SetCount` of `internal/rate/sliding_log.go`): one
    /// pipeline of `ZREMRANGEBYSCORE key -inf <now - 1 s>`, `ZCARD key`,
    /// `ZADD key <now> <now>`, `EXPIRE key 1`, `now` in Unix nanoseconds; one key per
    /// worker (Tyk has one per API key). See `redis_pipeline`.
    SlidingLog,
}

/// The sliding log's window: Tyk's `per` (the rate limit's period), 1 s here so that a
/// key's sorted set stays at one second of requests.
pub(crate) const SLIDING_LOG_PER_SECONDS: u64 = 1;

/// The key worker `worker` of the sliding-log workload uses, whatever the client.
pub(crate) fn sliding_log_key(worker: usize) -> String {
    format!("bench:ratelimit:{worker}")
}

impl Op {
    const ALL: [Op; 2] = [Op::Ping, Op::Get];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Ping => "ping",
            Op::Get => "get",
            Op::SlidingLog => "sliding_log",
        }
    }

    /// The row of `redis-benchmark --csv` for this command (`PING_MBULK` is `PING` sent
    /// as a RESP array, as redis-rs sends it).
    fn benchmark_row(self) -> &'static str {
        match self {
            Op::Ping => "PING_MBULK",
            Op::Get => "GET",
            Op::SlidingLog => "-",
        }
    }

    /// Sends the operation once; `key` is the worker's sliding-log key.
    pub(crate) async fn run(
        self,
        connection: &mut impl redis::aio::ConnectionLike,
        key: &str,
    ) -> redis::RedisResult<()> {
        match self {
            Op::Ping => redis::cmd("PING").query_async::<()>(connection).await,
            Op::Get => {
                let value: Vec<u8> = redis::cmd("GET").arg(KEY).query_async(connection).await?;
                debug_assert_eq!(value.len(), VALUE_BYTES);
                Ok(())
            }
            Op::SlidingLog => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as i64);
                let one_period_ago = now - (SLIDING_LOG_PER_SECONDS * 1_000_000_000) as i64;
                let (_removed, count, _added, _expiry): (i64, i64, i64, i64) = redis::pipe()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(key)
                    .arg("-inf")
                    .arg(one_period_ago)
                    .cmd("ZCARD")
                    .arg(key)
                    .cmd("ZADD")
                    .arg(key)
                    .arg(now)
                    .arg(now)
                    .cmd("EXPIRE")
                    .arg(key)
                    .arg(SLIDING_LOG_PER_SECONDS)
                    .query_async(connection)
                    .await?;
                debug_assert!(count >= 0);
                Ok(())
            }
        }
    }
}

/// One client's figures for one command and concurrency.
#[derive(Debug, Clone, Default)]
pub(crate) struct Figures {
    pub(crate) rps_rounds: Vec<f64>,
    pub(crate) p50_rounds: Vec<f64>,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

impl Figures {
    /// `<name>_rps` and `<name>_p50_us` (medians over rounds), `<name>_requests`,
    /// `<name>_errors` and `<name>_first_error` into `map`.
    pub(crate) fn insert_json(&self, map: &mut Map<String, Value>, name: &str) {
        map.insert(
            format!("{name}_rps"),
            json!(round(median(&mut self.rps_rounds.clone()))),
        );
        map.insert(
            format!("{name}_p50_us"),
            json!(round(median(&mut self.p50_rounds.clone()))),
        );
        map.insert(format!("{name}_requests"), json!(self.requests));
        map.insert(format!("{name}_errors"), json!(self.errors));
        if let Some(error) = &self.first_error {
            map.insert(format!("{name}_first_error"), json!(error));
        }
    }
}

/// The figures of each concurrency: the highest at the top level, the others under `cN`.
pub(crate) fn by_concurrency(runs: impl IntoIterator<Item = (usize, Map<String, Value>)>) -> Map<String, Value> {
    let runs: Vec<_> = runs.into_iter().collect();
    let top = runs.iter().map(|(c, _)| *c).max().unwrap_or(0);
    let mut root = Map::new();
    for (concurrency, map) in runs {
        if concurrency == top {
            root.extend(map);
        } else {
            root.insert(format!("c{concurrency}"), Value::Object(map));
        }
    }
    root
}

/// One command at one concurrency.
#[derive(Debug, Clone)]
struct Run {
    op: Op,
    concurrency: usize,
    extsvc: Figures,
    redis_rs: Figures,
    redis_benchmark_rps: Option<f64>,
}

impl Run {
    /// The median over rounds of extsvc's rate divided by redis-rs's in the same round.
    fn ratio(&self) -> Option<f64> {
        let mut ratios: Vec<f64> = self
            .extsvc
            .rps_rounds
            .iter()
            .zip(&self.redis_rs.rps_rounds)
            .filter(|(_, theirs)| **theirs > 0.0)
            .map(|(ours, theirs)| ours / theirs)
            .collect();
        (!ratios.is_empty()).then(|| median(&mut ratios))
    }

    fn json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("concurrency".into(), json!(self.concurrency));
        for (name, f) in [("extsvc", &self.extsvc), ("redis_rs_direct", &self.redis_rs)] {
            f.insert_json(&mut map, name);
        }
        if let Some(ratio) = self.ratio() {
            map.insert("extsvc_vs_redis_rs_direct".into(), json!(round3(ratio)));
        }
        if let Some(rps) = self.redis_benchmark_rps {
            map.insert("redis_benchmark_rps".into(), json!(round(rps)));
            map.insert(
                "extsvc_vs_redis_benchmark".into(),
                json!(round3(median(&mut self.extsvc.rps_rounds.clone()) / rps)),
            );
        }
        map
    }
}

/// What the scenario measured, for `summary.json` and the table.
#[derive(Debug, Clone)]
pub(crate) struct RedisReport {
    runs: Vec<Run>,
    extsvc_kept_connections: u64,
}

pub(crate) fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

pub(crate) fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

impl RedisReport {
    /// `{"ping": {..c16, "c1": {..}}, "get": {..}, "extsvc_vs_redis_rs_direct": lowest}`.
    pub(crate) fn to_json(&self) -> Value {
        let mut root = Map::new();
        let top = CONCURRENCIES.iter().copied().max().unwrap_or(16);
        for op in Op::ALL {
            let mut map = Map::new();
            for run in self.runs.iter().filter(|r| r.op == op) {
                if run.concurrency == top {
                    map.extend(run.json());
                } else {
                    map.insert(format!("c{}", run.concurrency), Value::Object(run.json()));
                }
            }
            root.insert(op.name().into(), Value::Object(map));
        }
        let lowest = self.runs.iter().filter_map(Run::ratio).min_by(f64::total_cmp);
        root.insert("extsvc_vs_redis_rs_direct".into(), json!(lowest.map(round3)));
        root.insert("extsvc_connections_opened".into(), json!(self.extsvc_kept_connections));
        Value::Object(root)
    }

    pub(crate) fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "{:<10} {:>4}  {:>12} {:>14} {:>8} {:>16} {:>9}",
            "redis", "conc", "extsvc/s", "redis-rs/s", "÷rs", "redis-benchmark", "÷bench"
        )?;
        for run in &self.runs {
            let ours = median(&mut run.extsvc.rps_rounds.clone());
            let theirs = median(&mut run.redis_rs.rps_rounds.clone());
            writeln!(
                out,
                "{:<10} {:>4}  {:>12.0} {:>14.0} {:>8} {:>16} {:>9}",
                run.op.name(),
                run.concurrency,
                ours,
                theirs,
                run.ratio().map_or_else(|| "-".to_owned(), |r| format!("{r:.2}×")),
                run.redis_benchmark_rps
                    .map_or_else(|| "-".to_owned(), |r| format!("{r:.0}")),
                run.redis_benchmark_rps
                    .map_or_else(|| "-".to_owned(), |r| format!("{:.2}×", ours / r)),
            )?;
            for (name, f) in [("extsvc", &run.extsvc), ("redis-rs", &run.redis_rs)] {
                if let Some(error) = &f.first_error {
                    writeln!(out, "{:<10} {name} first error ({} errors): {error}", "", f.errors)?;
                }
            }
        }
        writeln!(out, "extsvc connections opened: {}", self.extsvc_kept_connections)?;
        writeln!(out)
    }
}

/// What one window measured.
pub(crate) struct Window {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) elapsed: Duration,
    pub(crate) p50_us: f64,
}

/// `concurrency` workers send `op` back to back on clones of `connection` for `duration`.
pub(crate) async fn run_window<C>(connection: &C, op: Op, concurrency: usize, duration: Duration) -> Window
where
    C: redis::aio::ConnectionLike + Clone + Send + 'static,
{
    let start = Instant::now();
    let end = start + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let mut connection = connection.clone();
            let key = sliding_log_key(worker);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(1 << 16);
                let (mut errors, mut first_error) = (0u64, None);
                loop {
                    let sent = Instant::now();
                    if sent >= end || errors >= MAX_ERRORS_PER_WORKER {
                        break;
                    }
                    match op.run(&mut connection, &key).await {
                        Ok(()) => latencies.push(sent.elapsed().as_nanos() as u64),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                (latencies, errors, first_error)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut window = Window {
        requests: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        p50_us: f64::NAN,
    };
    for worker in workers {
        let (worker_latencies, errors, first_error) = worker.await.expect("bench workers do not panic");
        latencies.extend(worker_latencies);
        window.errors += errors;
        window.first_error = window.first_error.or(first_error);
    }
    window.elapsed = start.elapsed();
    window.requests = latencies.len() as u64;
    latencies.sort_unstable();
    if !latencies.is_empty() {
        window.p50_us = latencies[latencies.len() / 2] as f64 / 1000.0;
    }
    window
}

pub(crate) fn record(figures: &mut Figures, window: Window) {
    figures
        .rps_rounds
        .push(window.requests as f64 / window.elapsed.as_secs_f64());
    figures.p50_rounds.push(window.p50_us);
    figures.requests += window.requests;
    figures.errors += window.errors;
    figures.first_error = figures.first_error.take().or(window.first_error);
}

/// extsvc's client for `url`: the storage service of an empty configuration (direct).
pub(crate) fn extsvc_client(url: &str, tls: &Arc<ClientConfig>) -> anyhow::Result<RedisClient> {
    let loaded = load_str("{}", "bench.conf", &EnvSnapshot::empty(), &LoadOptions::default())
        .map_err(|e| anyhow::anyhow!("bench configuration: {e:?}"))?;
    let resolution = extsvc_resolve::resolve(&loaded.config, &EnvSnapshot::empty());
    let service = resolution.service(ServiceKind::Storage).clone();
    let connector = StreamConnector::new(Arc::new(service.clone()), tls.clone(), tls.clone());
    RedisClient::new(connector, &service, url).map_err(|e| anyhow::anyhow!("{e}"))
}

/// redis-rs on its own: one multiplexed connection on a plain `TcpStream`.
pub(crate) async fn redis_rs_direct(port: u16) -> anyhow::Result<MultiplexedConnection> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let info = redis::RedisConnectionInfo::default();
    let (connection, driver) =
        MultiplexedConnection::new_with_config(&info, stream, redis::AsyncConnectionConfig::new()).await?;
    tokio::spawn(driver);
    Ok(connection)
}

/// `redis-benchmark`'s requests per second for each command at `concurrency` (`None`
/// when it is not installed or its output has no such row).
fn redis_benchmark(port: u16, concurrency: usize, requests: u64) -> [Option<f64>; 2] {
    let output = Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-c",
            &concurrency.to_string(),
        ])
        .args([
            "-n",
            &requests.to_string(),
            "-d",
            &VALUE_BYTES.to_string(),
            "-t",
            "ping,set,get",
            "--csv",
        ])
        .output();
    let Ok(output) = output.inspect_err(|e| tracing::warn!("redis-benchmark skipped: {e}")) else {
        return [None, None];
    };
    let text = String::from_utf8_lossy(&output.stdout);
    Op::ALL.map(|op| {
        text.lines().find_map(|line| {
            let mut fields = line.split(',').map(|f| f.trim_matches('"'));
            (fields.next()? == op.benchmark_row())
                .then(|| fields.next()?.parse().ok())
                .flatten()
        })
    })
}

/// Runs the scenario: per command and concurrency a warm-up of each client, then rounds
/// of one window per client (extsvc, then redis-rs); `redis-benchmark` once per
/// concurrency after the rounds.
pub(crate) async fn run(method: &Method, tls: &Arc<ClientConfig>) -> anyhow::Result<RedisReport> {
    let server = RedisServer::start(RedisOptions::default());
    server.set(KEY, &"x".repeat(VALUE_BYTES));
    let extsvc = extsvc_client(&server.url(), tls)?;
    extsvc.connect().await.context("extsvc's Redis client cannot connect")?;
    let direct = redis_rs_direct(server.port()).await?;
    let mut runs = Vec::new();
    for concurrency in CONCURRENCIES {
        for op in Op::ALL {
            eprintln!("redis {} at concurrency {concurrency}", op.name());
            run_window(&extsvc, op, concurrency, method.warmup).await;
            run_window(&direct, op, concurrency, method.warmup).await;
            let mut run = Run {
                op,
                concurrency,
                extsvc: Figures::default(),
                redis_rs: Figures::default(),
                redis_benchmark_rps: None,
            };
            for _ in 0..method.rounds {
                record(
                    &mut run.extsvc,
                    run_window(&extsvc, op, concurrency, method.window).await,
                );
                record(
                    &mut run.redis_rs,
                    run_window(&direct, op, concurrency, method.window).await,
                );
            }
            runs.push(run);
        }
        let requests = if method.quick { 50_000 } else { 200_000 };
        let port = server.port();
        let rates = tokio::task::spawn_blocking(move || redis_benchmark(port, concurrency, requests)).await?;
        for (op, rps) in Op::ALL.into_iter().zip(rates) {
            if let Some(run) = runs.iter_mut().find(|r| r.op == op && r.concurrency == concurrency) {
                run.redis_benchmark_rps = rps;
            }
        }
    }
    Ok(RedisReport {
        runs,
        extsvc_kept_connections: extsvc.connections_opened(),
    })
}
