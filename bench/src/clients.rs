//! The three clients driven with the same workload (extsvc's twice: without and with a
//! metrics recorder), configured equivalently: HTTP/1.1
//! only, at most 10 idle connections per host kept for 30 s (the `oauth` service's pool
//! settings) or none at all ([`Pooling::Off`], the cold scenarios), `TCP_NODELAY`, the
//! same rustls configuration (ring, TLS 1.2 + 1.3, ALPN `http/1.1`), the response body
//! read fully.

use std::fmt;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use extsvc_client::ServiceClient;
use extsvc_config::{load_str, EnvSnapshot, LoadOptions, ServiceKind};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use rustls::ClientConfig;

/// The pool settings every client gets (those of extsvc's `oauth` service).
const MAX_IDLE_PER_HOST: usize = 10;
/// Idle connections are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which client implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientKind {
    /// extsvc's `ServiceClient` of the `oauth` service: route decision, connection cap,
    /// pool, deadline, tracing span.
    Extsvc,
    /// The same client built and driven with a Prometheus recorder as its metrics
    /// recorder (`metrics-exporter-prometheus`, as `extsvc probe --metrics` uses); the
    /// other clients record into none. Runs in the warm scenarios only.
    ExtsvcMetrics,
    /// hyper-util's legacy client over hyper-rustls: the floor our layers add to.
    HyperUtil,
    /// reqwest 0.12 with rustls.
    Reqwest,
}

impl ClientKind {
    /// Every client, in the order each round runs them (extsvc's two back to back, so
    /// that their ratio compares neighbouring windows).
    pub(crate) const ALL: [ClientKind; 4] = [
        ClientKind::Extsvc,
        ClientKind::ExtsvcMetrics,
        ClientKind::HyperUtil,
        ClientKind::Reqwest,
    ];

    /// The name used in the table and as the JSON key prefix.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ClientKind::Extsvc => "extsvc",
            ClientKind::ExtsvcMetrics => "extsvc_metrics",
            ClientKind::HyperUtil => "hyper_util",
            ClientKind::Reqwest => "reqwest",
        }
    }

    /// Parses [`ClientKind::name`].
    pub(crate) fn from_name(name: &str) -> Option<ClientKind> {
        ClientKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl fmt::Display for ClientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a client reaches the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Straight to the target.
    Direct,
    /// Through an HTTP proxy at this address (`CONNECT` for `https://` targets).
    Proxy(SocketAddr),
}

/// Whether a client keeps connections for the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pooling {
    /// Up to [`MAX_IDLE_PER_HOST`] idle connections per host, kept [`IDLE_TIMEOUT`].
    KeepAlive,
    /// No idle connection is kept: every request opens (and closes) its own.
    Off,
    /// Up to this many idle connections per host, kept [`IDLE_TIMEOUT`]: for a load of
    /// more concurrent requests than [`MAX_IDLE_PER_HOST`] without churning connections.
    KeepAliveUpTo(usize),
}

impl Pooling {
    fn max_idle_per_host(self) -> usize {
        match self {
            Pooling::KeepAlive => MAX_IDLE_PER_HOST,
            Pooling::Off => 0,
            Pooling::KeepAliveUpTo(idle) => idle,
        }
    }
}

/// The request target, parsed once in each client's own URL type.
pub(crate) struct Target {
    uri: Uri,
    url: reqwest::Url,
}

impl Target {
    /// Parses `url` for every client.
    pub(crate) fn new(url: &str) -> anyhow::Result<Target> {
        Ok(Target {
            uri: url.parse()?,
            url: url.parse()?,
        })
    }

    /// The URL.
    pub(crate) fn uri(&self) -> &Uri {
        &self.uri
    }
}

type HyperUtilDirect = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;
type HyperUtilTunnel = Client<HttpsConnector<Tunnel<HttpConnector>>, Empty<Bytes>>;

/// Buckets of the recorder's histograms, in seconds: those of `extsvc probe --metrics`.
const PROMETHEUS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// extsvc's client with the Prometheus recorder it records into.
pub(crate) struct MeteredExtsvc {
    client: ServiceClient,
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

/// One client, built for one route.
pub(crate) enum BenchClient {
    /// See [`ClientKind::Extsvc`].
    Extsvc(ServiceClient),
    /// See [`ClientKind::ExtsvcMetrics`].
    ExtsvcMetrics(MeteredExtsvc),
    /// See [`ClientKind::HyperUtil`], direct.
    HyperUtilDirect(HyperUtilDirect),
    /// See [`ClientKind::HyperUtil`], through hyper-util's own `CONNECT` tunnel connector.
    HyperUtilTunnel(HyperUtilTunnel),
    /// See [`ClientKind::Reqwest`].
    Reqwest(reqwest::Client),
}

impl BenchClient {
    /// Builds a client of `kind` for `route`, with `tls` to the target (what it trusts,
    /// its client certificate and session resumption), keeping connections or not.
    pub(crate) fn build(
        kind: ClientKind,
        route: Route,
        tls: &Arc<ClientConfig>,
        pooling: Pooling,
    ) -> anyhow::Result<BenchClient> {
        let max_idle_per_host = pooling.max_idle_per_host();
        match kind {
            ClientKind::ExtsvcMetrics => {
                let recorder = PrometheusBuilder::new()
                    .set_buckets(&PROMETHEUS_BUCKETS)
                    .context("the recorder's buckets")?
                    .build_recorder();
                let handle = recorder.handle();
                // Built with the recorder in place (the client describes its metrics to
                // it); the handles are registered during requests, which `get` polls
                // with the recorder in place too.
                let BenchClient::Extsvc(client) = metrics::with_local_recorder(&recorder, || {
                    BenchClient::build(ClientKind::Extsvc, route, tls, pooling)
                })?
                else {
                    unreachable!("ClientKind::Extsvc builds BenchClient::Extsvc")
                };
                Ok(BenchClient::ExtsvcMetrics(MeteredExtsvc {
                    client,
                    recorder,
                    handle,
                }))
            }
            ClientKind::Extsvc => {
                let json = match route {
                    Route::Direct => "{}".to_owned(),
                    Route::Proxy(addr) => format!(
                        r#"{{"external_services": {{"oauth": {{"proxy": {{"enabled": true,
                            "http_proxy": "http://{addr}", "https_proxy": "http://{addr}"}}}}}}}}"#
                    ),
                };
                let loaded = load_str(&json, "bench.conf", &EnvSnapshot::empty(), &LoadOptions::default())
                    .map_err(|e| anyhow::anyhow!("bench configuration: {e}"))?;
                let resolution = extsvc_resolve::resolve(&loaded.config, &EnvSnapshot::empty());
                let mut service = resolution.service(ServiceKind::Oauth).clone();
                anyhow::ensure!(
                    service.pool.max_idle_per_host == MAX_IDLE_PER_HOST && service.pool.idle_timeout == IDLE_TIMEOUT,
                    "the oauth pool settings changed ({:?}); update the other clients",
                    service.pool
                );
                service.pool.max_idle_per_host = max_idle_per_host;
                // A pool kept larger than the service's cap (idle_connections) needs
                // room for it.
                service.pool.max_connections = service.pool.max_connections.max(max_idle_per_host);
                Ok(BenchClient::Extsvc(ServiceClient::from_parts(
                    service,
                    tls.clone(),
                    tls.clone(),
                )))
            }
            ClientKind::HyperUtil => {
                let mut http = HttpConnector::new();
                http.enforce_http(false);
                http.set_nodelay(true);
                let https = HttpsConnectorBuilder::new()
                    .with_tls_config((**tls).clone())
                    .https_or_http()
                    .enable_http1();
                let mut builder = Client::builder(TokioExecutor::new());
                builder
                    .pool_max_idle_per_host(max_idle_per_host)
                    .pool_idle_timeout(IDLE_TIMEOUT)
                    .pool_timer(TokioTimer::new());
                Ok(match route {
                    Route::Direct => BenchClient::HyperUtilDirect(builder.build(https.wrap_connector(http))),
                    Route::Proxy(addr) => {
                        let proxy: Uri = format!("http://{addr}").parse()?;
                        BenchClient::HyperUtilTunnel(builder.build(https.wrap_connector(Tunnel::new(proxy, http))))
                    }
                })
            }
            ClientKind::Reqwest => {
                let builder = reqwest::Client::builder()
                    .use_preconfigured_tls((**tls).clone())
                    .http1_only()
                    .pool_max_idle_per_host(max_idle_per_host)
                    .pool_idle_timeout(IDLE_TIMEOUT)
                    .tcp_nodelay(true);
                let builder = match route {
                    Route::Direct => builder.no_proxy(),
                    Route::Proxy(addr) => builder.proxy(reqwest::Proxy::all(format!("http://{addr}"))?),
                };
                Ok(BenchClient::Reqwest(
                    builder.build().context("building the reqwest client")?,
                ))
            }
        }
    }

    /// One `GET`, reading the whole body; returns the body length. Errors are texts
    /// (allocated only on failure).
    pub(crate) async fn get(&self, target: &Target) -> Result<usize, String> {
        match self {
            BenchClient::Extsvc(client) => extsvc_get(client, target).await,
            BenchClient::ExtsvcMetrics(metered) => {
                with_recorder(&metered.recorder, extsvc_get(&metered.client, target)).await
            }
            BenchClient::HyperUtilDirect(client) => hyper_util_get(client, target).await,
            BenchClient::HyperUtilTunnel(client) => hyper_util_get(client, target).await,
            BenchClient::Reqwest(client) => {
                let response = client.get(target.url.clone()).send().await.map_err(|e| e.to_string())?;
                check_status(response.status())?;
                let body = response.bytes().await.map_err(|e| e.to_string())?;
                Ok(body.len())
            }
        }
    }

    /// For [`ClientKind::ExtsvcMetrics`]: drains the recorded histogram samples into
    /// the recorder's buckets (what the exporter's upkeep thread does every 5 s, so that
    /// they do not pile up) and returns how long that took. `None` for the others.
    pub(crate) fn run_upkeep(&self) -> Option<Duration> {
        let BenchClient::ExtsvcMetrics(metered) = self else {
            return None;
        };
        let started = Instant::now();
        metered.handle.run_upkeep();
        Some(started.elapsed())
    }

    /// For [`ClientKind::ExtsvcMetrics`]: the requests its recorder counted so far (the
    /// sum of the `http_client_request_duration_count` series of the Prometheus text).
    /// `None` for the others.
    pub(crate) fn recorded_requests(&self) -> Option<u64> {
        let BenchClient::ExtsvcMetrics(metered) = self else {
            return None;
        };
        Some(request_count(&metered.handle.render()))
    }
}

/// The sum of the `http_client_request_duration_count` series in Prometheus text.
fn request_count(prometheus_text: &str) -> u64 {
    prometheus_text
        .lines()
        .filter(|line| line.starts_with("http_client_request_duration_count"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Polls `future` with `recorder` as the thread's metrics recorder at every poll (the
/// worker thread may change between polls), so that whatever it registers and records
/// goes to `recorder` and nothing else running on the runtime does.
async fn with_recorder<F: Future>(recorder: &PrometheusRecorder, future: F) -> F::Output {
    let mut future = pin!(future);
    poll_fn(|cx| metrics::with_local_recorder(recorder, || future.as_mut().poll(cx))).await
}

async fn extsvc_get(client: &ServiceClient, target: &Target) -> Result<usize, String> {
    let response = client.request(empty_get(target)).await.map_err(|e| e.to_string())?;
    check_status(response.status())?;
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(body.to_bytes().len())
}

fn empty_get(target: &Target) -> Request<Empty<Bytes>> {
    let mut req = Request::new(Empty::new());
    *req.uri_mut() = target.uri.clone();
    req
}

fn check_status(status: StatusCode) -> Result<(), String> {
    if status == StatusCode::OK {
        Ok(())
    } else {
        Err(format!("unexpected status {status}"))
    }
}

async fn hyper_util_get<C>(client: &Client<C, Empty<Bytes>>, target: &Target) -> Result<usize, String>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let response = client.request(empty_get(target)).await.map_err(|e| e.to_string())?;
    check_status(response.status())?;
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(body.to_bytes().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench_pki::BenchPki;
    use crate::connect_proxy::ConnectProxy;
    use crate::load::run_window;
    use crate::target_server::{TargetServer, BODY};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_client_gets_the_body_directly_and_through_the_proxy() {
        let pki = BenchPki::generate().unwrap();
        let plain = TargetServer::start(None).await.unwrap();
        let tls = TargetServer::start(Some(pki.server.clone())).await.unwrap();
        let proxy = ConnectProxy::start().await.unwrap();
        let http = Target::new(&format!("http://127.0.0.1:{}/", plain.addr.port())).unwrap();
        let https = Target::new(&format!("https://127.0.0.1:{}/", tls.addr.port())).unwrap();
        for kind in ClientKind::ALL {
            let direct = BenchClient::build(kind, Route::Direct, &pki.client, Pooling::KeepAlive).unwrap();
            assert_eq!(direct.get(&http).await, Ok(BODY.len()), "{kind} over http");
            assert_eq!(direct.get(&https).await, Ok(BODY.len()), "{kind} over https");
            let tunnels = proxy.tunnels();
            let proxied = BenchClient::build(kind, Route::Proxy(proxy.addr), &pki.client, Pooling::KeepAlive).unwrap();
            assert_eq!(proxied.get(&https).await, Ok(BODY.len()), "{kind} through the proxy");
            assert_eq!(proxy.tunnels(), tunnels + 1, "{kind} opened one tunnel");
            // Pooled: later requests reuse the tunnel. hyper-util's pool (and so reqwest's)
            // takes a connection back on a background task after the body ends, so a
            // request sent at once may race it and open another tunnel; ours takes it back
            // when the body ends. Hence exactly one tunnel for extsvc, and for the others
            // reuse on most of four requests sent a moment apart.
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                assert_eq!(proxied.get(&https).await, Ok(BODY.len()));
            }
            let opened = proxy.tunnels() - tunnels;
            if matches!(kind, ClientKind::Extsvc | ClientKind::ExtsvcMetrics) {
                assert_eq!(opened, 1, "{kind} reused its tunnel");
            } else {
                assert!(opened <= 2, "{kind} reuses its tunnel: {opened} opened for 5 requests");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cold_clients_open_a_connection_per_request_with_the_client_certificate() {
        let pki = BenchPki::generate().unwrap();
        let mtls = TargetServer::start(Some(pki.mtls_server.clone())).await.unwrap();
        let proxy = ConnectProxy::start().await.unwrap();
        let target = Target::new(&format!("https://127.0.0.1:{}/", mtls.addr.port())).unwrap();
        for kind in ClientKind::ALL {
            // Without a client certificate the target refuses every client.
            let anonymous = BenchClient::build(kind, Route::Direct, &pki.client, Pooling::Off).unwrap();
            assert!(anonymous.get(&target).await.is_err(), "{kind} without a certificate");
            for tls in [&pki.mtls_client_no_resumption, &pki.mtls_client] {
                for route in [Route::Direct, Route::Proxy(proxy.addr)] {
                    let client = BenchClient::build(kind, route, tls, Pooling::Off).unwrap();
                    let (accepted, tunnels) = (mtls.accepted(), proxy.tunnels());
                    for _ in 0..3 {
                        assert_eq!(client.get(&target).await, Ok(BODY.len()), "{kind} {route:?}");
                    }
                    assert_eq!(
                        mtls.accepted() - accepted,
                        3,
                        "{kind} {route:?}: one connection per request"
                    );
                    let expected_tunnels = if route == Route::Direct { 0 } else { 3 };
                    assert_eq!(proxy.tunnels() - tunnels, expected_tunnels, "{kind} {route:?}");
                }
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_metrics_column_records_its_requests_and_only_its_own() {
        let pki = BenchPki::generate().unwrap();
        let plain = TargetServer::start(None).await.unwrap();
        let target = Arc::new(Target::new(&format!("http://127.0.0.1:{}/", plain.addr.port())).unwrap());
        let metered = Arc::new(
            BenchClient::build(
                ClientKind::ExtsvcMetrics,
                Route::Direct,
                &pki.client,
                Pooling::KeepAlive,
            )
            .unwrap(),
        );
        let bare = BenchClient::build(ClientKind::Extsvc, Route::Direct, &pki.client, Pooling::KeepAlive).unwrap();
        assert_eq!(metered.recorded_requests(), Some(0));
        // Several workers on both runtime threads, so polls move between threads.
        let window = run_window(&metered, &target, 4, Duration::from_millis(50)).await;
        assert_eq!(window.errors, 0, "{:?}", window.first_error);
        assert_eq!(metered.recorded_requests(), Some(window.requests));
        for _ in 0..3 {
            assert_eq!(bare.get(&target).await, Ok(BODY.len()));
        }
        assert_eq!(
            metered.recorded_requests(),
            Some(window.requests),
            "the bare client records elsewhere"
        );
        assert_eq!(bare.recorded_requests(), None);
        assert!(metered.run_upkeep().is_some() && bare.run_upkeep().is_none());
        let BenchClient::ExtsvcMetrics(m) = &*metered else {
            unreachable!()
        };
        let text = m.handle.render();
        assert!(
            text.contains("extsvc_pool_connections_opened{")
                && text.contains("# TYPE http_client_request_duration histogram"),
            "{text}"
        );
    }

    #[test]
    fn the_request_count_sums_every_series() {
        let text = "# TYPE http_client_request_duration histogram\n\
            http_client_request_duration_bucket{le=\"0.001\"} 7\n\
            http_client_request_duration_count{http_response_status_code=\"200\"} 12\n\
            http_client_request_duration_count{http_response_status_code=\"503\"} 3\n\
            http_client_connection_duration_count 5\n";
        assert_eq!(request_count(text), 15);
        assert_eq!(request_count(""), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_window_counts_requests_and_keeps_every_latency() {
        let pki = BenchPki::generate().unwrap();
        let plain = TargetServer::start(None).await.unwrap();
        let target = Arc::new(Target::new(&format!("http://127.0.0.1:{}/", plain.addr.port())).unwrap());
        let client =
            Arc::new(BenchClient::build(ClientKind::Extsvc, Route::Direct, &pki.client, Pooling::KeepAlive).unwrap());
        let window = run_window(&client, &target, 4, Duration::from_millis(50)).await;
        assert_eq!(window.errors, 0, "{:?}", window.first_error);
        assert!(window.requests > 0);
        assert_eq!(window.latencies_ns.len() as u64, window.requests);
        assert!(window.latencies_ns.windows(2).all(|w| w[0] <= w[1]), "sorted");
        assert!(plain.accepted() <= 4, "at most one connection per worker");
    }
}
