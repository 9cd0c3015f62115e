//! The `tls_provider` scenario: extsvc's client with each rustls crypto provider extsvc
//! can be built with — ring, aws-lc-rs with classical key exchange only, aws-lc-rs with
//! X25519MLKEM768 (hybrid post-quantum) offered first — on the rows where the provider
//! does the work: the four cold ones (a new TCP connection and TLS handshake with a
//! client certificate per request; direct and through the `CONNECT` proxy; full and
//! resumed) and the warm `direct_https` one (pooled: record encryption only).
//!
//! The client's configuration is the only thing that changes between columns: the
//! servers (target and proxy, in this process) run aws-lc-rs with post-quantum key
//! exchange for every column, so that X25519MLKEM768 is negotiated when the client
//! offers it, and their share of each handshake is in every figure alike. Interleaved:
//! per row and concurrency, a warm-up window per provider, then rounds of one window
//! per provider.

use std::io::{self, Write};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::ClientConfig;
use serde_json::{json, Map, Value};

use crate::bench_pki::{BenchPki, Material};
use crate::clients::{BenchClient, ClientKind, Pooling, Route, Target};
use crate::connect_proxy::ConnectProxy;
use crate::load::{median, median_of_ratios, run_window, Window};
use crate::target_server::TargetServer;
use crate::{Method, CONCURRENCIES};

/// One column: a provider as extsvc builds it with one of its features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Ring,
    AwsLcRs,
    AwsLcRsPostQuantum,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Ring, Variant::AwsLcRs, Variant::AwsLcRsPostQuantum];

    /// The JSON key prefix; also extsvc-tls's `CRYPTO_PROVIDER` of the matching feature.
    fn name(self) -> &'static str {
        match self {
            Variant::Ring => "ring",
            Variant::AwsLcRs => "aws_lc_rs",
            Variant::AwsLcRsPostQuantum => "aws_lc_rs_pq",
        }
    }

    /// The provider, as extsvc-tls builds it for the feature (`src/provider.rs`).
    fn provider(self) -> Arc<CryptoProvider> {
        use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
        let classical = [kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
        match self {
            Variant::Ring => crate::bench_pki::provider(),
            Variant::AwsLcRs => Arc::new(CryptoProvider {
                kx_groups: classical.to_vec(),
                ..default_provider()
            }),
            Variant::AwsLcRsPostQuantum => Arc::new(CryptoProvider {
                kx_groups: std::iter::once(kx_group::X25519MLKEM768).chain(classical).collect(),
                ..default_provider()
            }),
        }
    }
}

/// The rows: (name, through the proxy, how connections are used).
const ROWS: [(&str, bool, Row); 5] = [
    ("cold_https", false, Row::Cold),
    ("cold_https_resumed", false, Row::ColdResumed),
    ("cold_proxy_https", true, Row::Cold),
    ("cold_proxy_https_resumed", true, Row::ColdResumed),
    ("direct_https", false, Row::Warm),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    Warm,
    Cold,
    ColdResumed,
}

impl Row {
    fn setup(self, pki: &BenchPki) -> (&Arc<ClientConfig>, Pooling) {
        match self {
            Row::Warm => (&pki.client, Pooling::KeepAlive),
            Row::Cold => (&pki.mtls_client_no_resumption, Pooling::Off),
            Row::ColdResumed => (&pki.mtls_client, Pooling::Off),
        }
    }
}

/// One variant's figures in one row: (requests per second of each round, p50 µs of
/// each round, errors, first error).
type Column = (Vec<f64>, Vec<f64>, u64, Option<String>);

/// One row at one concurrency: per variant, requests per second and p50 of each round.
#[derive(Debug, Clone)]
struct RowRun {
    row: &'static str,
    concurrency: usize,
    /// In [`Variant::ALL`] order.
    columns: Vec<Column>,
}

impl RowRun {
    /// The median of the per-round ratios of `ours` over ring.
    fn vs_ring(&self, ours: usize) -> Option<f64> {
        median_of_ratios(&self.columns[ours].0, &self.columns[0].0)
    }

    fn json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("concurrency".into(), json!(self.concurrency));
        for (i, (variant, (rps, p50, errors, first_error))) in Variant::ALL.iter().zip(&self.columns).enumerate() {
            let name = variant.name();
            map.insert(format!("{name}_rps"), json!(round(median(&mut rps.clone()), 1)));
            map.insert(format!("{name}_p50_us"), json!(round(median(&mut p50.clone()), 1)));
            map.insert(format!("{name}_errors"), json!(errors));
            if let Some(error) = first_error {
                map.insert(format!("{name}_first_error"), json!(error));
            }
            if i > 0 {
                if let Some(ratio) = self.vs_ring(i) {
                    map.insert(format!("{name}_vs_ring_rps"), json!(round(ratio, 3)));
                }
            }
        }
        map
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// What the scenario measured.
#[derive(Debug, Clone)]
pub(crate) struct ProviderReport {
    runs: Vec<RowRun>,
}

impl ProviderReport {
    /// `{"default": <extsvc's provider as built>, "<row>": {..top concurrency, "c1": {..}}}`.
    pub(crate) fn to_json(&self) -> Value {
        let mut root = Map::new();
        root.insert("default".into(), json!(extsvc_tls::CRYPTO_PROVIDER));
        root.insert("server".into(), json!("aws_lc_rs_pq"));
        let top = CONCURRENCIES.iter().copied().max().unwrap_or(16);
        for (row, _, _) in ROWS {
            let mut map = Map::new();
            for run in self.runs.iter().filter(|r| r.row == row) {
                if run.concurrency == top {
                    map.extend(run.json());
                } else {
                    map.insert(format!("c{}", run.concurrency), Value::Object(run.json()));
                }
            }
            if !map.is_empty() {
                root.insert(row.into(), Value::Object(map));
            }
        }
        Value::Object(root)
    }

    pub(crate) fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "{:<26} {:>4}  {:>10} {:>10} {:>8} {:>10} {:>8}   (extsvc built with: {})",
            "tls_provider",
            "conc",
            "ring/s",
            "aws-lc/s",
            "÷ring",
            "aws-lc-pq/s",
            "÷ring",
            extsvc_tls::CRYPTO_PROVIDER
        )?;
        for run in &self.runs {
            let rate = |i: usize| median(&mut run.columns[i].0.clone());
            let text = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}×"));
            writeln!(
                out,
                "{:<26} {:>4}  {:>10.0} {:>10.0} {:>8} {:>10.0} {:>8}",
                run.row,
                run.concurrency,
                rate(0),
                rate(1),
                text(run.vs_ring(1)),
                rate(2),
                text(run.vs_ring(2)),
            )?;
            for (variant, (_, _, errors, first)) in Variant::ALL.iter().zip(&run.columns) {
                if let Some(error) = first {
                    writeln!(
                        out,
                        "{:<26} {} first error ({errors} errors): {error}",
                        "",
                        variant.name()
                    )?;
                }
            }
        }
        writeln!(out)
    }
}

/// Runs the scenario (see the module docs).
pub(crate) async fn run(method: &Method) -> anyhow::Result<ProviderReport> {
    let material = Material::generate()?;
    let server_provider = Variant::AwsLcRsPostQuantum.provider();
    let pkis: Vec<BenchPki> = Variant::ALL
        .iter()
        .map(|v| BenchPki::with_providers(&material, server_provider.clone(), v.provider()))
        .collect::<anyhow::Result<_>>()?;
    // Every variant's server configuration is the same; the first one's serves all.
    let tls = TargetServer::start(Some(pkis[0].server.clone())).await?;
    let mtls = TargetServer::start(Some(pkis[0].mtls_server.clone())).await?;
    let proxy = ConnectProxy::start().await?;
    let mut runs = Vec::new();
    for (row, proxied, kind) in ROWS {
        let url = match kind {
            Row::Warm => format!("https://127.0.0.1:{}/", tls.addr.port()),
            Row::Cold | Row::ColdResumed => format!("https://127.0.0.1:{}/", mtls.addr.port()),
        };
        let target = Arc::new(Target::new(&url)?);
        let route = if proxied {
            Route::Proxy(proxy.addr)
        } else {
            Route::Direct
        };
        let clients: Vec<Arc<BenchClient>> = pkis
            .iter()
            .map(|pki| {
                let (tls, pooling) = kind.setup(pki);
                Ok(Arc::new(BenchClient::build(ClientKind::Extsvc, route, tls, pooling)?))
            })
            .collect::<anyhow::Result<_>>()?;
        for concurrency in CONCURRENCIES {
            eprintln!("tls_provider {row} at concurrency {concurrency}");
            let mut columns: Vec<Column> = vec![(Vec::new(), Vec::new(), 0, None); clients.len()];
            for (client, column) in clients.iter().zip(&mut columns) {
                let warm = run_window(client, &target, concurrency, method.warmup).await;
                add_errors(column, &warm);
            }
            for _ in 0..method.rounds {
                for (client, column) in clients.iter().zip(&mut columns) {
                    let window = run_window(client, &target, concurrency, method.window).await;
                    column.0.push(window.rps());
                    column.1.push(window.quantile_us(0.50));
                    add_errors(column, &window);
                }
            }
            runs.push(RowRun {
                row,
                concurrency,
                columns,
            });
        }
    }
    Ok(ProviderReport { runs })
}

fn add_errors(column: &mut Column, window: &Window) {
    column.2 += window.errors;
    if column.3.is_none() {
        column.3.clone_from(&window.first_error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target_server::BODY;

    /// Every provider's client completes a cold mutual-TLS request to the aws-lc-rs
    /// server, and the post-quantum one negotiates X25519MLKEM768 with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_provider_reaches_the_server_and_pq_negotiates_mlkem() {
        let material = Material::generate().unwrap();
        let server_provider = Variant::AwsLcRsPostQuantum.provider();
        for variant in Variant::ALL {
            let pki = BenchPki::with_providers(&material, server_provider.clone(), variant.provider()).unwrap();
            let mtls = TargetServer::start(Some(pki.mtls_server.clone())).await.unwrap();
            let target = Target::new(&format!("https://127.0.0.1:{}/", mtls.addr.port())).unwrap();
            let client = BenchClient::build(ClientKind::Extsvc, Route::Direct, &pki.mtls_client, Pooling::Off).unwrap();
            assert_eq!(client.get(&target).await, Ok(BODY.len()), "{variant:?}");

            // The key exchange group the handshake picked, seen from a raw rustls client.
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
            let tcp = tokio::net::TcpStream::connect(mtls.addr).await.unwrap();
            let connector = tokio_rustls::TlsConnector::from(pki.mtls_client.clone());
            let tls = connector.connect(name, tcp).await.unwrap();
            let group = tls.get_ref().1.negotiated_key_exchange_group().map(|g| g.name());
            let expected = match variant {
                Variant::AwsLcRsPostQuantum => rustls::NamedGroup::X25519MLKEM768,
                Variant::Ring | Variant::AwsLcRs => rustls::NamedGroup::X25519,
            };
            assert_eq!(group, Some(expected), "{variant:?}");
        }
    }

    #[test]
    fn json_names_the_default_and_ratios_over_ring() {
        let run = |concurrency| RowRun {
            row: "cold_https",
            concurrency,
            columns: vec![
                (vec![100.0, 100.0], vec![10.0, 10.0], 0, None),
                (vec![110.0, 130.0], vec![9.0, 9.0], 0, None),
                (vec![90.0, 90.0], vec![11.0, 11.0], 2, Some("boom".into())),
            ],
        };
        let report = ProviderReport {
            runs: vec![run(1), run(16)],
        };
        let json = report.to_json();
        assert_eq!(json["default"], extsvc_tls::CRYPTO_PROVIDER);
        assert_eq!(json["cold_https"]["aws_lc_rs_vs_ring_rps"], 1.2);
        assert_eq!(json["cold_https"]["aws_lc_rs_pq_vs_ring_rps"], 0.9);
        assert_eq!(json["cold_https"]["c1"]["ring_rps"], 100.0);
        assert_eq!(json["cold_https"]["aws_lc_rs_pq_first_error"], "boom");
        assert!(json.get("direct_https").is_none());
    }
}
