//! `cargo xtask bench [--quick]`: drives the same HTTP workload through extsvc's service
//! client, a bare hyper-util legacy client and reqwest against servers it starts on
//! 127.0.0.1, and micro-benchmarks the bypass index and resolution. Prints a table and
//! writes `target/bench/summary.json`. The method is in `docs/performance.md`.
//!
//! ```text
//! extsvc-bench [--quick] [--scenarios a,b] [--no-load] [--no-micro] [--no-probe] [--squid|--no-squid] [--out FILE]
//! extsvc-bench profile CLIENT SCENARIO REQUESTS      (one client, concurrency 1, for callgrind/perf)
//! extsvc-bench idle-child CLIENT URL CA_FILE N       (the idle_connections scenario's child process)
//! extsvc-bench profile-redis CLIENT OP CONCURRENCY COMMANDS   (one Redis client, for perf stat/callgrind)
//! ```

mod bench_pki;
mod clients;
mod connect_proxy;
mod decision;
mod go_program;
mod idle_connections;
mod load;
mod probe_vs_wrk;
mod redis_cluster;
mod redis_pipeline;
mod redis_profile;
mod redis_scenario;
mod report;
mod target_server;
mod tls_provider;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use extsvc_tests::squid::{Squid, SquidOptions};
use serde_json::{json, Map, Value};

use crate::bench_pki::BenchPki;
use crate::clients::{BenchClient, ClientKind, Pooling, Route, Target};
use crate::connect_proxy::ConnectProxy;
use crate::load::{median, run_window, Window};
use crate::report::{ClientFigures, ScenarioRun, Summary};
use crate::target_server::{TargetServer, BODY};

/// Tokio worker threads: the machine's two cores.
const WORKER_THREADS: usize = 2;
/// The concurrencies each scenario runs at.
const CONCURRENCIES: [usize; 2] = [1, 16];
/// Every scenario, in run order.
const SCENARIOS: [&str; 13] = [
    "direct_http",
    "direct_https",
    "proxy_https",
    "proxy_https_squid",
    "cold_https",
    "cold_https_resumed",
    "cold_proxy_https",
    "cold_proxy_https_resumed",
    "redis",
    "redis_pipeline",
    "redis_cluster",
    "tls_provider",
    "idle_connections",
];

/// How long and how often to measure.
#[derive(Debug, Clone)]
pub(crate) struct Method {
    pub(crate) quick: bool,
    pub(crate) warmup: Duration,
    pub(crate) window: Duration,
    pub(crate) rounds: usize,
    micro_min: Duration,
    micro_reps: usize,
    probe_window: Duration,
    probe_rounds: usize,
}

impl Method {
    fn new(quick: bool) -> Method {
        if quick {
            Method {
                quick,
                warmup: Duration::from_millis(300),
                window: Duration::from_millis(500),
                rounds: 8,
                micro_min: Duration::from_millis(100),
                micro_reps: 5,
                probe_window: Duration::from_secs(2),
                probe_rounds: 3,
            }
        } else {
            Method {
                quick,
                warmup: Duration::from_secs(1),
                window: Duration::from_secs(1),
                rounds: 20,
                micro_min: Duration::from_millis(200),
                micro_reps: 5,
                probe_window: Duration::from_secs(3),
                probe_rounds: 8,
            }
        }
    }
}

#[derive(Debug)]
struct Args {
    method: Method,
    scenarios: Vec<&'static str>,
    load: bool,
    micro: bool,
    probe: bool,
    squid: Option<bool>,
    out: Option<PathBuf>,
}

fn parse_args(args: &[String]) -> anyhow::Result<Args> {
    let mut parsed = Args {
        method: Method::new(false),
        scenarios: SCENARIOS.to_vec(),
        load: true,
        micro: true,
        probe: true,
        squid: None,
        out: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => parsed.method = Method::new(true),
            "--no-load" => parsed.load = false,
            "--no-micro" => parsed.micro = false,
            "--no-probe" => parsed.probe = false,
            "--squid" => parsed.squid = Some(true),
            "--no-squid" => parsed.squid = Some(false),
            "--out" => parsed.out = Some(PathBuf::from(args.next().context("--out needs a file")?)),
            "--scenarios" => {
                let list = args.next().context("--scenarios needs a comma-separated list")?;
                parsed.scenarios = list
                    .split(',')
                    .map(|name| {
                        SCENARIOS
                            .into_iter()
                            .find(|s| *s == name.trim())
                            .with_context(|| format!("unknown scenario {name:?} (known: {})", SCENARIOS.join(", ")))
                    })
                    .collect::<anyhow::Result<_>>()?;
            }
            other => bail!(
                "unknown argument {other:?}\nusage: extsvc-bench [--quick] [--scenarios a,b] [--no-load] [--no-micro] \
                 [--no-probe] [--squid|--no-squid] [--out FILE]\n       extsvc-bench profile CLIENT SCENARIO REQUESTS"
            ),
        }
    }
    Ok(parsed)
}

/// `<target dir>/bench/summary.json`, the target dir being where this binary was built.
fn default_summary_path() -> PathBuf {
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.parent()?
            .parent()
            .map(|target| target.join("bench").join("summary.json"))
    });
    from_exe.unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench/summary.json")))
}

/// The servers every scenario uses, started once.
struct Servers {
    plain: TargetServer,
    tls: TargetServer,
    /// The cold scenarios' target: TLS demanding a client certificate.
    mtls: TargetServer,
    proxy: ConnectProxy,
    squid: Option<Squid>,
}

/// How the clients of a scenario use connections and TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connections {
    /// Pooled keep-alive connections, TLS without a client certificate.
    Warm,
    /// A new connection per request, TLS with a client certificate, every handshake full.
    Cold,
    /// A new connection per request, TLS with a client certificate, resuming the session
    /// of an earlier connection (rustls' in-memory ticket cache on both sides).
    ColdResumed,
}

/// One scenario: where the clients send requests and how they get there.
struct Scenario {
    name: &'static str,
    url: String,
    route: Route,
    connections: Connections,
}

impl Scenario {
    fn of(name: &str, servers: &Servers) -> Option<Scenario> {
        let https = format!("https://127.0.0.1:{}/", servers.tls.addr.port());
        let mtls = format!("https://127.0.0.1:{}/", servers.mtls.addr.port());
        let proxy = Route::Proxy(servers.proxy.addr);
        let cold = |name, route, connections| {
            Some(Scenario {
                name,
                url: mtls.clone(),
                route,
                connections,
            })
        };
        let (name, url, route) = match name {
            "cold_https" => return cold("cold_https", Route::Direct, Connections::Cold),
            "cold_https_resumed" => return cold("cold_https_resumed", Route::Direct, Connections::ColdResumed),
            "cold_proxy_https" => return cold("cold_proxy_https", proxy, Connections::Cold),
            "cold_proxy_https_resumed" => return cold("cold_proxy_https_resumed", proxy, Connections::ColdResumed),
            "direct_http" => (
                "direct_http",
                format!("http://127.0.0.1:{}/", servers.plain.addr.port()),
                Route::Direct,
            ),
            "direct_https" => ("direct_https", https, Route::Direct),
            "proxy_https" => ("proxy_https", https, proxy),
            "proxy_https_squid" => (
                "proxy_https_squid",
                https,
                Route::Proxy(SocketAddr::from(([127, 0, 0, 1], servers.squid.as_ref()?.http_port()))),
            ),
            _ => return None,
        };
        Some(Scenario {
            name,
            url,
            route,
            connections: Connections::Warm,
        })
    }

    /// The clients' TLS configuration to the target and whether they keep connections.
    fn client_setup<'a>(&self, pki: &'a BenchPki) -> (&'a Arc<rustls::ClientConfig>, Pooling) {
        match self.connections {
            Connections::Warm => (&pki.client, Pooling::KeepAlive),
            Connections::Cold => (&pki.mtls_client_no_resumption, Pooling::Off),
            Connections::ColdResumed => (&pki.mtls_client, Pooling::Off),
        }
    }

    /// Connections the server side has seen opened so far (tunnels for the in-process
    /// proxy, accepted connections for direct routes; squid's are not counted).
    fn connections(&self, servers: &Servers) -> Option<u64> {
        match (self.name, self.route, self.connections) {
            ("direct_http", _, _) => Some(servers.plain.accepted()),
            (_, Route::Direct, Connections::Warm) => Some(servers.tls.accepted()),
            (_, Route::Direct, _) => Some(servers.mtls.accepted()),
            ("proxy_https" | "cold_proxy_https" | "cold_proxy_https_resumed", _, _) => Some(servers.proxy.tunnels()),
            _ => None,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // Tracing as a gateway would run it: `info` unless RUST_LOG says otherwise, so the
    // client's per-request span is enabled and paid for.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    if argv.first().map(String::as_str) == Some("profile") {
        return runtime.block_on(profile(&argv[1..]));
    }
    if argv.first().map(String::as_str) == Some("profile-redis") {
        return runtime.block_on(redis_profile::profile(&argv[1..]));
    }
    if argv.first().map(String::as_str) == Some("idle-child") {
        return runtime.block_on(idle_connections::child(&argv[1..]));
    }
    let args = parse_args(&argv)?;
    let summary = runtime.block_on(run(&args))?;
    let mut stdout = std::io::stdout().lock();
    summary.write_table(&mut stdout)?;
    let path = args.out.unwrap_or_else(default_summary_path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&summary.to_json())?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    writeln!(stdout, "summary: {}", path.display())?;
    Ok(())
}

async fn start_servers(pki: &BenchPki, squid: bool) -> anyhow::Result<Servers> {
    let plain = TargetServer::start(None).await?;
    let tls = TargetServer::start(Some(pki.server.clone())).await?;
    let mtls = TargetServer::start(Some(pki.mtls_server.clone())).await?;
    let proxy = ConnectProxy::start().await?;
    let squid = if squid {
        let options = SquidOptions {
            without_access_log: true,
            ..SquidOptions::default()
        };
        match Squid::try_start(options) {
            Ok(squid) => Some(squid),
            Err(e) => {
                tracing::warn!("squid scenario skipped: {e}");
                None
            }
        }
    } else {
        None
    };
    Ok(Servers {
        plain,
        tls,
        mtls,
        proxy,
        squid,
    })
}

fn meta(method: &Method, servers: Option<&Servers>) -> Map<String, Value> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let mut map = Map::new();
    map.insert("quick".into(), json!(method.quick));
    map.insert(
        "cpus".into(),
        json!(std::thread::available_parallelism().map_or(0, usize::from)),
    );
    map.insert("cpu_model".into(), json!(cpu));
    map.insert("tokio_worker_threads".into(), json!(WORKER_THREADS));
    map.insert("warmup_ms".into(), json!(method.warmup.as_millis() as u64));
    map.insert("window_ms".into(), json!(method.window.as_millis() as u64));
    map.insert("rounds".into(), json!(method.rounds));
    map.insert("body_bytes".into(), json!(BODY.len()));
    map.insert(
        "figures".into(),
        json!("median of the rounds; top level at the highest concurrency, cN nested"),
    );
    map.insert("squid".into(), json!(servers.is_some_and(|s| s.squid.is_some())));
    map
}

/// The first three fields of `/proc/loadavg` (1, 5 and 15 minutes), as `uptime` shows them.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

async fn run(args: &Args) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let load_at_start = load_average();
    let mut summary = Summary::default();
    let mut servers = None;
    if args.load {
        let pki = BenchPki::generate()?;
        let with_squid = args.scenarios.contains(&"proxy_https_squid") && args.squid.unwrap_or(true);
        let started_servers = start_servers(&pki, with_squid).await?;
        if args.scenarios.contains(&"redis") {
            summary.redis = Some(redis_scenario::run(&args.method, &pki.client).await?);
        }
        if args.scenarios.contains(&"idle_connections") {
            summary.idle_connections = Some(idle_connections::run().await?);
        }
        if args.scenarios.contains(&"tls_provider") {
            summary.tls_provider = Some(tls_provider::run(&args.method).await?);
        }
        if args.scenarios.contains(&"redis_pipeline") {
            summary.redis_pipeline = Some(redis_pipeline::run(&args.method, &pki.client).await?);
        }
        if args.scenarios.contains(&"redis_cluster") {
            summary.redis_cluster = Some(redis_cluster::run(&args.method).await?);
        }
        for name in &args.scenarios {
            let Some(scenario) = Scenario::of(name, &started_servers) else {
                continue;
            };
            summary
                .runs
                .extend(run_scenario(&scenario, &started_servers, &pki, &args.method).await?);
        }
        servers = Some(started_servers);
    }
    summary.meta = meta(&args.method, servers.as_ref());
    if args.micro {
        eprintln!("bypass index: lists of 10, 100, 1000 entries");
        summary.bypass = Some(decision::bench_bypass(
            &[10, 100, 1000],
            args.method.micro_min,
            args.method.micro_reps,
        )?);
        eprintln!("resolve: full configuration");
        summary.resolve_ns = Some(decision::bench_resolve(args.method.micro_min, args.method.micro_reps)?);
    }
    if args.probe {
        match probe_vs_wrk::missing() {
            Some(reason) => {
                eprintln!("probe vs wrk skipped: {reason}");
                summary.probe_skipped = Some(reason);
            }
            None => {
                let (window, rounds) = (args.method.probe_window, args.method.probe_rounds);
                summary.probe = tokio::task::spawn_blocking(move || probe_vs_wrk::compare(window, rounds))
                    .await
                    .context("the probe comparison")??;
            }
        }
    }
    summary
        .meta
        .insert("duration_s".into(), json!(started.elapsed().as_secs()));
    // The machine is shared: what else ran is part of reading the figures.
    summary.meta.insert("load_average_start".into(), json!(load_at_start));
    summary.meta.insert("load_average_end".into(), json!(load_average()));
    Ok(summary)
}

/// Runs one scenario at every concurrency: per concurrency a warm-up of each client, then
/// rounds of one window per client in the order extsvc, extsvc with a metrics recorder
/// (warm scenarios only), hyper-util, reqwest.
async fn run_scenario(
    scenario: &Scenario,
    servers: &Servers,
    pki: &BenchPki,
    method: &Method,
) -> anyhow::Result<Vec<ScenarioRun>> {
    let target = Arc::new(Target::new(&scenario.url)?);
    let (tls, pooling) = scenario.client_setup(pki);
    let clients: Vec<(ClientKind, Arc<BenchClient>)> = ClientKind::ALL
        .into_iter()
        .filter(|kind| *kind != ClientKind::ExtsvcMetrics || scenario.connections == Connections::Warm)
        .map(|kind| Ok((kind, Arc::new(BenchClient::build(kind, scenario.route, tls, pooling)?))))
        .collect::<anyhow::Result<_>>()?;
    let mut runs = Vec::new();
    for concurrency in CONCURRENCIES {
        eprintln!("{} at concurrency {concurrency}", scenario.name);
        let mut windows: Vec<Vec<Window>> = vec![Vec::new(); clients.len()];
        let mut new_connections: Vec<Option<u64>> = vec![Some(0); clients.len()];
        let mut warmup_errors: Vec<(u64, Option<String>)> = vec![(0, None); clients.len()];
        let mut upkeep: Vec<Option<Duration>> = vec![None; clients.len()];
        let recorded_before: Vec<Option<u64>> = clients.iter().map(|(_, c)| c.recorded_requests()).collect();
        for (i, (_, client)) in clients.iter().enumerate() {
            let warm = run_window(client, &target, concurrency, method.warmup).await;
            warmup_errors[i] = (warm.errors, warm.first_error);
        }
        for _ in 0..method.rounds {
            for (i, (_, client)) in clients.iter().enumerate() {
                let before = scenario.connections(servers);
                let window = run_window(client, &target, concurrency, method.window).await;
                let after = scenario.connections(servers);
                new_connections[i] = match (new_connections[i], before, after) {
                    (Some(sum), Some(b), Some(a)) => Some(sum + (a - b)),
                    _ => None,
                };
                windows[i].push(window);
                if let Some(took) = client.run_upkeep() {
                    upkeep[i] = Some(upkeep[i].unwrap_or_default() + took);
                }
            }
        }
        let mut figures: Vec<(ClientKind, ClientFigures)> = clients
            .iter()
            .zip(windows)
            .zip(new_connections)
            .zip(warmup_errors)
            .map(|((((kind, _), windows), new_connections), (warm_errors, warm_error))| {
                let mut rps: Vec<f64> = windows.iter().map(Window::rps).collect();
                let mut p50: Vec<f64> = windows.iter().map(|w| w.quantile_us(0.50)).collect();
                let mut p99: Vec<f64> = windows.iter().map(|w| w.quantile_us(0.99)).collect();
                let first_error = warm_error.or_else(|| windows.iter().find_map(|w| w.first_error.clone()));
                let figures = ClientFigures {
                    rps_rounds: rps.clone(),
                    rps: median(&mut rps),
                    p50_us: median(&mut p50),
                    p99_us: median(&mut p99),
                    requests: windows.iter().map(|w| w.requests).sum(),
                    errors: warm_errors + windows.iter().map(|w| w.errors).sum::<u64>(),
                    first_error,
                    new_connections,
                    ..ClientFigures::default()
                };
                (*kind, figures)
            })
            .collect();
        for (((kind, f), (_, client)), (upkeep, before)) in figures
            .iter_mut()
            .zip(&clients)
            .zip(upkeep.into_iter().zip(recorded_before))
        {
            f.recorder_upkeep = upkeep;
            let Some((after, before)) = client.recorded_requests().zip(before) else {
                continue;
            };
            let recorded = after.saturating_sub(before);
            f.recorded_requests = Some(recorded);
            // A recorder that received nothing would make the column measure nothing.
            anyhow::ensure!(
                recorded >= f.requests && recorded > 0,
                "{} at concurrency {concurrency}: {kind}'s recorder counted {recorded} requests in \
                 http_client_request_duration, the column made {}",
                scenario.name,
                f.requests
            );
        }
        runs.push(ScenarioRun {
            scenario: scenario.name,
            concurrency,
            clients: figures,
        });
    }
    Ok(runs)
}

/// `profile CLIENT SCENARIO REQUESTS`: one client, concurrency 1, a fixed number of
/// requests after 200 warm-up requests; for `valgrind --tool=callgrind` or `perf record`.
async fn profile(args: &[String]) -> anyhow::Result<()> {
    let [client, scenario, requests] = args else {
        bail!("usage: extsvc-bench profile CLIENT SCENARIO REQUESTS (clients: extsvc, extsvc_metrics, hyper_util, reqwest)");
    };
    let kind = ClientKind::from_name(client).with_context(|| format!("unknown client {client:?}"))?;
    let requests: u64 = requests.parse().context("REQUESTS must be a number")?;
    let pki = BenchPki::generate()?;
    let servers = start_servers(&pki, scenario == "proxy_https_squid").await?;
    let scenario = Scenario::of(scenario, &servers).with_context(|| format!("unknown scenario {scenario:?}"))?;
    let target = Target::new(&scenario.url)?;
    let (tls, pooling) = scenario.client_setup(&pki);
    let client = BenchClient::build(kind, scenario.route, tls, pooling)?;
    for _ in 0..200 {
        client
            .get(&target)
            .await
            .map_err(|e| anyhow::anyhow!("warm-up request failed: {e}"))?;
    }
    let start = Instant::now();
    for _ in 0..requests {
        client
            .get(&target)
            .await
            .map_err(|e| anyhow::anyhow!("request failed: {e}"))?;
    }
    let elapsed = start.elapsed();
    eprintln!(
        "{kind} {}: {requests} requests in {:.3} s ({:.0} req/s) to {}",
        scenario.name,
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        target.uri()
    );
    Ok(())
}
