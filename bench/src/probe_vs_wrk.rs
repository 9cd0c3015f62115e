//! `extsvc probe` against `wrk -t1 -c16`, on the same nginx keep-alive listener (plain
//! HTTP and HTTPS), in interleaved rounds: per round one `wrk` window, then the probe
//! with its default `--threads` and with `--threads 2`, each sending about as many
//! requests as `wrk` did in its window. Skipped (with a note) when `wrk`, nginx or the
//! `extsvc` binary beside this one is missing.
//!
//! Each round also runs the floor under the probe, in this process: bare hyper-util's
//! legacy client (the `hyper_util` column of the load scenarios) and extsvc's
//! `ServiceClient`, each driving the same 16 connections from one current-thread
//! runtime, as the probe does by default. What separates the probe from wrk that is
//! also in bare hyper-util is hyper's and tokio's, not the probe's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use extsvc_tests::nginx::{Nginx, NginxOptions, NginxTls};
use extsvc_tests::pki::TestPki;
use serde_json::{json, Value};

use crate::clients::{BenchClient, ClientKind, Pooling, Route, Target};
use crate::load::median;

/// Connections both tools keep open.
const CONNECTIONS: u64 = 16;

/// One protocol's figures: medians over the rounds.
#[derive(Debug, Clone)]
pub(crate) struct ProbeFigures {
    /// `http` or `https`.
    pub(crate) protocol: &'static str,
    pub(crate) wrk_rps: f64,
    pub(crate) probe_rps: f64,
    pub(crate) probe_threads2_rps: f64,
    /// Median of the per-round ratios probe (default threads) ÷ wrk.
    pub(crate) probe_vs_wrk: f64,
    /// Median of the per-round ratios probe `--threads 2` ÷ wrk.
    pub(crate) probe_threads2_vs_wrk: f64,
    /// Bare hyper-util on one thread, in this process.
    pub(crate) hyper_util_one_thread_rps: f64,
    /// Median of the per-round ratios of bare hyper-util on one thread ÷ wrk.
    pub(crate) hyper_util_one_thread_vs_wrk: f64,
    /// extsvc's `ServiceClient` on one thread, in this process.
    pub(crate) extsvc_one_thread_rps: f64,
    /// Median of the per-round ratios of the probe ÷ extsvc's client on one thread.
    pub(crate) probe_vs_extsvc_one_thread: f64,
}

impl ProbeFigures {
    pub(crate) fn json(&self) -> Value {
        json!({
            "wrk_rps": (self.wrk_rps * 10.0).round() / 10.0,
            "probe_rps": (self.probe_rps * 10.0).round() / 10.0,
            "probe_threads2_rps": (self.probe_threads2_rps * 10.0).round() / 10.0,
            "probe_vs_wrk": (self.probe_vs_wrk * 1000.0).round() / 1000.0,
            "probe_threads2_vs_wrk": (self.probe_threads2_vs_wrk * 1000.0).round() / 1000.0,
            "hyper_util_one_thread_rps": (self.hyper_util_one_thread_rps * 10.0).round() / 10.0,
            "hyper_util_one_thread_vs_wrk": (self.hyper_util_one_thread_vs_wrk * 1000.0).round() / 1000.0,
            "extsvc_one_thread_rps": (self.extsvc_one_thread_rps * 10.0).round() / 10.0,
            "probe_vs_extsvc_one_thread": (self.probe_vs_extsvc_one_thread * 1000.0).round() / 1000.0,
        })
    }
}

pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    let dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    dirs.into_iter()
        .chain(["/usr/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Why the comparison cannot run here, if it cannot.
pub(crate) fn missing() -> Option<String> {
    if on_path("wrk").is_none() {
        return Some("wrk is not installed".into());
    }
    if on_path("nginx").is_none() {
        return Some("nginx is not installed".into());
    }
    match extsvc_binary() {
        Some(_) => None,
        None => Some("no extsvc binary beside extsvc-bench (cargo build --release -p extsvc-cli)".into()),
    }
}

fn extsvc_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join("extsvc");
    path.is_file().then_some(path)
}

/// `Requests/sec:` of wrk's report.
fn wrk_rps(report: &str) -> Option<f64> {
    report
        .lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|n| n.trim().parse().ok())
}

fn run_wrk(url: &str, window: Duration) -> anyhow::Result<f64> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{}s", window.as_secs().max(1)),
            url,
        ])
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    match wrk_rps(&text) {
        Some(rps) if out.status.success() => Ok(rps),
        _ => bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr)),
    }
}

fn run_probe(extsvc: &Path, config: &Path, url: &str, count: u64, threads: Option<u64>) -> anyhow::Result<f64> {
    let mut command = Command::new(extsvc);
    command.args(["probe", "--config"]).arg(config).args([
        "--format",
        "json",
        "--service",
        "oauth",
        url,
        "--count",
        &count.to_string(),
        "--concurrency",
        &CONNECTIONS.to_string(),
    ]);
    if let Some(threads) = threads {
        command.args(["--threads", &threads.to_string()]);
    }
    let out = command.env_clear().output().context("running extsvc probe")?;
    let summary: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("extsvc probe: {}", String::from_utf8_lossy(&out.stderr)))?;
    if !out.status.success() || summary["ok"] != summary["requests"] {
        bail!("extsvc probe failed: {summary}");
    }
    summary["requests_per_sec"]
        .as_f64()
        .context("requests_per_sec in the probe's summary")
}

/// `count` requests from `kind`'s client over [`CONNECTIONS`] connections, all driven by
/// one current-thread runtime (like the probe's default and `wrk -t1`); requests per
/// second.
fn run_in_process(kind: ClientKind, url: &str, tls: &Arc<rustls::ClientConfig>, count: u64) -> anyhow::Result<f64> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let idle = usize::try_from(CONNECTIONS)?;
    let target = Arc::new(Target::new(url)?);
    runtime.block_on(async move {
        let client = Arc::new(BenchClient::build(
            kind,
            Route::Direct,
            tls,
            Pooling::KeepAliveUpTo(idle),
        )?);
        let left = Arc::new(AtomicU64::new(count));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONNECTIONS {
            let (client, target, left) = (client.clone(), target.clone(), left.clone());
            tasks.spawn(async move {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    client
                        .get(&target)
                        .await
                        .map_err(|e| anyhow::anyhow!("{}: {e}", kind.name()))?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(count as f64 / started.elapsed().as_secs_f64())
    })
}

/// nginx with an HTTPS listener (the test PKI's server chain, no client certificate
/// asked) and, with `plain_http`, a plain one.
pub(crate) fn start_nginx(pki: &TestPki, plain_http: bool) -> Nginx {
    Nginx::start(NginxOptions {
        tls: Some(NginxTls {
            cert_chain_path: pki.server_chain_path.clone(),
            key_path: pki.server_key_path.clone(),
            client_ca_path: None,
            verify_client: Default::default(),
            protocols: Default::default(),
        }),
        plain_http,
    })
}

/// Runs the comparison: `rounds` rounds of `window` per tool and protocol.
pub(crate) fn compare(window: Duration, rounds: usize) -> anyhow::Result<Vec<ProbeFigures>> {
    let extsvc_bin = extsvc_binary().context("the extsvc binary")?;
    let pki = TestPki::generate();
    let nginx = start_nginx(&pki, true);
    let config = pki.dir().join("bench-tyk.conf");
    let conf =
        json!({ "external_services": { "oauth": { "mtls": { "enabled": true, "ca_file": pki.ca_cert_path } } } });
    std::fs::write(&config, conf.to_string()).context("writing the probe's configuration")?;
    let tls = Arc::new(
        rustls::ClientConfig::builder_with_provider(crate::bench_pki::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(pki.root_store())
            .with_no_client_auth(),
    );
    let mut figures = Vec::new();
    for (protocol, url) in [
        ("http", format!("http://127.0.0.1:{}/", nginx.http_port())),
        ("https", format!("https://127.0.0.1:{}/", nginx.https_port())),
    ] {
        eprintln!("probe vs wrk -t1 -c{CONNECTIONS}: {protocol}");
        // Warm-up: nginx's first connections and the page cache of both binaries.
        run_wrk(&url, Duration::from_secs(1))?;
        let (mut wrk, mut probe, mut probe2, mut ratio, mut ratio2) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut hyper_util, mut hyper_util_ratio, mut extsvc, mut probe_vs_extsvc) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let w = run_wrk(&url, window)?;
            let count = (w * window.as_secs_f64()).max(1000.0) as u64;
            let p = run_probe(&extsvc_bin, &config, &url, count, None)?;
            let p2 = run_probe(&extsvc_bin, &config, &url, count, Some(2))?;
            let h = run_in_process(ClientKind::HyperUtil, &url, &tls, count)?;
            let e = run_in_process(ClientKind::Extsvc, &url, &tls, count)?;
            hyper_util.push(h);
            hyper_util_ratio.push(h / w);
            extsvc.push(e);
            probe_vs_extsvc.push(p / e);
            wrk.push(w);
            probe.push(p);
            probe2.push(p2);
            ratio.push(p / w);
            ratio2.push(p2 / w);
        }
        figures.push(ProbeFigures {
            protocol,
            wrk_rps: median(&mut wrk),
            probe_rps: median(&mut probe),
            probe_threads2_rps: median(&mut probe2),
            probe_vs_wrk: median(&mut ratio),
            probe_threads2_vs_wrk: median(&mut ratio2),
            hyper_util_one_thread_rps: median(&mut hyper_util),
            hyper_util_one_thread_vs_wrk: median(&mut hyper_util_ratio),
            extsvc_one_thread_rps: median(&mut extsvc),
            probe_vs_extsvc_one_thread: median(&mut probe_vs_extsvc),
        });
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_report_is_parsed() {
        let report = "Running 2s test @ http://127.0.0.1:1/\n  1 threads and 16 connections\n\
                      Requests/sec:  41234.56\nTransfer/sec:      6.10MB\n";
        assert_eq!(wrk_rps(report), Some(41234.56));
        assert_eq!(wrk_rps("nothing"), None);
    }
}
